"""Warm start: a few supervised steps, before RL, on an expert's answers for the prompts of
the env states it reaches (played through the one episode loop):

- ``format``: 'ACTION=<uniformly random label>'. A random-init model learns the output format
  and none of the skill, so any decision-making gained afterwards is RL's own.
- ``greedy`` (bandits): the greedy player's counts-and-means rationale, exploring an untried
  arm at rate ``epsilon``: a starting policy that over-exploits, the paper's failure mode."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch

from rlft.agents import make_agent, run_episodes
from rlft.agents.generation import PromptEncoder
from rlft.agents.llm_agent import make_prompter
from rlft.sft.experts import AnsweringAgent, GreedyExpert, TextExpert
from rlft.sft.generate import derived_seed
from rlft.text.chat import format_chat, shared_chat_prefix
from rlft.text.templates import ANSWER_PREFIX
from rlft.trainer.checkpoint import save_model_directory
from rlft.trainer.config import CHOICES
from rlft.trainer.policy import PolicyWithValue, answer_logprobs, collate


EXPERTS = CHOICES["warm_start.expert"]


def make_expert(name: str, env: Any, prompt_config: Any, epsilon: float = 0.0) -> TextExpert:
    """The warm start's expert (one of EXPERTS)."""
    if name == "format":
        return AnsweringAgent(env, prompt_config, make_agent("random"))
    if name == "greedy":
        return GreedyExpert(env, prompt_config, epsilon)
    raise ValueError(f"warm-start expert must be one of {list(EXPERTS)}, got {name!r}")


def expert_examples(env: Any, tokenizer: Any, prompt_config: Any, expert: TextExpert,
                    num_examples: int, seed: int, max_prompt_tokens: int
                    ) -> tuple[list[list[int]], list[list[int]]]:
    """(prompt ids, answer ids) of the first `num_examples` steps `expert` plays through the
    one episode loop, round after round (round r with seed derived_seed(seed, r)). Prompts are
    encoded as the LLM agent encodes them (shared prefix, then each row's own tokens; under
    the answer-prefix protocol ending with 'ACTION=', the answer then being the label). They
    are returned in a seeded random order."""
    prompter = make_prompter(env, prompt_config, env.num_envs, seed)
    encoder = PromptEncoder(tokenizer, shared_chat_prefix(tokenizer, prompter.shared_text()),
                            max_prompt_tokens)
    prompts: list[list[int]] = []
    answers: list[list[int]] = []
    round_index = 0
    while len(prompts) < num_examples:
        rollout = run_episodes(env, expert, seed=derived_seed(seed, round_index))
        round_index += 1
        for _, _, record in rollout.records()[:num_examples - len(prompts)]:
            chat = format_chat(tokenizer, [{"role": "user", "content": record.prompt}])
            answer_text = record.generation
            if prompt_config.answer_prefix:  # as the agent asks: the prompt ends at 'ACTION='
                chat += ANSWER_PREFIX
                answer_text = answer_text.removeprefix(ANSWER_PREFIX)
            prompts.append(encoder.encode(chat))
            answer = tokenizer(answer_text, add_special_tokens=False)["input_ids"]
            answers.append(answer + [tokenizer.eos_token_id])
    # The records come step by step across rows; shuffled, a batch mixes steps and episodes.
    order = np.random.default_rng([seed, 7]).permutation(len(prompts))
    return [prompts[i] for i in order], [answers[i] for i in order]


