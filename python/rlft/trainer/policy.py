"""The trained module and its teacher-forced log-probs.

A transition is one env step of one row: the exact prompt token ids the policy saw and the
exact answer token ids it sampled (never re-tokenised text). The prompts of a batch share a
long prefix (chat header and instructions); a batch holds it once, and each row only its own
tokens after it: ``prefix | [own prompt tokens, answer, pad..pad]``. The prefix runs once at
batch 1 and every row attends to its key/value states (rlft.models.shared_prefix), so each
forward computes the prefix once instead of once per row, and the LM head runs only at the
positions that predict answer tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import nn

from rlft.models.shared_prefix import (cache_keyword, hf_model, lm_head_at,
                                       longest_common_prefix, prefix_states, read_only_cache)


class PolicyWithValue(nn.Module):
    """A causal LM plus an optional linear state-value head on the last hidden state of the
    prompt's final token (the paper's value head for variable-length episodes)."""

    def __init__(self, lm: nn.Module, value_head: bool) -> None:
        super().__init__()
        self.lm = lm
        hidden = lm.config.hidden_size
        self.value_head = nn.Linear(hidden, 1) if value_head else None
        if self.value_head is not None:
            nn.init.zeros_(self.value_head.weight)
            nn.init.zeros_(self.value_head.bias)

    def forward(self, prefix_ids: torch.Tensor, input_ids: torch.Tensor,
                attention_mask: torch.Tensor, logit_columns: torch.Tensor,
                value_columns: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits [N, L, vocab] at `logit_columns` [N, L] of `input_ids` [N, W] (the rows' own
        tokens, right-padded, after the shared `prefix_ids` [1, K], K >= 0) and, with a value
        head, state values [N] read at `value_columns` [N]."""
        rows, width = input_ids.shape
        prefix = prefix_ids.shape[1]
        kwargs: dict[str, Any] = {}
        if prefix:
            states = prefix_states(self.lm, prefix_ids)
            kwargs[cache_keyword(self.lm)] = read_only_cache(states)
            attention_mask = torch.cat([attention_mask.new_ones(rows, prefix), attention_mask],
                                       dim=1)
        positions = torch.arange(prefix, prefix + width, device=input_ids.device)
        with lm_head_at(self.lm, logit_columns) as seen:
            logits = self.lm(input_ids=input_ids, attention_mask=attention_mask,
                             position_ids=positions.expand(rows, -1), use_cache=False,
                             **kwargs).logits
        if self.value_head is None:
            return logits, None
        hidden = seen["hidden"][torch.arange(rows, device=input_ids.device), value_columns]
        return logits, self.value_head(hidden.to(self.value_head.weight.dtype)).squeeze(-1)


def enable_gradient_checkpointing(lm: nn.Module) -> None:
    """Recompute each transformer layer's activations in the backward pass instead of keeping
    them. The layers keep the shared prefix's cache: it is read, never written, by the pass
    that gets gradients, and written once by the prefix's own forward, so a layer recomputed
    in the backward pass sees what it saw the first time (rlft.models.shared_prefix)."""
    from transformers.modeling_layers import GradientCheckpointingLayer

    model = hf_model(lm)
    if hasattr(model, "activation_checkpointing_enable"):  # the name since transformers 5.2x
        model.activation_checkpointing_enable({"use_reentrant": False})
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    for module in lm.modules():
        if isinstance(module, GradientCheckpointingLayer):
            module._can_checkpoint_with_cache = True


@dataclass
class TokenBatch:
    """N transitions: the prompt prefix they all share, once, and each row's own tokens.

    prefix_ids [1, K] (K may be 0); input_ids / attention_mask [N, W]: the rest of the row's
    prompt, then its answer, then padding; answer_ids / answer_mask [N, L]; logit_columns
    [N, L]: the column of input_ids whose logits predict each answer token; value_columns [N]:
    the column of the prompt's last token."""

    prefix_ids: torch.Tensor
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    answer_ids: torch.Tensor
    answer_mask: torch.Tensor
    logit_columns: torch.Tensor
    value_columns: torch.Tensor

    @property
    def computed_tokens(self) -> int:
        """Real tokens a forward runs through the model: the prefix once, then each row's own."""
        return self.prefix_ids.shape[1] + int(self.attention_mask.sum())


