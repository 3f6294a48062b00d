"""Rollouts: N env slots play one whole episode each with the current policy (an LLMAgent
that records the exact prompt and answer token ids of every step)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from rlft.agents.llm_agent import LLMAgent


@dataclass
class Transition:
    """One step of one row: what the policy saw, what it sampled, what followed."""

    row: int
    step: int
    prompt_ids: list[int]
    answer_ids: list[int]
    env_reward: float
    invalid: bool       # no valid action parsed: a random one was executed (-5 shaping)
    novel: bool         # the executed action had not been tried before in this episode
    done: bool          # the episode ended with this step
    forced: bool        # try-all / epsilon step with a template rationale


@dataclass
class Rollout:
    transitions: list[Transition]
    num_rows: int
    final_regret: np.ndarray = field(default_factory=lambda: np.zeros(0))  # [rows] (bandits)
    coverage: np.ndarray = field(default_factory=lambda: np.zeros(0))      # [rows] (bandits)
    returns: np.ndarray = field(default_factory=lambda: np.zeros(0))       # [rows] env return
    winner: np.ndarray = field(default_factory=lambda: np.zeros(0))        # [rows] (tic-tac-toe)
    generate_seconds: float = 0.0
    total_seconds: float = 0.0
    new_tokens: int = 0
    samples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def invalid_rate(self) -> float:
        return float(np.mean([t.invalid for t in self.transitions])) if self.transitions else 0.0


def collect_rollout(env: Any, agent: LLMAgent, seed: int,
                    reset_options: Mapping[str, Any] | None = None,
                    num_samples: int = 0, max_steps: int = 10_000) -> Rollout:
    """Plays one episode per env row. Rows that finish early wait (their later generations
    are discarded) until every row is done; with an agent that generates in lock-step
    (`synced_gpus`: ZeRO-3 on several ranks, where every generate gathers shards from all
    ranks) until every row of every rank is done."""
    started = time.perf_counter()
    generate_before, tokens_before = agent.generate_seconds, agent.new_tokens
    obs, info = env.reset(seed=seed, options=reset_options)
    num_rows = env.num_envs
    agent.reset(num_rows, env.num_actions, seed)
    active = np.ones(num_rows, dtype=bool)
    tried = np.zeros((num_rows, env.num_actions), dtype=bool)
    returns = np.zeros(num_rows)
    final_regret = np.zeros(num_rows)
    winner = np.zeros(num_rows, dtype=np.int8)
    transitions: list[Transition] = []
    step = 0
    while _any_active(active, agent):
        if step >= max_steps:
            raise RuntimeError(f"an episode ran longer than {max_steps} steps")
        actions = agent.act(obs, info)
        tokens, invalid, forced = agent.last_tokens, agent.last_invalid, agent.last_forced
        obs, reward, terminated, truncated, info = env.step(actions)
        agent.observe(actions, reward, obs, info)
        executed = np.asarray(info.get("executed_action", actions))
        done = np.asarray(terminated) | np.asarray(truncated)
        for row in np.flatnonzero(active):
            action = int(executed[row])
            transitions.append(Transition(
                row=int(row), step=step, prompt_ids=tokens[row][0], answer_ids=tokens[row][1],
                env_reward=float(reward[row]), invalid=bool(invalid[row]),
                novel=action >= 0 and not tried[row, action], done=bool(done[row]),
                forced=bool(forced[row])))
            if action >= 0:
                tried[row, action] = True
            returns[row] += float(reward[row])
            if done[row]:
                if "regret" in info:
                    final_regret[row] = float(info["regret"][row])
                if "winner" in info:
                    winner[row] = int(info["winner"][row])
        active &= ~done
        step += 1
    samples = [{"row": r.row, "step": r.step, "prompt": r.prompt, "generation": r.generation,
                "status": r.status, "action": r.action} for r in agent.transcript[-1][:num_samples]]
    agent.transcript.clear()  # the texts are not needed past the samples
    return Rollout(transitions=transitions, num_rows=num_rows, final_regret=final_regret,
                   coverage=tried.mean(axis=1), returns=returns, winner=winner,
                   generate_seconds=agent.generate_seconds - generate_before,
                   total_seconds=time.perf_counter() - started,
                   new_tokens=agent.new_tokens - tokens_before, samples=samples)


def _any_active(active: np.ndarray, agent: LLMAgent) -> bool:
    if not agent.synced_gpus:
        return bool(active.any())
    import torch

    # On the model's own device: NCCL reduces CUDA tensors only, gloo takes CPU ones.
    flag = torch.tensor([int(active.any())], device=next(agent.model.parameters()).device)
    torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
    return bool(flag.item())


def step_grid(rollout: Rollout, values: list[float]) -> np.ndarray:
    """Per-transition values laid out as [rows, steps] (NaN where a row had ended)."""
    steps = 1 + max(t.step for t in rollout.transitions)
    grid = np.full((rollout.num_rows, steps), np.nan)
    for transition, value in zip(rollout.transitions, values):
        grid[transition.row, transition.step] = value
    return grid