def fit_answers(lm: torch.nn.Module, tokenizer: Any,
                batches: Iterable[tuple[list[list[int]], list[list[int]]]], steps: int, lr: float,
                min_lr: float | None = None, warmup_steps: int = 0, grad_clip: float = 0.0,
                frozen: Sequence[int] = (), log_every: int = 0) -> list[float]:
    """Supervised steps on (prompt ids, answer ids) batches, the loss on answer tokens only
    (mean NLL), with AdamW (its default decay), a linear warm-up and a cosine decay to `min_lr`
    (None: constant). `frozen` embedding columns keep their values (fixed input features).
    Returns the loss of every step. Deterministic for the same batches and thread count."""
    import math

    policy = PolicyWithValue(lm, value_head=False)
    params = [p for p in lm.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr)
    floor = lr if min_lr is None else min_lr

    def factor(step: int) -> float:
        warm = min(1.0, (step + 1) / warmup_steps) if warmup_steps else 1.0
        cosine = 0.5 * (1 + math.cos(math.pi * min(step, steps) / steps))
        return warm * (floor + (lr - floor) * cosine) / lr

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    embeddings = lm.get_input_embeddings().weight
    keep = embeddings.detach()[:, list(frozen)].clone() if frozen else None
    losses: list[float] = []
    lm.train()
    for step, (prompts, answers) in zip(range(steps), batches):
        batch = collate(prompts, answers, tokenizer.pad_token_id, embeddings.device)
        logp, _, _ = answer_logprobs(policy, batch)
        mask = batch.answer_mask.float()
        loss = -(logp * mask).sum() / mask.sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(params, grad_clip)
        optimizer.step()
        scheduler.step()
        if keep is not None:
            with torch.no_grad():
                embeddings[:, list(frozen)] = keep
        losses.append(float(loss.detach()))
        if log_every and (step + 1) % log_every == 0:
            print(f"step {step + 1}/{steps}: loss {np.mean(losses[-log_every:]):.4f}", flush=True)
    lm.eval()
    return losses


def training_bytes(lm: torch.nn.Module) -> int:
    """What fit_answers holds beside activations: the trainable weights, their gradients and
    AdamW's two moments, all in the weights' dtypes (about 74 GB for a 9B bf16 model)."""
    return sum(4 * p.numel() * p.element_size() for p in lm.parameters() if p.requires_grad)


def supervised_warm_start(lm: torch.nn.Module, tokenizer: Any, env: Any, prompt_config: Any,
                          expert: TextExpert, steps: int, batch_size: int, lr: float, seed: int,
                          max_prompt_tokens: int, device: torch.device) -> list[float]:
    """Supervised steps (loss on answer tokens only, constant `lr`) on `expert`'s examples;
    returns the loss of every step. Deterministic for a seed on the CPU; CUDA's backward is
    not bitwise reproducible, so ranks may end apart (the trainer then takes rank 0's)."""
    prompts, answers = expert_examples(env, tokenizer, prompt_config, expert, steps * batch_size,
                                       seed, max_prompt_tokens)
    batches = ((prompts[step * batch_size:(step + 1) * batch_size],
                answers[step * batch_size:(step + 1) * batch_size]) for step in range(steps))
    return fit_answers(lm.to(device), tokenizer, batches, steps, lr)


def configured_warm_start(config: Any, lm: torch.nn.Module, tokenizer: Any, env: Any,
                          device: torch.device) -> list[float]:
    """The warm start a TrainConfig's warm_start section names, on `env`; returns the losses."""
    section = config.warm_start
    expert = make_expert(section.expert, env, config.prompt, section.epsilon)
    return supervised_warm_start(lm, tokenizer, env, config.prompt, expert, section.steps,
                                 section.batch_size, section.lr, config.run.seed,
                                 config.rollout.max_prompt_tokens, device)


def save_warm_start(lm: torch.nn.Module, tokenizer: Any, directory: Path) -> None:
    """The warm-started policy as a plain HF model directory (rank 0 only), written under a
    temporary name and renamed; load_warm_start loads it strictly."""
    directory = Path(directory)
    staging = directory.with_name(directory.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    save_model_directory(lm, tokenizer, staging)
    shutil.rmtree(directory, ignore_errors=True)
    os.replace(staging, directory)


def load_warm_start(lm: torch.nn.Module, directory: Path) -> None:
    """Loads what save_warm_start wrote into `lm`. A resumed run needs it: the reference
    policy is the warm-started one, not the model's initial weights."""
    from safetensors.torch import load_file

    files = sorted(Path(directory).glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(
            f"{directory} holds no warm-started weights, but the run directory has a checkpoint "
            f"to resume from; use a fresh run.out_dir or run.resume=never")
    state: dict[str, torch.Tensor] = {}
    for file in files:
        state.update(load_file(str(file)))
    lm.load_state_dict(state, strict=True)
