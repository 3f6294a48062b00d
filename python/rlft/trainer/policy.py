"""The trained module and its teacher-forced log-probs.

A transition is one env step of one row: the exact prompt token ids the policy saw and the
exact answer token ids it sampled (never re-tokenised text). Batches put prompts left-padded
and answers right-padded side by side: ``[pad..pad prompt | answer pad..pad]``, so that every
answer starts at the same column P and its tokens are predicted by logits at P-1 .. P+L-2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import nn


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

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                position_ids: torch.Tensor, logits_to_keep: int = 0
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits of the last `logits_to_keep` positions (0: all) and, with a value head, the
        last layer's hidden states."""
        out = self.lm(input_ids=input_ids, attention_mask=attention_mask,
                      position_ids=position_ids, output_hidden_states=self.value_head is not None,
                      use_cache=False, logits_to_keep=logits_to_keep)
        if self.value_head is None:
            return out.logits, None
        return out.logits, out.hidden_states[-1]


@dataclass
class TokenBatch:
    """Padded tensors of N transitions: input [N, P + L]; answer-token views [N, L]."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    position_ids: torch.Tensor
    answer_ids: torch.Tensor      # [N, L]
    answer_mask: torch.Tensor     # [N, L] 1 on real answer tokens
    prompt_length: int            # P


def collate(prompts: Sequence[Sequence[int]], answers: Sequence[Sequence[int]], pad_id: int,
            device: torch.device) -> TokenBatch:
    if len(prompts) != len(answers) or not prompts:
        raise ValueError("collate needs one answer per prompt and at least one transition")
    prompt_length = max(len(p) for p in prompts)
    answer_length = max(1, max(len(a) for a in answers))
    n = len(prompts)
    input_ids = torch.full((n, prompt_length + answer_length), pad_id, dtype=torch.long)
    attention = torch.zeros_like(input_ids)
    answer_mask = torch.zeros(n, answer_length, dtype=torch.long)
    for row, (prompt, answer) in enumerate(zip(prompts, answers)):
        start = prompt_length - len(prompt)
        input_ids[row, start:prompt_length] = torch.tensor(prompt, dtype=torch.long)
        input_ids[row, prompt_length:prompt_length + len(answer)] = torch.tensor(answer,
                                                                                  dtype=torch.long)
        attention[row, start:prompt_length + len(answer)] = 1
        answer_mask[row, :len(answer)] = 1
    # Positions count real tokens only, as generate() does for left-padded prompts.
    position_ids = (attention.cumsum(dim=1) - 1).clamp(min=0)
    return TokenBatch(input_ids.to(device), attention.to(device), position_ids.to(device),
                      input_ids[:, prompt_length:].to(device), answer_mask.to(device),
                      prompt_length)


def answer_logprobs(module: Any, batch: TokenBatch, temperature: float = 1.0,
                    with_entropy: bool = False
                    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Log-probs [N, L] of the answer tokens under `module` (a PolicyWithValue or a DeepSpeed
    engine around one), the per-token entropy [N, L] if asked, and state values [N] if the
    module has a value head."""
    length = batch.answer_ids.shape[1]
    # Only the positions that predict answer tokens need the (vocabulary-wide) LM head.
    logits, hidden = module(batch.input_ids, batch.attention_mask, batch.position_ids,
                            logits_to_keep=length + 1)
    start = batch.prompt_length - 1
    answer_logits = logits[:, :length].float() / temperature
    logp_all = torch.log_softmax(answer_logits, dim=-1)
    logp = logp_all.gather(-1, batch.answer_ids.unsqueeze(-1)).squeeze(-1)
    entropy = -(logp_all.exp() * logp_all).sum(-1) if with_entropy else None
    values = None
    if hidden is not None:
        head = module.value_head if hasattr(module, "value_head") else module.module.value_head
        values = head(hidden[:, start].to(head.weight.dtype)).squeeze(-1).float()
    return logp, entropy, values
