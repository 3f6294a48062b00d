"""The one episode loop: an agent plays whole episodes on a vector env, and the per-step arrays
(plus, for text agents, what was seen and written) come back as a ``Rollout``. Training
rollouts, held-out evaluations, ``rlft eval``, SFT data and the analyses all play through it.

Rows are episodes: with B env rows and E rounds, row ``e * B + b`` is round e of env row b.
Each round resets every env row and the agent with a seed derived from ``(seed, e)``, then
steps until every row has finished one episode; steps after a row's end (the env's autoreset
step and the next episode) are masked out by ``valid``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional

import numpy as np

from rlft.agents.base import Agent, StepRecord, as_decision
from rlft.envs.vector import check_seed

STEPWISE = ("actions", "rewards", "valid", "cumulative_regret", "optimal_action", "invalid")


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
    invalid: np.ndarray = field(metadata={
        "help": "bool[N, T] no valid action: the agent's answer named none (a random one was "
                "played) or the env flagged the action"})
    lengths: np.ndarray = field(metadata={"help": "int32[N] steps in each episode"})
    returns: np.ndarray = field(metadata={"help": "float32[N] sum of rewards of each episode"})
    winner: np.ndarray = field(metadata={
        "help": "int8[N] final 'winner' buffer (tic-tac-toe: 0 draw, 1 agent, 2 opponent), "
                "-1 if the env has none"})
    num_actions: int = field(metadata={"help": "size of the env's action space"})
    steps: Optional[list[list[Optional[StepRecord]]]] = field(default=None, metadata={
        "help": "[N][T] a text agent's record of each valid step (None on padding); None for "
                "classic agents"})

    @property
    def best_arm(self) -> np.ndarray:
        """int32[N]: the best arm of each episode, for envs whose best arm is fixed per episode
        (multi-armed bandits)."""
        return self.optimal_action[:, 0]

    @property
    def final_regret(self) -> np.ndarray:
        """float64[N] cumulative regret at each episode's end."""
        return self.cumulative_regret[:, -1].astype(np.float64)

    @property
    def coverage(self) -> np.ndarray:
        """float64[N] share of the actions each episode tried at least once."""
        tried = (self.actions[..., None] == np.arange(self.num_actions)) & self.valid[..., None]
        return tried.any(axis=1).mean(axis=1)

    @property
    def invalid_rate(self) -> float:
        steps = int(self.valid.sum())
        return float((self.invalid & self.valid).sum() / steps) if steps else 0.0

    def records(self) -> list[tuple[int, int, StepRecord]]:
        """(episode, step, record) of every valid step of a text agent, step-major (all
        episodes' step 0 first): the order the agent wrote them in."""
        if self.steps is None:
            return []
        return [(row, step, self.steps[row][step])
                for step in range(self.actions.shape[1]) for row in range(len(self.steps))
                if self.valid[row, step]]


def _episode_seed(seed: int, episode: int) -> int:
    """Distinct, well-mixed seeds per round, so (seed 0, round 1) != (seed 1, round 0)."""
    return int(np.random.SeedSequence([seed, episode]).generate_state(1, np.uint64)[0])


def run_episodes(env: Any, agent: Agent, num_episodes: int = 1, seed: int = 0,
                 reset_options: Mapping[str, Any] | None = None, max_steps: int = 10_000,
                 any_active: Callable[[bool], bool] = bool) -> Rollout:
    """Plays ``num_episodes`` rounds of one episode per env row and returns their records.

    The env is reset with seed ``_episode_seed(seed, e)`` in round e and the agent with the
    same seed, so two agents run with the same (env config, num_envs, seed) meet the same
    instances. reset_options go to every ``env.reset`` (e.g. ``{"task_ids": ids}`` to play
    fixed pool instances). max_steps bounds a round (RuntimeError when an episode runs longer).
    any_active(flag) decides whether to step on while this process's rows are active or not:
    agents that step in lock-step with other processes (ZeRO-3 generation) pass a vote over all
    of them, so that every process makes the same number of steps.
    """
    seed = check_seed(seed)
    if isinstance(num_episodes, bool) or not isinstance(num_episodes, (int, np.integer)) \
            or num_episodes < 1:
        raise ValueError(f"num_episodes must be a positive int, got {num_episodes!r}")
    rounds = [_play_round(env, agent, _episode_seed(seed, e), reset_options, max_steps,
                          any_active)
              for e in range(int(num_episodes))]
    return concat_rollouts(rounds)


def concat_rollouts(rollouts: list[Rollout]) -> Rollout:
    """Stacks the episodes of several rollouts (e.g. one per seed), padded to the longest."""
    if not rollouts:
        raise ValueError("concat_rollouts needs at least one rollout")
    if len(rollouts) == 1:
        return rollouts[0]
    horizon = max(r.actions.shape[1] for r in rollouts)
    text = all(r.steps is not None for r in rollouts)
    return Rollout(
        **{key: np.concatenate([_pad(getattr(r, key), horizon, key) for r in rollouts])
           for key in STEPWISE},
        **{key: np.concatenate([getattr(r, key) for r in rollouts])
           for key in ("lengths", "returns", "winner")},
        num_actions=rollouts[0].num_actions,
        steps=[row + [None] * (horizon - len(row)) for r in rollouts for row in r.steps]
        if text else None)


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
                max_steps: int, any_active: Callable[[bool], bool]) -> Rollout:
    num_envs = int(env.num_envs)
    obs, info = env.reset(seed=seed, options=reset_options)
    agent.reset(num_envs, int(env.num_actions), seed)
    active = np.ones(num_envs, dtype=bool)  # rows still in their first episode
    steps: dict[str, list[np.ndarray]] = {key: [] for key in STEPWISE}
    records: list[list[Optional[StepRecord]]] | None = None
    final_winner = np.full(num_envs, -1, dtype=np.int8)
    while any_active(bool(active.any())):
        if len(steps["actions"]) >= max_steps:
            raise RuntimeError(f"an episode ran longer than max_steps={max_steps}")
        optimal = _optimal(info)  # before the step: the best action for this decision
        decision = as_decision(agent.act(obs, info))
        obs, reward, terminated, truncated, info = env.step(decision.actions)
        agent.observe(decision.actions, reward, obs, info)
        executed = info.get("executed_action", decision.actions)
        invalid = np.array(info["invalid_action"], dtype=bool) if "invalid_action" in info \
            else np.zeros(num_envs, bool)
        if decision.steps is not None:
            records = records if records is not None else [[] for _ in range(num_envs)]
            for row, record in enumerate(decision.steps):
                records[row].append(record if active[row] else None)
                invalid[row] |= record.invalid
        steps["actions"].append(np.array(executed, dtype=np.int32))
        steps["rewards"].append(np.array(reward, dtype=np.float32))
        steps["valid"].append(active.copy())
        steps["cumulative_regret"].append(
            np.array(info["regret"], dtype=np.float32) if "regret" in info
            else np.full(num_envs, np.nan, np.float32))
        steps["optimal_action"].append(optimal if optimal is not None
                                       else np.full(num_envs, -1, np.int32))
        steps["invalid"].append(invalid)
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
    return Rollout(**record, lengths=valid.sum(axis=1).astype(np.int32),
                   returns=(record["rewards"] * valid).sum(axis=1).astype(np.float32),
                   winner=final_winner, num_actions=int(env.num_actions), steps=records)