def shared_prefix_length(prompts: Sequence[Sequence[int]]) -> int:
    """The longest prefix all prompts share, leaving each prompt at least one own token (the
    one whose logits predict the answer's first token)."""
    return min(longest_common_prefix(prompts[0], prompts), min(len(p) for p in prompts) - 1)


def collate(prompts: Sequence[Sequence[int]], answers: Sequence[Sequence[int]], pad_id: int,
            device: torch.device, prefix_length: int | None = None) -> TokenBatch:
    """Batches transitions around their shared prefix: prefix_length tokens of it (None: all
    of it, see shared_prefix_length; 0: none, every row whole)."""
    if len(prompts) != len(answers) or not prompts:
        raise ValueError("collate needs one answer per prompt and at least one transition")
    if min(len(p) for p in prompts) < 1:
        raise ValueError("every prompt needs at least one token")
    shared = shared_prefix_length(prompts)
    prefix = shared if prefix_length is None else prefix_length
    if not 0 <= prefix <= shared:
        raise ValueError(f"prefix_length {prefix} is outside [0, {shared}] for these prompts")
    own = [list(p[prefix:]) for p in prompts]
    width = max(len(o) + len(a) for o, a in zip(own, answers))
    length = max(1, max(len(a) for a in answers))
    n = len(prompts)
    input_ids = torch.full((n, width), pad_id, dtype=torch.long)
    attention = torch.zeros_like(input_ids)
    answer_ids = torch.full((n, length), pad_id, dtype=torch.long)
    answer_mask = torch.zeros(n, length, dtype=torch.long)
    logit_columns = torch.zeros(n, length, dtype=torch.long)
    for row, (tokens, answer) in enumerate(zip(own, answers)):
        input_ids[row, :len(tokens) + len(answer)] = torch.tensor(tokens + list(answer))
        attention[row, :len(tokens) + len(answer)] = 1
        answer_ids[row, :len(answer)] = torch.tensor(list(answer), dtype=torch.long)
        answer_mask[row, :len(answer)] = 1
        # Token j of the answer is predicted at the column before it; padding reads column 0.
        logit_columns[row, :len(answer)] = torch.arange(len(tokens) - 1,
                                                        len(tokens) + len(answer) - 1)
    value_columns = torch.tensor([len(tokens) - 1 for tokens in own], dtype=torch.long)
    prefix_ids = torch.tensor([list(prompts[0][:prefix])], dtype=torch.long).reshape(1, prefix)
    return TokenBatch(prefix_ids.to(device), input_ids.to(device), attention.to(device),
                      answer_ids.to(device), answer_mask.to(device), logit_columns.to(device),
                      value_columns.to(device))


def answer_logprobs(module: Any, batch: TokenBatch, temperature: float = 1.0,
                    with_entropy: bool = False
                    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Log-probs [N, L] of the answer tokens under `module` (a PolicyWithValue or a DeepSpeed
    engine around one), the per-token entropy [N, L] if asked (for logging: it has no
    gradient, so no [N, L, vocab] graph is kept for it), and state values [N] if the module
    has a value head."""
    logits, values = module(batch.prefix_ids, batch.input_ids, batch.attention_mask,
                            batch.logit_columns, batch.value_columns)
    expected = tuple(batch.answer_ids.shape)
    if tuple(logits.shape[:2]) != expected:
        raise ValueError(
            f"the model returned logits of shape {tuple(logits.shape)}, expected {expected} "
            "(rows x answer positions): its forward must compute logits with the module that "
            "get_output_embeddings() returns, which rlft restricts to the answer positions")
    logp_all = torch.log_softmax(logits.float() / temperature, dim=-1)
    logp = logp_all.gather(-1, batch.answer_ids.unsqueeze(-1)).squeeze(-1)
    entropy = None
    if with_entropy:
        with torch.no_grad():
            entropy = -(logp_all.exp() * logp_all).sum(-1)
    return logp, entropy, values.float() if values is not None else None
