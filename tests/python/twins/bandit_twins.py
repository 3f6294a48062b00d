"""Pure-Python twins of the C++ bandits: the same state machine written out row by row,
drawing from rlft._core.Rng (the same generator) in the same order, so that a twin and the
C++ env agree exactly. Also replays VectorEnv's seeding and next-step autoreset."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from rlft._core import Rng

# ---------------------------------------------------------------- ziggurat normal
_LAYERS = 256
_TAIL_START = 3.6541528853610088
_AREA = 0.00492867323399


def _density(v: float) -> float:
    return math.exp(-0.5 * v * v)


def _tables() -> tuple[list[float], list[float], list[float]]:
    x = [0.0] * (_LAYERS + 1)
    x[0] = _AREA / _density(_TAIL_START)
    x[1] = _TAIL_START
    for i in range(1, _LAYERS - 1):
        x[i + 1] = math.sqrt(-2.0 * math.log(_AREA / x[i] + _density(x[i])))
    x[_LAYERS] = 0.0
    f = [_density(v) for v in x]
    scale = [v * 2.0**-53 for v in x[:_LAYERS]]
    return x, f, scale


_X, _F, _SCALE = _tables()


def ziggurat_normal(rng: Rng) -> float:
    """Standard normal exactly as ZigguratNormal in multi_armed_bandit.h."""
    bits = rng.next_u64()
    while True:
        layer = bits & 0xFF
        sign = -1.0 if bits & 0x100 else 1.0
        x = float(bits >> 11) * _SCALE[layer]
        if x < _X[layer + 1]:
            return sign * x
        if layer == 0:
            while True:
                a = -math.log(1.0 - rng.uniform()) / _TAIL_START
                b = -math.log(1.0 - rng.uniform())
                if not b + b < a * a:
                    return sign * (_TAIL_START + a)
        y = _F[layer] + rng.uniform() * (_F[layer + 1] - _F[layer])
        if y < math.exp(-0.5 * x * x):
            return sign * x
        bits = rng.next_u64()


# ---------------------------------------------------------------- multi-armed bandit
@dataclass
class MabParams:
    """The C++ MultiArmedBanditConfig's fields."""

    num_arms: int = 5
    horizon: int = 50
    bernoulli: bool = False
    sigma: float = 1.0
    gap: float = 0.2
    normal_means: bool = False
    mean_low: float = 0.0
    mean_high: float = 1.0
    mean_loc: float = 0.5
    mean_scale: float = 0.25
    task_seed: int = 0
    pool_size: int = 0
    pool_offset: int = 0

    @classmethod
    def from_core(cls, core) -> "MabParams":
        from rlft._core import MeanDistribution, RewardType
        return cls(core.num_arms, core.horizon, core.reward_type == RewardType.BERNOULLI,
                   core.sigma, core.gap, core.mean_distribution == MeanDistribution.NORMAL,
                   core.mean_low, core.mean_high, core.mean_loc, core.mean_scale,
                   core.task_seed, core.pool_size, core.pool_offset)


def draw_means(p: MabParams, rng: Rng) -> list[float]:
    if p.bernoulli:
        best = rng.uniform_int(p.num_arms)
        return [0.5 + (0.5 if a == best else -0.5) * p.gap for a in range(p.num_arms)]
    if p.normal_means:
        return [rng.normal_scaled(p.mean_loc, p.mean_scale) for _ in range(p.num_arms)]
    return [rng.uniform_range(p.mean_low, p.mean_high) for _ in range(p.num_arms)]


