"""The batched agent contract and the per-row randomness every classic agent shares.

An agent plays B env rows at once. The loop is::

    agent.reset(num_envs=B, num_actions=K, seed=s)
    obs, info = env.reset(seed=...)
    while ...:
        decision = as_decision(agent.act(obs, info))      # actions int32[B] (+ text records)
        obs, reward, terminated, truncated, info = env.step(decision.actions)
        agent.observe(decision.actions, reward, obs, info)

Classic agents return the actions; text agents (the LLM agent, the SFT experts in
``rlft.sft.experts``) return a ``Decision`` that also carries, per row, what the agent saw and
wrote (``StepRecord``). The one loop that plays episodes is
``rlft.agents.rollout.run_episodes``.

Agents read only observation buffers (``obs``); ``info`` is passed for agents that need
bookkeeping such as episode boundaries, never for hidden quantities (true means, optimal
arm). Each row draws its random numbers from its own stream seeded from ``(seed, row)``, so
row ``b`` behaves the same whatever the batch size.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Protocol, Union, runtime_checkable

import numpy as np

from rlft.envs.vector import check_seed

Observation = Mapping[str, np.ndarray]


@dataclass
class StepRecord:
    """What a text agent saw and wrote for one row at one step."""

    prompt: str
    """The prompt as the model got it (chat-formatted); plain text from agents that write no
    chat (the SFT experts: the template depends on the model trained)."""
    generation: str
    """The answer text (on a forced exploration step, the template rationale)."""
    status: str
    """The parse status (``ParseStatus`` name): OK, NO_MATCH, UNKNOWN_LABEL, ..."""
    parsed_action: int
    """The env action the answer named; -1 when it named none."""
    invalid: bool
    """No valid action: a uniformly random one was played (the paper's -5 step)."""
    forced: str = ""
    """'' (the model decided), 'try_all' or 'epsilon' (an exploration mechanism did)."""
    prompt_ids: list[int] = field(default_factory=list)
    """The exact prompt token ids (when the agent records tokens, for training)."""
    answer_ids: list[int] = field(default_factory=list)
    """The exact answer token ids, EOS included (when recorded)."""
    sampled_logprobs: list[float] = field(default_factory=list)
    """Per answer token, its log-prob under the distribution it was sampled from, where the
    generation engine gives them (empty on forced steps)."""


@dataclass
class Decision:
    """One step's choice for every row: env actions and, from a text agent, its records."""

    actions: np.ndarray
    """int32[B] actions to execute."""
    steps: Optional[list[StepRecord]] = None
    """One record per row from a text agent; None from a classic one."""


def as_decision(result: Union[np.ndarray, Decision]) -> Decision:
    """A Decision from what ``act`` returned (classic agents return their actions)."""
    if isinstance(result, Decision):
        return result
    return Decision(np.ascontiguousarray(result, dtype=np.int32))


@runtime_checkable
class Agent(Protocol):
    """What the rollout loop and the evaluation harness need from any agent."""

    name: str

    def reset(self, num_envs: int, num_actions: int, seed: int) -> None:
        """Forgets everything and prepares ``num_envs`` rows of ``num_actions`` actions."""

    def act(self, obs: Observation, info: Observation) -> Union[np.ndarray, Decision]:
        """int32[num_envs] actions for the current observations, or a Decision."""

    def observe(self, actions: np.ndarray, reward: np.ndarray, obs: Observation,
                info: Observation) -> None:
        """Sees the outcome of the last ``act`` (the env's step results)."""


class RowStreams:
    """One numpy Generator per row, seeded from ``(seed, row)``.

    Looping over rows costs a few microseconds per row and step; it buys results that do not
    depend on the batch size, which a single batched generator cannot give.
    """

    def __init__(self, seed: int, num_rows: int) -> None:
        seed = check_seed(seed)
        self.generators = [np.random.default_rng([seed, row]) for row in range(num_rows)]

    def __len__(self) -> int:
        return len(self.generators)

    def uniform(self, size: int | tuple[int, ...] = ()) -> np.ndarray:
        """float64[B, *size] uniform in [0, 1)."""
        return np.stack([g.random(size) for g in self.generators])

    def normal(self, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
        """float64[B, ...] normal draws, row b from N(mean[b], std[b])."""
        return np.stack([g.normal(m, s) for g, m, s in zip(self.generators, mean, std)])

    def beta(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """float64[B, ...] Beta(a[b], b[b]) draws per row."""
        return np.stack([g.beta(x, y) for g, x, y in zip(self.generators, a, b)])


def random_argmax(values: np.ndarray, streams: RowStreams,
                  allowed: np.ndarray | None = None) -> np.ndarray:
    """int32[B]: per row, an index of the largest ``values[b]`` among ``allowed[b]`` arms,
    ties broken uniformly at random (with K uniforms drawn from the row's stream).

    values: float[B, K] (may hold +-inf); allowed: bool[B, K] or None (all allowed). A row with
    no allowed entry raises ValueError.
    """
    values = np.asarray(values, dtype=np.float64)
    keys = streams.uniform(values.shape[1])  # [B, K]
    if allowed is None:
        allowed = np.ones(values.shape, dtype=bool)
    if not np.all(allowed.any(axis=1)):
        rows = np.flatnonzero(~allowed.any(axis=1)).tolist()
        raise ValueError(f"no allowed action in row(s) {rows}")
    masked = np.where(allowed, values, -np.inf)
    best = masked.max(axis=1, keepdims=True)  # [B, 1]
    # Rows whose allowed values are all -inf still tie among the allowed entries.
    is_best = allowed & (masked == best)
    return np.argmax(np.where(is_best, keys, -1.0), axis=1).astype(np.int32)


class BatchedAgent(ABC):
    """Shared bookkeeping: sizes, per-row streams and input checks. Subclasses implement
    ``act`` and, when they keep statistics of their own, ``observe``."""

    name = "agent"

    def __init__(self) -> None:
        self.num_envs = 0
        self.num_actions = 0
        self.streams: RowStreams | None = None

    def reset(self, num_envs: int, num_actions: int, seed: int) -> None:
        for label, value in (("num_envs", num_envs), ("num_actions", num_actions)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{label} must be a positive int, got {value!r}")
        streams = RowStreams(seed, int(num_envs))  # validates the seed before any state changes
        self.num_envs = int(num_envs)
        self.num_actions = int(num_actions)
        self.streams = streams

    def observe(self, actions: np.ndarray, reward: np.ndarray, obs: Observation,
                info: Observation) -> None:
        """Agents that read everything from ``obs`` need nothing here."""
        return None

    @abstractmethod
    def act(self, obs: Observation, info: Observation) -> np.ndarray:
        """int32[num_envs] actions for the current observations."""

    def _require_reset(self) -> RowStreams:
        if self.streams is None:
            raise RuntimeError(f"{type(self).__name__}: call reset() before act()")
        return self.streams

    def _obs_array(self, obs: Observation, key: str, trailing: tuple[int, ...] = ()) -> np.ndarray:
        """obs[key] checked to have shape [num_envs, *trailing]."""
        if key not in obs:
            raise ValueError(f"{type(self).__name__} needs observation {key!r}; got keys "
                             f"{sorted(obs)}")
        array = np.asarray(obs[key])
        expected = (self.num_envs, *trailing)
        if array.shape != expected:
            raise ValueError(f"observation {key!r} has shape {array.shape}, expected {expected}")
        return array


def check_positive(name: str, value: Any, allow_zero: bool = False) -> float:
    """A finite float > 0 (or >= 0), for agent hyper-parameters."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {bound}, got {value}")
    return value
