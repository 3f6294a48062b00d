"""Compute a token prefix that many sequences share once, and only the logits that are used.

Every prompt of a rollout starts with the same chat header and instruction block, often most
of its tokens. The prefix is run once at batch 1; its key/value states are expanded over the
rows (a view, no copy), and each row runs only its own tokens on top of them. Weights must not
change while states are reused (one rollout, or one forward + backward).

Both layouts keep a row's real tokens contiguous, so the model's own attention masks stay exact
for every architecture, sliding-window layers included (a window counts columns, so padding
between a row's tokens would shift it):

- teacher forcing: ``[prefix | own prompt tokens, answer, pad..pad]`` (right padding; the
  positions that predict answer tokens differ per row, so the LM head is run at per-row
  columns, see `lm_head_at`);
- generation: the own tokens are prefilled right-padded like that, then the cache is moved to
  left padding (`left_align`), the layout `generate` continues from, in layers with room for
  the decoded tokens (`ReservedLayer`: no copy of the whole cache per token).

Caches here are `DynamicCache`s of full-length layers: a sliding-window cache layer keeps
only the last columns, which for a right-padded row can be padding instead of its real tokens;
the window itself is applied by the mask.
"""

from __future__ import annotations

import inspect
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

# Per layer: (keys, values), each [batch, kv_heads, length, head_dim].
KVStates = list[tuple[torch.Tensor, torch.Tensor]]


def hf_model(lm: Any) -> Any:
    """The Hugging Face model inside a PEFT wrapper (the model itself otherwise)."""
    return lm.get_base_model() if hasattr(lm, "get_base_model") else lm


