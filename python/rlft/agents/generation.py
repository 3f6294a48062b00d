"""Batched text generation behind one small interface (``TokenGenerator``: prompt token ids
in; sampled token ids, their text and, where the engine gives them, their log-probs out), with
Hugging Face ``generate`` as rlft's engine (``HFGenerator``). The LLM agent and so the
trainer's rollouts only see the interface, so a serving engine (vLLM, SGLang) can stand in on
GPU nodes. Keeps the exact prompt and sampled token ids so that training never re-tokenises.

Prompts that start with a shared prefix (the chat header and instructions of every prompt of a
rollout) are encoded as the prefix's tokens followed by their own (`PromptEncoder`), and the
prefix's key/value states are computed once (`SharedPrefix`) and reused by every generate()
call until the weights change, so that each call prefills only each row's own tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Protocol, Sequence

import torch

from rlft.models.shared_prefix import (KVStates, cache_keyword, growing_cache, hf_model,
                                       left_align, lm_head_at, longest_common_prefix,
                                       prefix_states)


@dataclass
class SamplingConfig:
    """How the policy samples its answer at each env step."""

    temperature: float = field(default=0.0, metadata={
        "help": "0 = greedy decoding (the paper's evaluation setting); 1.0 in training."})
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling mass (paper: 1.0)."})
    max_new_tokens: int = field(default=256, metadata={
        "help": "Generation budget G per step (paper: 256; 16 without CoT)."})
    batch_size: int = field(default=32, metadata={
        "help": "Prompts per generate() call; larger batches are faster until memory runs out."})
    max_prompt_tokens: int = field(default=1792, metadata={
        "help": "Prompts longer than this keep their last tokens (paper: 1792 input tokens)."})

    def __post_init__(self) -> None:
        if not self.temperature >= 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        for name in ("max_new_tokens", "batch_size", "max_prompt_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


@dataclass
class Generations:
    """One answer per prompt. token_ids exclude the prompt and stop after the first EOS;
    prompt_ids are the prompts as given."""

    texts: list[str]
    prompt_ids: list[list[int]]
    token_ids: list[list[int]]
    logprobs: Optional[list[list[float]]] = None
    """Per sampled token, its log-prob under the sampling policy (temperature-scaled, before
    top-p), from engines that give them. rlft's trainer recomputes them teacher-forced and
    logs the gap, which tells whether the PPO ratio can be trusted."""

    @property
    def num_new_tokens(self) -> int:
        return sum(len(ids) for ids in self.token_ids)


class TokenGenerator(Protocol):
    """What the LLM agent needs from a generation engine."""

    def start_rollout(self, prefix_ids: Sequence[int]) -> None:
        """A rollout begins: the weights stay fixed until the next call, and most prompts
        start with `prefix_ids` (an engine may cache their states)."""

    def generate(self, prompts: Sequence[Sequence[int]], sampling: "SamplingConfig",
                 seed: int | None) -> Generations:
        """One answer per prompt (token ids of chat-formatted text)."""


class HFGenerator:
    """Hugging Face ``model.generate`` with the rollout's shared prefix run once
    (``SharedPrefix``). synced_gpus: ZeRO-3 on several ranks without gathered weights, where
    every rank must make the same calls (see ``generate``)."""

    def __init__(self, model: Any, tokenizer: Any, synced_gpus: bool = False) -> None:
        self.model, self.tokenizer, self.synced_gpus = model, tokenizer, synced_gpus
        self.prefix = SharedPrefix([])

    def start_rollout(self, prefix_ids: Sequence[int]) -> None:
        self.prefix = SharedPrefix(prefix_ids)

    def generate(self, prompts: Sequence[Sequence[int]], sampling: "SamplingConfig",
                 seed: int | None) -> Generations:
        return generate(self.model, self.tokenizer, prompts, sampling, seed=seed,
                        synced_gpus=self.synced_gpus, prefix=self.prefix)


def _stop_ids(tokenizer: Any, model: Any) -> set[int]:
    ids: set[int] = set()
    for source in (getattr(model, "generation_config", None), tokenizer):
        eos = getattr(source, "eos_token_id", None)
        if eos is None:
            continue
        ids.update(eos if isinstance(eos, (list, tuple)) else [eos])
    return ids


class PromptEncoder:
    """Token ids of prompts that begin with one shared text.

    The shared text is tokenised once and each prompt's remainder on its own, so that every
    prompt starts with the same ids whatever follows (tokenising the joined text can merge
    tokens across the boundary differently from row to row). A prompt that does not begin
    with the shared text is tokenised whole. Prompts longer than max_prompt_tokens keep their
    last tokens (a long history loses its oldest lines, not the question)."""

    def __init__(self, tokenizer: Any, shared_text: str, max_prompt_tokens: int) -> None:
        self.tokenizer = tokenizer
        self.shared_text = shared_text
        self.max_prompt_tokens = max_prompt_tokens
        self.prefix_ids: list[int] = self._tokens(shared_text) if shared_text else []

    def _tokens(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def encode(self, text: str) -> list[int]:
        if self.shared_text and text.startswith(self.shared_text):
            ids = self.prefix_ids + self._tokens(text[len(self.shared_text):])
        else:
            ids = self._tokens(text)
        return ids[-self.max_prompt_tokens:]


class SharedPrefix:
    """A token prefix that many prompts start with, and its key/value states at batch 1 under
    one model, computed by the first generate() call that gets it. Valid while the model's
    weights stay the same (one rollout): make a new one after an update."""

    def __init__(self, ids: Sequence[int]) -> None:
        self.ids = list(ids)
        self.states: KVStates | None = None

    def states_for(self, model: Any, device: torch.device) -> KVStates:
        if self.states is None:
            self.states = prefix_states(model, torch.tensor([self.ids], device=device)) \
                if self.ids else []
        return self.states


def _most_over_ranks(count: int, device: torch.device) -> int:
    flag = torch.tensor([count], device=device)
    torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
    return int(flag.item())


@torch.no_grad()
def generate(model: Any, tokenizer: Any, prompts: Sequence[Sequence[int]],
             sampling: SamplingConfig, seed: int | None = None, synced_gpus: bool = False,
             prefix: SharedPrefix | None = None) -> Generations:
    """Generates an answer for every prompt (token ids of chat-formatted text).

    Prompts go in chunks of sampling.batch_size. Each chunk reuses as much of `prefix` as all
    its prompts start with (its states computed once), so only the rest of each prompt is
    prefilled; the answers are those of plain `model.generate` on the whole prompts. With
    temperature > 0 the draws come from torch's generator seeded with `seed`.

    synced_gpus (ZeRO-3 on several ranks, where every forward gathers shards from all ranks):
    every rank runs as many chunks as the rank with the most (extra ones repeat the last and
    are dropped), and keeps stepping until every rank is done; the prefix states are computed
    at the first call on every rank. Needs at least one prompt then.
    """
    if tokenizer.pad_token_id is None:
        raise ValueError("the tokenizer has no pad token; load models through rlft.models")
    if synced_gpus and not prompts:
        raise ValueError("synced_gpus needs at least one prompt on every rank")
    if any(not p for p in prompts):
        raise ValueError("every prompt needs at least one token")
    stop_ids = _stop_ids(tokenizer, model)
    device = next(model.parameters()).device
    prefix = prefix or SharedPrefix([])
    states = prefix.states_for(model, device)
    if seed is not None:
        torch.manual_seed(seed)
    chunks = [list(prompts[start:start + sampling.batch_size])
              for start in range(0, len(prompts), sampling.batch_size)]
    count = len(chunks)
    if synced_gpus:
        chunks += chunks[-1:] * (_most_over_ranks(count, device) - count)
    texts: list[str] = []
    all_token_ids: list[list[int]] = []
    all_logprobs: list[list[float]] | None = []
    for index, chunk in enumerate(chunks):
        new_ids, logprobs = _generate_chunk(model, tokenizer.pad_token_id, chunk, sampling,
                                            prefix.ids, states, synced_gpus, device)
        if index >= count:
            continue
        if logprobs is None:
            all_logprobs = None
        for row, ids in enumerate(new_ids):
            for position, token in enumerate(ids):
                if token in stop_ids:
                    ids = ids[:position + 1]
                    break
            all_token_ids.append(ids)
            if all_logprobs is not None and logprobs is not None:
                all_logprobs.append(logprobs[row][:len(ids)])
            texts.append(tokenizer.decode(ids, skip_special_tokens=True))
    return Generations(texts=texts, prompt_ids=[list(p) for p in prompts],
                       token_ids=all_token_ids, logprobs=all_logprobs)


class _SampledLogprobs:
    """A forward hook that records, during `generate`, the log-prob of each sampled token
    under the distribution it was drawn from (the logits / temperature, before top-p): each
    forward's last-column distribution is kept until the next forward feeds the token drawn
    from it. Only one [rows, vocab] distribution is held at a time."""

    def __init__(self, temperature: float) -> None:
        self.temperature = temperature if temperature > 0 else 1.0
        self.previous: torch.Tensor | None = None
        self.values: list[torch.Tensor] = []

    def __call__(self, module: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                 output: Any) -> None:
        fed = kwargs.get("input_ids")
        if self.previous is not None and fed is not None:
            self.values.append(self.previous.gather(-1, fed[:, -1:]).squeeze(-1))
        logits = output.logits[:, -1].float() / self.temperature
        self.previous = torch.log_softmax(logits, dim=-1)

    def of(self, new_ids: torch.Tensor) -> list[list[float]] | None:
        """[rows][new tokens] log-probs of `new_ids`, or None if the forwards were not seen as
        expected. The last token was never fed back (unless lock-step ranks kept stepping,
        whose extra forwards are dropped)."""
        steps = new_ids.shape[1]
        if len(self.values) < steps and self.previous is not None:
            self.values.append(self.previous.gather(-1, new_ids[:, -1:]).squeeze(-1))
        if not steps or len(self.values) < steps:
            return None
        return torch.stack(self.values[:steps], dim=1).tolist()


def _generate_chunk(model: Any, pad_id: int, prompts: list[list[int]], sampling: SamplingConfig,
                    prefix_ids: list[int], states: KVStates, synced_gpus: bool,
                    device: torch.device) -> tuple[list[list[int]], list[list[float]] | None]:
    """New token ids [B][max_new_tokens] (not cut at EOS) for one chunk of prompts, and their
    log-probs under the sampler's distribution.

    The first `shared` tokens come from the prefix's states; the rest of each prompt but its
    last token is prefilled right-padded on top of them; the cache is then moved to left
    padding and `model.generate` feeds each prompt's last token and samples on."""
    rows = len(prompts)
    # Keep two own tokens per row: one to prefill (at least a padding column) and one for
    # generate() to feed.
    shared = max(0, min(longest_common_prefix(prefix_ids, prompts),
                        min(len(p) for p in prompts) - 2))
    cache = growing_cache(states, rows, shared)
    own = [p[shared:-1] for p in prompts]
    width = max(1, max(len(o) for o in own))
    input_ids = torch.full((rows, width), pad_id, dtype=torch.long)
    attention = torch.zeros(rows, shared + width, dtype=torch.long)
    attention[:, :shared] = 1
    for row, tokens in enumerate(own):
        input_ids[row, :len(tokens)] = torch.tensor(tokens, dtype=torch.long)
        attention[row, shared:shared + len(tokens)] = 1
    positions = torch.arange(shared, shared + width).expand(rows, -1)
    with lm_head_at(model, torch.zeros(rows, 0, dtype=torch.long)):
        model(input_ids=input_ids.to(device), attention_mask=attention.to(device),
              position_ids=positions.to(device), use_cache=True,
              **{cache_keyword(model): cache})
    filled = torch.tensor([shared + len(o) for o in own], device=device)
    left_align(cache, filled, room=sampling.max_new_tokens)
    # The whole prompts, left-padded to the cache's length plus the one token still to feed.
    total = shared + width + 1
    full = torch.full((rows, total), pad_id, dtype=torch.long)
    mask = torch.zeros(rows, total, dtype=torch.long)
    for row, prompt in enumerate(prompts):
        full[row, total - len(prompt):] = torch.tensor(prompt, dtype=torch.long)
        mask[row, total - len(prompt):] = 1
    do_sample = sampling.temperature > 0
    recorder = _SampledLogprobs(sampling.temperature)
    # On the Hugging Face model itself: a PEFT wrapper's generate calls it, not its own forward.
    handle = hf_model(model).register_forward_hook(recorder, with_kwargs=True)
    try:
        output = model.generate(
            input_ids=full.to(device), attention_mask=mask.to(device),
            max_new_tokens=sampling.max_new_tokens, do_sample=do_sample,
            temperature=sampling.temperature if do_sample else None,
            top_p=sampling.top_p if do_sample else None, top_k=0 if do_sample else None,
            pad_token_id=pad_id, synced_gpus=synced_gpus, **{cache_keyword(model): cache})
    finally:
        handle.remove()
    new_ids = output[:, total:]
    return new_ids.tolist(), recorder.of(new_ids)
