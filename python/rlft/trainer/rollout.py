"""What the trainer learns from: a rollout of the one episode loop
(``rlft.agents.rollout.run_episodes``) turned into transitions, one per valid step, each with
the exact prompt and answer token ids the policy saw and sampled (never re-tokenised text)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from rlft.agents.rollout import Rollout, run_episodes


@dataclass
class Transition:
    """One step of one episode: what the policy saw, what it sampled, what followed."""

    row: int
    step: int
    prompt_ids: list[int]
    answer_ids: list[int]
    env_reward: float
    invalid: bool       # no valid action parsed: a random one was executed (-5 shaping)
    novel: bool         # the executed action had not been tried before in this episode
    sampled_logprobs: list[float]  # the sampler's log-probs of answer_ids; [] if not sampled


def collect(env: Any, agent: Any, seed: int, any_active: Callable[[bool], bool] = bool,
            reset_options: Mapping[str, Any] | None = None) -> tuple[Rollout, list[Transition]]:
    """One training rollout: every env row plays one episode with the policy (reset_options:
    as run_episodes takes them, e.g. the instance of every row)."""
    rollout = run_episodes(env, agent, seed=seed, reset_options=reset_options,
                           any_active=any_active)
    return rollout, transitions_of(rollout)


def transitions_of(rollout: Rollout) -> list[Transition]:
    """The rollout's valid steps in the order they were played (step-major)."""
    if rollout.steps is None:
        raise ValueError("the rollout has no text records: play it with an LLM agent")
    out = []
    for row, step, record in rollout.records():
        action = int(rollout.actions[row, step])
        out.append(Transition(
            row=row, step=step, prompt_ids=record.prompt_ids, answer_ids=record.answer_ids,
            env_reward=float(rollout.rewards[row, step]), invalid=record.invalid,
            novel=bool(action not in rollout.actions[row, :step]),
            sampled_logprobs=record.sampled_logprobs))
    return out


def samples_of(rollout: Rollout, count: int) -> list[dict[str, Any]]:
    """The first `count` steps played, as text (the run's samples.jsonl)."""
    return [{"row": row, "step": step, "prompt": record.prompt, "generation": record.generation,
             "status": record.status, "action": int(rollout.actions[row, step])}
            for row, step, record in rollout.records()[:count]]


def step_grid(transitions: Sequence[Transition], values: Sequence[float],
              num_rows: int) -> np.ndarray:
    """Per-transition values laid out as [rows, steps] (NaN where a row had ended)."""
    steps = 1 + max(t.step for t in transitions)
    grid = np.full((num_rows, steps), np.nan)
    for transition, value in zip(transitions, values):
        grid[transition.row, transition.step] = value
    return grid
