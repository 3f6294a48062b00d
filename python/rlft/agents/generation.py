"""Batched text generation with a Hugging Face causal LM, shared by the LLM agent and the
trainer's rollouts. Keeps the exact sampled token ids so that training never re-tokenises."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import torch


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
    """One answer per prompt. token_ids exclude the prompt and stop after the first EOS."""

    texts: list[str]
    prompt_ids: list[list[int]]
    token_ids: list[list[int]]

    @property
    def num_new_tokens(self) -> int:
        return sum(len(ids) for ids in self.token_ids)


def _stop_ids(tokenizer: Any, model: Any) -> set[int]:
    ids: set[int] = set()
    for source in (getattr(model, "generation_config", None), tokenizer):
        eos = getattr(source, "eos_token_id", None)
        if eos is None:
            continue
        ids.update(eos if isinstance(eos, (list, tuple)) else [eos])
    return ids


@torch.no_grad()
def generate(model: Any, tokenizer: Any, prompts: Sequence[str], sampling: SamplingConfig,
             seed: int | None = None, synced_gpus: bool = False) -> Generations:
    """Generates an answer for every prompt (already chat-formatted text).

    Prompts go through the tokenizer with left padding, in chunks of sampling.batch_size.
    With temperature > 0 the draws come from torch's generator seeded with `seed`.
    synced_gpus keeps ZeRO-3 ranks stepping together until every rank is done (a rank that
    stopped early would otherwise leave the others waiting for its parameter shards).
    """
    if tokenizer.pad_token_id is None:
        raise ValueError("the tokenizer has no pad token; load models through rlft.models")
    tokenizer.padding_side = "left"
    tokenizer.truncation_side = "left"  # a long history loses its oldest lines, not the question
    stop_ids = _stop_ids(tokenizer, model)
    device = next(model.parameters()).device
    if seed is not None:
        torch.manual_seed(seed)
    texts: list[str] = []
    all_prompt_ids: list[list[int]] = []
    all_token_ids: list[list[int]] = []
    for start in range(0, len(prompts), sampling.batch_size):
        chunk = list(prompts[start:start + sampling.batch_size])
        encoded = tokenizer(chunk, return_tensors="pt", padding=True, truncation=True,
                            max_length=sampling.max_prompt_tokens, add_special_tokens=False)
        encoded = {key: value.to(device) for key, value in encoded.items()}
        do_sample = sampling.temperature > 0
        output = model.generate(
            **encoded,
            max_new_tokens=sampling.max_new_tokens,
            do_sample=do_sample,
            temperature=sampling.temperature if do_sample else None,
            top_p=sampling.top_p if do_sample else None,
            top_k=0 if do_sample else None,
            pad_token_id=tokenizer.pad_token_id,
            synced_gpus=synced_gpus,
        )
        prompt_length = encoded["input_ids"].shape[1]
        for row in range(len(chunk)):
            mask = encoded["attention_mask"][row].bool()
            all_prompt_ids.append(encoded["input_ids"][row][mask].tolist())
            new_ids = output[row, prompt_length:].tolist()
            for position, token in enumerate(new_ids):
                if token in stop_ids:
                    new_ids = new_ids[:position + 1]
                    break
            all_token_ids.append(new_ids)
            texts.append(tokenizer.decode(new_ids, skip_special_tokens=True))
    return Generations(texts=texts, prompt_ids=all_prompt_ids, token_ids=all_token_ids)