def cache_keyword(lm: Any) -> str:
    """The forward argument that takes a cache: `cache` in recent transformers,
    `past_key_values` before."""
    parameters = inspect.signature(hf_model(lm).forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def longest_common_prefix(first: Sequence[int], rows: Sequence[Sequence[int]]) -> int:
    """How many leading tokens every row has in common with `first`."""
    length = len(first)
    for row in rows:
        length = min(length, len(row))
        for index in range(length):
            if row[index] != first[index]:
                length = index
                break
    return length


class _PrefixCache(DynamicCache):
    """A cache that never grows past a prefix, so that a forward recomputed in the backward
    pass (gradient checkpointing) sees exactly what the first pass saw.

    Recording (the prefix's own forward): each layer keeps the first states it is given (a
    recomputation gives them again) and attends over them alone. Reading: each layer attends
    over the kept batch-1 states, expanded to the batch, followed by the states it is given,
    and keeps nothing."""

    def __init__(self, states: KVStates | None = None) -> None:
        super().__init__()
        self.reading = False
        for index, (keys, values) in enumerate(states or []):
            self.update(keys, values, index)
        self.reading = states is not None

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, layer_idx: int,
               *args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.reading:
            if layer_idx >= len(self.layers) or not self.layers[layer_idx].get_seq_length():
                super().update(key_states, value_states, layer_idx, *args, **kwargs)
            return key_states, value_states
        layer = self.layers[layer_idx]
        rows = key_states.shape[0]
        return (torch.cat([layer.keys.expand(rows, -1, -1, -1), key_states], dim=-2),
                torch.cat([layer.values.expand(rows, -1, -1, -1), value_states], dim=-2))


def read_only_cache(states: KVStates) -> DynamicCache:
    """A cache over a prefix's states at batch 1 that any batch can attend to, unchanged by the
    forwards that read it."""
    return _PrefixCache(states)


def growing_cache(states: KVStates, rows: int, length: int) -> DynamicCache:
    """A DynamicCache holding the first `length` columns of a batch-1 prefix's states for
    `rows` rows; later forwards append to it (generation)."""
    cache = DynamicCache()
    if length:
        for index, (keys, values) in enumerate(states):
            cache.update(keys[:, :, :length].expand(rows, -1, -1, -1),
                         values[:, :, :length].expand(rows, -1, -1, -1), index)
    return cache


def cache_states(cache: Any) -> KVStates:
    return [(layer.keys, layer.values) for layer in cache.layers]


class _Float32Head(torch.autograd.Function):
    """hidden @ weight.T (+ bias) computed in fp32 from low-precision weights. The backward pass
    casts the weight again instead of keeping an fp32 copy of it alive since the forward (about
    2.4 GB for Gemma 2 2B's vocabulary)."""

    @staticmethod
    def forward(ctx: Any, hidden: torch.Tensor, weight: torch.Tensor,
                bias: torch.Tensor | None) -> torch.Tensor:
        ctx.save_for_backward(hidden, weight)
        ctx.bias_dtype = None if bias is None else bias.dtype
        logits = hidden.float() @ weight.float().t()
        return logits if bias is None else logits + bias.float()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        hidden, weight = ctx.saved_tensors
        grad = grad.float()
        flat = grad.reshape(-1, grad.shape[-1])
        grad_hidden = (grad @ weight.float()).to(hidden.dtype) \
            if ctx.needs_input_grad[0] else None
        grad_weight = (flat.t() @ hidden.reshape(-1, hidden.shape[-1]).float()).to(weight.dtype) \
            if ctx.needs_input_grad[1] else None
        grad_bias = flat.sum(0).to(ctx.bias_dtype) if ctx.needs_input_grad[2] else None
        return grad_hidden, grad_weight, grad_bias


@contextmanager
def lm_head_at(lm: Any, columns: torch.Tensor) -> Iterator[dict[str, torch.Tensor]]:
    """Within the context, the LM head of `lm` (its get_output_embeddings()) computes logits only
    at `columns` [N, L] of each row, so the logits of a forward are [N, L, vocab] (L may be 0:
    no logits at all). `logits_to_keep` cannot say this: it keeps the same columns in every
    row. The yielded dict receives the head's full input under "hidden": the last hidden
    states [N, T, hidden] after the final norm. Anything the model's forward does after the
    head (e.g. Gemma's logit soft-capping) still applies.

    A plain linear head with bf16/fp16 weights computes its logits in fp32 (so does what
    follows it, Gemma's soft-cap included): one bf16 step is 0.06-0.12 at logits of 8-32,
    noise that the PPO ratio exp(logp - old_logp) would see against a clip of 0.2."""
    head = lm.get_output_embeddings()
    if head is None:
        raise ValueError(f"{type(lm).__name__} has no output embeddings (LM head) to restrict")
    seen: dict[str, torch.Tensor] = {}

    def gather(module: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
        hidden = args[0]
        if hidden.shape[0] != columns.shape[0]:
            raise ValueError(f"the LM head got {hidden.shape[0]} rows, expected "
                             f"{columns.shape[0]}")
        seen["hidden"] = hidden
        index = columns.to(hidden.device)[..., None].expand(-1, -1, hidden.shape[-1])
        return (torch.gather(hidden, 1, index), *args[1:])

    def float32_logits(hidden: torch.Tensor) -> torch.Tensor:
        return _Float32Head.apply(hidden, head.weight, head.bias)

    # Only a plain nn.Linear: a wrapped head (a LoRA layer) computes its own way.
    low_precision = type(head) is torch.nn.Linear and head.weight.dtype in (torch.bfloat16,
                                                                            torch.float16)
    handle = head.register_forward_pre_hook(gather)
    if low_precision:
        head.forward = float32_logits  # the module's hooks (ZeRO-3's gathering) still run
    try:
        yield seen
    finally:
        handle.remove()
        if low_precision:
            del head.forward


def prefix_states(lm: Any, prefix_ids: torch.Tensor) -> KVStates:
    """Key/value states of `prefix_ids` [1, K] (K >= 1), with a graph to the weights when
    gradients are enabled. No LM head is computed."""
    cache = _PrefixCache()
    no_columns = torch.zeros(1, 0, dtype=torch.long, device=prefix_ids.device)
    positions = torch.arange(prefix_ids.shape[1], device=prefix_ids.device)[None]
    with lm_head_at(lm, no_columns):
        lm(input_ids=prefix_ids, attention_mask=torch.ones_like(prefix_ids),
           position_ids=positions, use_cache=False, **{cache_keyword(lm): cache})
    return cache_states(cache)


class ReservedLayer(DynamicLayer):
    """A full-length cache layer with room for more columns: each forward writes its states
    into the room in place, where a DynamicLayer concatenates, copying the whole cache at
    every decoded token. `keys` and `values` are views of the filled columns."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, room: int) -> None:
        super().__init__()
        self.is_initialized = True
        self.device = keys.device
        self._buffers = [self._with_room(keys, room), self._with_room(values, room)]
        self._filled = keys.shape[-2]
        self._view()

    @staticmethod
    def _with_room(states: torch.Tensor, room: int) -> torch.Tensor:
        rows, heads, length, dim = states.shape
        buffer = states.new_empty(rows, heads, length + room, dim)
        buffer[:, :, :length] = states
        return buffer

    def _view(self) -> None:
        self.keys, self.values = (b[:, :, :self._filled] for b in self._buffers)

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any,
               **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        end = self._filled + key_states.shape[-2]
        if end > self._buffers[0].shape[-2]:  # out of room: twice what it will hold
            self._buffers = [self._with_room(b[:, :, :self._filled], end)
                             for b in self._buffers]
        for buffer, states in zip(self._buffers, (key_states, value_states)):
            buffer[:, :, self._filled:end] = states
        self._filled = end
        self._view()
        return self.keys, self.values


def left_align(cache: Any, filled: torch.Tensor, room: int = 0) -> None:
    """Moves each row's states to the right end of the cache, in place: row r holds its real
    states in its first filled[r] columns (right padding) and afterwards in its last ones
    (left padding), the layout `generate` continues from. The columns before them repeat a
    state; the attention mask hides them. The layers become ReservedLayers with `room` more
    columns (the tokens decoding will add)."""
    length = cache.get_seq_length()
    columns = torch.arange(length, device=filled.device)
    source = (columns[None] - (length - filled[:, None])).clamp(min=0)       # [B, C]
    for position, layer in enumerate(cache.layers):
        index = source.to(layer.keys.device)[:, None, :, None]
        keys = torch.gather(layer.keys, 2, index.expand(-1, layer.keys.shape[1], -1,
                                                        layer.keys.shape[3]))
        values = torch.gather(layer.values, 2, index.expand(-1, layer.values.shape[1], -1,
                                                            layer.values.shape[3]))
        cache.layers[position] = ReservedLayer(keys, values, room)
