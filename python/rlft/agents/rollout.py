"""Plays whole episodes of an agent on a vector env and keeps per-step arrays for the metrics.

Rows are episodes: with B env rows and E rounds, row ``e * B + b`` is round e of env row b.
Each round resets every env row and the agent with a seed derived from ``(seed, e)``, then
steps until every row has finished one episode; steps after a row's end (the env's
autoreset step and the next episode) are masked out by ``valid``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from rlft.agents.base import Agent
from rlft.envs.vector import check_seed


@dataclass
class Rollout:
    """Per-step records of N = num_episodes * num_envs episodes, padded to the longest
    episode (T steps); padding has ``valid`` False and zeros (regret: the final value)."""

    actions: np.ndarray = field(metadata={"help": "int32[N, T] action the env executed"})
    rewards: np.ndarray = field(metadata={"help": "float32[N, T] env reward of the step"})
    valid: np.ndarray = field(metadata={"help": "bool[N, T] the step belongs to the episode"})
    cumulative_regret: np.ndarray = field(metadata={
        "help": "float32[N, T] env's cumulative pseudo-regret after the step (NaN if the env "
                "has no 'regret' buffer)"})
    optimal_action: np.ndarray = field(metadata={
        "help": "int32[N, T] best action at decision time from the env's hidden info "
                "(optimal_arm / optimal_action), -1 if the env has none"})
    invalid: np.ndarray = field(metadata={"help": "bool[N, T] env flagged the action invalid"})
    lengths: np.ndarray = field(metadata={"help": "int32[N] steps in each episode"})
    returns: np.ndarray = field(metadata={"help": "float32[N] sum of rewards of each episode"})
    winner: np.ndarray = field(metadata={
        "help": "int8[N] final 'winner' buffer (tic-tac-toe: 0 draw, 1 agent, 2 opponent), "
                "-1 if the env has none"})
    num_actions: int = field(metadata={"help": "size of the env's action space"})

    @property
    def best_arm(self) -> np.ndarray:
        """int32[N]: the best arm of each episode, for envs whose best arm is fixed per episode
        (multi-armed bandits)."""
        return self.optimal_action[:, 0]


def _episode_seed(seed: int, episode: int) -> int:
    """Distinct, well-mixed seeds per round, so (seed 0, round 1) != (seed 1, round 0)."""
    return int(np.random.SeedSequence([seed, episode]).generate_state(1, np.uint64)[0])


def run_episodes(env: Any, agent: Agent, num_episodes: int = 1, seed: int = 0,
                 reset_options: Mapping[str, Any] | None = None,
                 max_steps: int = 10_000) -> Rollout:
    """Plays ``num_episodes`` rounds of one episode per env row and returns their records.

    The env is reset with seed ``_episode_seed(seed, e)`` in round e and the agent with the
    same seed, so two agents run with the same (env config, num_envs, seed) meet the same
    instances. reset_options go to every ``env.reset`` (e.g. ``{"task_ids": ids}`` to play
    fixed pool instances). max_steps bounds a round (RuntimeError when an episode runs longer).
    """
    seed = check_seed(seed)
    if isinstance(num_episodes, bool) or not isinstance(num_episodes, (int, np.integer)) \
            or num_episodes < 1:
        raise ValueError(f"num_episodes must be a positive int, got {num_episodes!r}")
    rounds = [_play_round(env, agent, _episode_seed(seed, e), reset_options, max_steps)
              for e in range(int(num_episodes))]
    horizon = max(r["actions"].shape[1] for r in rounds)
    padded = {key: np.concatenate([_pad(r[key], horizon, key) for r in rounds])
              for key in ("actions", "rewards", "valid", "cumulative_regret", "optimal_action",
                          "invalid")}
    return Rollout(**padded,
                   lengths=np.concatenate([r["valid"].sum(axis=1)
                                           for r in rounds]).astype(np.int32),
                   returns=np.concatenate([(r["rewards"] * r["valid"]).sum(axis=1)
                                           for r in rounds]).astype(np.float32),
                   winner=np.concatenate([r["winner"] for r in rounds]),
                   num_actions=int(env.num_actions))


def concat_rollouts(rollouts: list[Rollout]) -> Rollout:
    """Stacks the episodes of several rollouts (e.g. one per seed), padded to the longest with
    the same rule as run_episodes."""
    if not rollouts:
        raise ValueError("concat_rollouts needs at least one rollout")
    horizon = max(r.actions.shape[1] for r in rollouts)
    stepwise = ("actions", "rewards", "valid", "cumulative_regret", "optimal_action", "invalid")
    return Rollout(
        **{key: np.concatenate([_pad(getattr(r, key), horizon, key) for r in rollouts])
           for key in stepwise},
        **{key: np.concatenate([getattr(r, key) for r in rollouts])
           for key in ("lengths", "returns", "winner")},
        num_actions=rollouts[0].num_actions)


def _pad(array: np.ndarray, horizon: int, key: str) -> np.ndarray:
    extra = horizon - array.shape[1]
    if extra == 0:
        return array
    mode = "edge" if key in ("cumulative_regret", "optimal_action") else "constant"
    return np.pad(array, ((0, 0), (0, extra)), mode=mode)


def _optimal(info: dict) -> np.ndarray | None:
    for key in ("optimal_arm", "optimal_action"):
        if key in info:
            return np.array(info[key], dtype=np.int32)
    return None


def _play_round(env: Any, agent: Agent, seed: int, reset_options: Mapping[str, Any] | None,
                max_steps: int) -> dict[str, np.ndarray]:
    num_envs = int(env.num_envs)
    obs, info = env.reset(seed=seed, options=reset_options)
    agent.reset(num_envs, int(env.num_actions), seed)
    active = np.ones(num_envs, dtype=bool)  # rows still in their first episode
    steps: dict[str, list[np.ndarray]] = {key: [] for key in (
        "actions", "rewards", "valid", "cumulative_regret", "optimal_action", "invalid")}
    final_winner = np.full(num_envs, -1, dtype=np.int8)
    while active.any():
        if len(steps["actions"]) >= max_steps:
            raise RuntimeError(f"an episode ran longer than max_steps={max_steps}")
        optimal = _optimal(info)  # before the step: the best action for this decision
        actions = np.ascontiguousarray(agent.act(obs, info), dtype=np.int32)
        obs, reward, terminated, truncated, info = env.step(actions)
        agent.observe(actions, reward, obs, info)
        executed = info.get("executed_action", actions)
        steps["actions"].append(np.array(executed, dtype=np.int32))
        steps["rewards"].append(np.array(reward, dtype=np.float32))
        steps["valid"].append(active.copy())
        steps["cumulative_regret"].append(
            np.array(info["regret"], dtype=np.float32) if "regret" in info
            else np.full(num_envs, np.nan, np.float32))
        steps["optimal_action"].append(optimal if optimal is not None
                                       else np.full(num_envs, -1, np.int32))
        steps["invalid"].append(np.array(info["invalid_action"], dtype=bool)
                                if "invalid_action" in info else np.zeros(num_envs, bool))
        done = active & (np.asarray(terminated) | np.asarray(truncated))
        if "winner" in info:
            final_winner[done] = np.asarray(info["winner"])[done]
        active &= ~done
    record = {key: np.stack(value, axis=1) for key, value in steps.items()}
    valid = record["valid"]
    for key in ("actions", "rewards", "invalid"):
        record[key] = np.where(valid, record[key], 0).astype(record[key].dtype)
    # After a row ends, hold its last in-episode regret and optimal action (not the next episode's).
    last = np.maximum(valid.sum(axis=1) - 1, 0)[:, None]  # [B, 1]
    for key in ("cumulative_regret", "optimal_action"):
        held = np.take_along_axis(record[key], last, axis=1)
        record[key] = np.where(valid, record[key], held)
    record["winner"] = final_winner
    return record
