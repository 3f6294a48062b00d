"""Multi-armed bandit env (``make("mab")``): K Gaussian or Bernoulli arms, horizon T.

Noise levels follow the paper (App. A.1): Gaussian sigma 0.1 / 1 / 3 for low / medium / high.
For Bernoulli arms the level sets the best-vs-rest gap (best arm 0.5 + gap/2, the others
0.5 - gap/2): 0.5 / 0.2 / 0.1. That mapping is rlft's choice; the paper only says the level
sets the gap, and 0.2 is Krishnamurthy et al.'s hard instance.

Pool mode (``pooled=True``), as in the paper's training on a pool of 512 bandits: the arm
means of task id j are drawn from ``Rng(task_seed, j)``; training envs draw task ids
uniformly from ``[0, pool_size)`` at every reset, evaluation envs from the held-out range
``[pool_size, pool_size + eval_pool_size)``, disjoint by construction. To play each held-out
instance exactly once: ``env = make("mab", num_envs=cfg.eval_pool_size, ..., split="eval",
pooled=True)`` and ``env.reset(options={"task_ids": env.eval_task_ids()})``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from rlft import _core
from rlft.envs.registry import register
from rlft.envs.vector import CoreVectorEnv, check_seed

NOISE_LEVELS = ("low", "medium", "high")
REWARD_TYPES = ("gaussian", "bernoulli")
MEAN_DISTRIBUTIONS = ("uniform", "normal")
SPLITS = ("train", "eval")

_NOISE_ENUM = {"low": _core.NoiseLevel.LOW, "medium": _core.NoiseLevel.MEDIUM,
               "high": _core.NoiseLevel.HIGH}


def check_int(name: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    """An int field (bools and floats rejected) within [low, high]; errors name the field."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")
    return int(value)