@dataclass
class MabInstance:
    p: MabParams
    means: list[float] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    sums: list[float] = field(default_factory=list)
    optimal: int = 0
    step: int = 0
    last_action: int = -1
    last_reward: float = 0.0
    regret: float = 0.0
    task_id: int = -1

    def reset(self, rng: Rng, task_id: int) -> None:
        if task_id < 0 and self.p.pool_size > 0:
            task_id = self.p.pool_offset + rng.uniform_int(self.p.pool_size)
        source = Rng(self.p.task_seed, task_id) if task_id >= 0 else rng
        self.means = draw_means(self.p, source)
        self.task_id = max(task_id, -1)
        self.optimal = max(range(self.p.num_arms), key=lambda a: (self.means[a], -a))
        self.counts = [0] * self.p.num_arms
        self.sums = [0.0] * self.p.num_arms
        self.step, self.last_action, self.last_reward, self.regret = 0, -1, 0.0, 0.0

    def step_once(self, action: int, rng: Rng) -> tuple[float, bool]:
        mean = self.means[action]
        if self.p.bernoulli:
            reward = 1.0 if rng.uniform() < mean else 0.0
        else:
            reward = mean + self.p.sigma * ziggurat_normal(rng)
        self.counts[action] += 1
        self.sums[action] += reward
        self.regret += self.means[self.optimal] - mean
        self.step += 1
        self.last_action, self.last_reward = action, reward
        return reward, self.step >= self.p.horizon

    def buffers(self) -> dict:
        f32 = np.float32
        return {"step": self.step, "counts": list(self.counts),
                "reward_sums": [f32(s) for s in self.sums], "last_action": self.last_action,
                "last_reward": f32(self.last_reward), "arm_means": [f32(m) for m in self.means],
                "optimal_arm": self.optimal, "regret": f32(self.regret), "task_id": self.task_id}


class VectorTwin:
    """VectorEnv's rules: row i seeded from (seed, i); next-step autoreset."""

    def __init__(self, make_instance, num_envs: int, seed: int) -> None:
        self.rngs = [Rng(seed, i) for i in range(num_envs)]
        self.envs = [make_instance() for _ in range(num_envs)]
        self.needs_reset = [True] * num_envs
        self.reward = [0.0] * num_envs
        self.terminated = [False] * num_envs

    def reset(self, task_ids=None) -> None:
        for i, env in enumerate(self.envs):
            env.reset(self.rngs[i], -1 if task_ids is None else int(task_ids[i]))
            self.needs_reset[i], self.reward[i], self.terminated[i] = False, 0.0, False

    def step(self, actions) -> None:
        for i, env in enumerate(self.envs):
            if self.needs_reset[i]:
                env.reset(self.rngs[i], -1)
                self.needs_reset[i], self.reward[i], self.terminated[i] = False, 0.0, False
                continue
            reward, done = env.step_once(int(actions[i]), self.rngs[i])
            self.reward[i], self.terminated[i], self.needs_reset[i] = reward, done, done


# ---------------------------------------------------------------- contextual bandit
@dataclass
class ContextualInstance:
    rewards: np.ndarray        # float32 [U, K]
    users: np.ndarray          # split rows
    horizon: int
    noise_std: float = 0.0
    user: int = 0
    step: int = 0
    regret: float = 0.0
    last_reward: float = 0.0

    def _draw_user(self, rng: Rng) -> None:
        self.user = int(self.users[rng.uniform_int(len(self.users))])

    def reset(self, rng: Rng, task_id: int) -> None:
        self.step, self.regret, self.last_reward = 0, 0.0, 0.0
        self._draw_user(rng)

    def step_once(self, action: int, rng: Rng) -> tuple[float, bool]:
        row = self.rewards[self.user]
        expected = float(row[action])
        reward = expected
        if self.noise_std > 0.0:
            reward += self.noise_std * rng.normal()
        self.regret += float(row.max()) - expected
        self.last_reward = reward
        self.step += 1
        done = self.step >= self.horizon
        if not done:
            self._draw_user(rng)
        return reward, done

    def buffers(self) -> dict:
        return {"step": self.step, "user": self.user,
                "optimal_action": int(np.argmax(self.rewards[self.user])),
                "regret": np.float32(self.regret), "last_reward": np.float32(self.last_reward)}