def check_float(name: str, value: Any, low: float | None = None) -> float:
    """A finite real field (bools rejected) >= low; errors name the field."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer,
                                                                      np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return value


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return str(value)


INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


@dataclass
class MultiArmedBanditConfig:
    """Settings of ``make("mab")``. Invalid values raise at construction, naming the field."""

    num_arms: int = field(default=5, metadata={"help": "number of arms K (>= 2; paper: 5, 10, 20)"})
    horizon: int = field(default=50, metadata={"help": "steps per episode T; terminated at T"})
    reward_type: str = field(default="gaussian", metadata={"help": "'gaussian' or 'bernoulli'"})
    noise: str = field(default="medium", metadata={
        "help": "'low' / 'medium' / 'high': Gaussian sigma 0.1 / 1 / 3, "
                "Bernoulli gap 0.5 / 0.2 / 0.1"})
    sigma: float | None = field(default=None, metadata={
        "help": "Gaussian reward stddev; None takes it from `noise`"})
    gap: float | None = field(default=None, metadata={
        "help": "Bernoulli best-vs-rest gap in [0, 1]; None takes it from `noise`"})
    mean_distribution: str = field(default="uniform", metadata={
        "help": "Gaussian arm means: 'uniform' U(mean_low, mean_high) or "
                "'normal' N(mean_loc, mean_scale)"})
    mean_low: float = field(default=0.0, metadata={"help": "low end of the uniform arm means"})
    mean_high: float = field(default=1.0, metadata={"help": "high end of the uniform arm means"})
    mean_loc: float = field(default=0.5, metadata={"help": "mean of normally drawn arm means"})
    mean_scale: float = field(default=0.25, metadata={"help": "stddev of normally drawn arm means"})
    pooled: bool = field(default=False, metadata={
        "help": "draw instances from a fixed pool of task ids instead of fresh at every reset"})
    split: str = field(default="train", metadata={
        "help": "pooled only: 'train' plays ids [0, pool_size), 'eval' the held-out "
                "[pool_size, pool_size + eval_pool_size)"})
    pool_size: int = field(default=512, metadata={
        "help": "pooled only: training tasks (paper: 512)"})
    eval_pool_size: int = field(default=64, metadata={"help": "pooled only: held-out tasks"})
    task_seed: int = field(default=0, metadata={
        "help": "seed of the task ids' arm means (same id, same instance, whatever the env seed)"})

    def __post_init__(self) -> None:
        check_int("num_arms", self.num_arms, 2, 2**20)
        check_int("horizon", self.horizon, 1, INT32_MAX)
        check_choice("reward_type", self.reward_type, REWARD_TYPES)
        check_choice("noise", self.noise, NOISE_LEVELS)
        if self.sigma is not None:
            check_float("sigma", self.sigma, 0.0)
        if self.gap is not None:
            check_float("gap", self.gap, 0.0)
        check_choice("mean_distribution", self.mean_distribution, MEAN_DISTRIBUTIONS)
        for name in ("mean_low", "mean_high", "mean_loc"):
            check_float(name, getattr(self, name))
        check_float("mean_scale", self.mean_scale, 0.0)
        if not isinstance(self.pooled, (bool, np.bool_)):
            raise TypeError(f"pooled must be a bool, got {type(self.pooled).__name__}")
        check_choice("split", self.split, SPLITS)
        check_int("pool_size", self.pool_size, 1)
        check_int("eval_pool_size", self.eval_pool_size, 1)
        if self.pool_size + self.eval_pool_size > INT64_MAX:
            raise ValueError("pool_size + eval_pool_size must fit in int64")
        check_seed(self.task_seed, "task_seed")
        # The remaining cross-field checks (mean_low <= mean_high, gap <= 1) live in C++.
        self.to_core().validate()

    @property
    def resolved_sigma(self) -> float:
        return self.sigma if self.sigma is not None else _core.gaussian_sigma_for(
            _NOISE_ENUM[self.noise])

    @property
    def resolved_gap(self) -> float:
        return self.gap if self.gap is not None else _core.bernoulli_gap_for(
            _NOISE_ENUM[self.noise])

    def train_task_ids(self) -> np.ndarray:
        """Task ids of the training pool, int64 [pool_size]."""
        return np.arange(0, self.pool_size, dtype=np.int64)

    def eval_task_ids(self) -> np.ndarray:
        """Held-out task ids, int64 [eval_pool_size]; disjoint from train_task_ids()."""
        return np.arange(self.pool_size, self.pool_size + self.eval_pool_size, dtype=np.int64)

    def to_core(self) -> Any:
        """The C++ config (rlft._core.MultiArmedBanditConfig)."""
        core = _core.MultiArmedBanditConfig()
        core.num_arms = int(self.num_arms)
        core.horizon = int(self.horizon)
        core.reward_type = (_core.RewardType.GAUSSIAN if self.reward_type == "gaussian"
                            else _core.RewardType.BERNOULLI)
        core.sigma = float(self.resolved_sigma)
        core.gap = float(self.resolved_gap)
        core.mean_distribution = (_core.MeanDistribution.UNIFORM
                                  if self.mean_distribution == "uniform"
                                  else _core.MeanDistribution.NORMAL)
        core.mean_low = float(self.mean_low)
        core.mean_high = float(self.mean_high)
        core.mean_loc = float(self.mean_loc)
        core.mean_scale = float(self.mean_scale)
        core.task_seed = int(self.task_seed)
        if self.pooled:
            train = self.split == "train"
            core.pool_offset = 0 if train else int(self.pool_size)
            core.pool_size = int(self.pool_size if train else self.eval_pool_size)
        else:
            core.pool_offset = 0
            core.pool_size = 0
        return core


class MultiArmedBanditEnv(CoreVectorEnv):
    """Batched K-armed bandits. Buffers (docs/architecture.md): obs ``step``, ``counts``,
    ``reward_sums``, ``last_action``, ``last_reward``; info ``arm_means``, ``optimal_arm``,
    ``regret`` (cumulative pseudo-regret), ``task_id``. Episodes end at the horizon with
    ``terminated=True``; the next step autoresets (see rlft.envs.vector)."""

    observation_keys = ("step", "counts", "reward_sums", "last_action", "last_reward")

    def __init__(self, config: MultiArmedBanditConfig, num_envs: int = 1, seed: int = 0,
                 num_threads: int = 1) -> None:
        if not isinstance(config, MultiArmedBanditConfig):
            raise TypeError(f"config must be a MultiArmedBanditConfig, got {type(config).__name__}")
        self.config = config
        super().__init__(_core.MultiArmedBanditVec, config.to_core(), num_envs, seed, num_threads)

    def reset(self, *, seed: int | None = None,
              options: Mapping[str, Any] | None = None) -> tuple[dict, dict]:
        """As CoreVectorEnv.reset; ``task_ids`` entries are task ids >= 0, or -1 to let the
        row draw its own instance (from the pool in pool mode)."""
        if options and options.get("task_ids") is not None:
            ids = np.asarray(options["task_ids"])
            if ids.dtype.kind in "iu" and ids.size and ids.min() < -1:
                raise ValueError(f"task_ids must be >= -1, got {int(ids.min())}")
        return super().reset(seed=seed, options=options)

    def train_task_ids(self) -> np.ndarray:
        return self.config.train_task_ids()

    def eval_task_ids(self) -> np.ndarray:
        return self.config.eval_task_ids()


register("mab", MultiArmedBanditConfig, MultiArmedBanditEnv,
         "K-armed Gaussian/Bernoulli bandit with fixed horizon (paper §2.1)",
         aliases=("multi_armed_bandit", "bandit"))
