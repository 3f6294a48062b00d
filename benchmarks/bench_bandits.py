"""Env steps per second of the bandits: rlft's C++ envs (through their Python API) against a
pure-Python loop and a numpy-vectorised implementation of the same env, at batch 1, 64, 4096.

Every implementation does the same work per step as the C++ env: draw the reward, update
counts, reward sums, cumulative regret and the step counter, write last action/reward, flag
the horizon, and autoreset finished rows on the next step (Gymnasium next-step mode).
Single-threaded throughout. ``python benchmarks/bench_bandits.py [seconds_per_case | --smoke]``.
"""

from __future__ import annotations

import os

# Single-threaded comparison: keep BLAS (used by the MovieLens SVD) from leaving spinning
# worker threads behind that steal the core from the measured loops.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import random  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from typing import Callable  # noqa: E402

import numpy as np  # noqa: E402

from rlft.envs import make  # noqa: E402

BATCH_SIZES = (1, 64, 4096)
NUM_ARMS = 10
HORIZON = 50
SIGMA = 1.0  # noise "medium"


def _steps_per_second(step: Callable[[], None], batch: int, seconds: float) -> float:
    """Calls step() in rounds until `seconds` have passed; returns env steps per second."""
    step()  # warm-up
    calls, rounds = 0, 1
    start = time.perf_counter()
    while True:
        for _ in range(rounds):
            step()
        calls += rounds
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return calls * batch / elapsed
        rounds = min(rounds * 2, 1 << 14)


# ---------------------------------------------------------------- multi-armed bandit
class PythonLoopBandit:
    """The MAB as plain Python lists, one row at a time."""

    def __init__(self, batch: int, num_arms: int, horizon: int, sigma: float, seed: int) -> None:
        self.batch, self.num_arms, self.horizon, self.sigma = batch, num_arms, horizon, sigma
        self.rngs = [random.Random(seed * 1_000_003 + i) for i in range(batch)]
        self.reward = [0.0] * batch
        self.terminated = [False] * batch
        self.needs_reset = [False] * batch
        self.means: list[list[float]] = [[] for _ in range(batch)]
        self.best = [0.0] * batch
        self.counts: list[list[int]] = [[] for _ in range(batch)]
        self.sums: list[list[float]] = [[] for _ in range(batch)]
        self.step_count = [0] * batch
        self.regret = [0.0] * batch
        self.last_action = [-1] * batch
        self.last_reward = [0.0] * batch
        for i in range(batch):
            self._reset_row(i)

    def _reset_row(self, i: int) -> None:
        rng = self.rngs[i]
        self.means[i] = [rng.random() for _ in range(self.num_arms)]
        self.best[i] = max(self.means[i])
        self.counts[i] = [0] * self.num_arms
        self.sums[i] = [0.0] * self.num_arms
        self.step_count[i] = 0
        self.regret[i] = 0.0
        self.last_action[i] = -1
        self.last_reward[i] = 0.0
        self.reward[i] = 0.0
        self.terminated[i] = False
        self.needs_reset[i] = False

    def step(self, actions: list[int]) -> None:
        for i in range(self.batch):
            if self.needs_reset[i]:
                self._reset_row(i)
                continue
            a = actions[i]
            mean = self.means[i][a]
            r = self.rngs[i].gauss(mean, self.sigma)
            self.counts[i][a] += 1
            self.sums[i][a] += r
            self.regret[i] += self.best[i] - mean
            self.step_count[i] += 1
            self.last_action[i] = a
            self.last_reward[i] = r
            self.reward[i] = r
            done = self.step_count[i] >= self.horizon
            self.terminated[i] = done
            self.needs_reset[i] = done


class NumpyBandit:
    """The MAB vectorised over the batch with numpy, in place (preallocated outputs, flat
    indices, a fast path when no row needs a reset)."""

    def __init__(self, batch: int, num_arms: int, horizon: int, sigma: float, seed: int) -> None:
        self.batch, self.num_arms, self.horizon, self.sigma = batch, num_arms, horizon, sigma
        self.rng = np.random.default_rng(seed)
        self.means = np.zeros((batch, num_arms))
        self.best = np.zeros(batch)
        self.counts = np.zeros((batch, num_arms), np.int32)
        self.sums = np.zeros((batch, num_arms), np.float32)
        self.step_count = np.zeros(batch, np.int32)
        self.regret = np.zeros(batch, np.float32)
        self.last_action = np.full(batch, -1, np.int32)
        self.last_reward = np.zeros(batch, np.float32)
        self.reward = np.zeros(batch, np.float32)
        self.terminated = np.zeros(batch, bool)
        self.truncated = np.zeros(batch, bool)
        self._row_offsets = np.arange(batch, dtype=np.intp) * num_arms
        self._flat = np.empty(batch, np.intp)
        self._mean = np.empty(batch)
        self._noise = np.empty(batch)
        self._reset_rows(np.arange(batch))

    def _reset_rows(self, rows: np.ndarray) -> None:
        self.means[rows] = self.rng.random((rows.size, self.num_arms))
        self.best[rows] = self.means[rows].max(axis=1)
        self.counts[rows] = 0
        self.sums[rows] = 0.0
        self.step_count[rows] = 0
        self.regret[rows] = 0.0
        self.last_action[rows] = -1
        self.last_reward[rows] = 0.0
        self.reward[rows] = 0.0
        self.terminated[rows] = False

    def step(self, actions: np.ndarray) -> None:
        if self.terminated.any():
            done = np.flatnonzero(self.terminated)
            if done.size < self.batch:  # mixed batch: step the others row-subset-wise
                live = np.flatnonzero(~self.terminated)
                self._reset_rows(done)
                self._step_rows(live, actions[live])
                return
            self._reset_rows(done)
            return
        self._step_all(actions)

    def _step_all(self, actions: np.ndarray) -> None:
        flat = self._flat
        np.add(self._row_offsets, actions, out=flat)
        np.take(self.means, flat, out=self._mean)
        self.rng.standard_normal(self.batch, out=self._noise)
        self._noise *= self.sigma
        self._noise += self._mean
        self.reward[:] = self._noise
        self.counts.reshape(-1)[flat] += 1
        self.sums.reshape(-1)[flat] += self.reward
        self.regret += self.best - self._mean
        self.step_count += 1
        self.last_action[:] = actions
        self.last_reward[:] = self.reward
        np.greater_equal(self.step_count, self.horizon, out=self.terminated)

    def _step_rows(self, rows: np.ndarray, actions: np.ndarray) -> None:
        flat = rows * self.num_arms + actions
        mean = self.means.reshape(-1)[flat]
        reward = mean + self.sigma * self.rng.standard_normal(rows.size)
        self.reward[rows] = reward
        self.counts.reshape(-1)[flat] += 1
        self.sums.reshape(-1)[flat] += reward.astype(np.float32)
        self.regret[rows] += self.best[rows] - mean
        self.step_count[rows] += 1
        self.last_action[rows] = actions
        self.last_reward[rows] = self.reward[rows]
        self.terminated[rows] = self.step_count[rows] >= self.horizon


def bench_mab(batch: int, impl: str, seconds: float) -> float:
    actions = np.random.default_rng(1).integers(0, NUM_ARMS, batch).astype(np.int32)
    if impl == "rlft":
        env = make("mab", num_envs=batch, seed=0, num_arms=NUM_ARMS, horizon=HORIZON,
                   noise="medium")
        env.reset()
        step = env.step
        return _steps_per_second(lambda: step(actions), batch, seconds)
    if impl == "python":
        loop = PythonLoopBandit(batch, NUM_ARMS, HORIZON, SIGMA, 0)
        action_list = actions.tolist()
        return _steps_per_second(lambda: loop.step(action_list), batch, seconds)
    if impl == "numpy":
        vec = NumpyBandit(batch, NUM_ARMS, HORIZON, SIGMA, 0)
        return _steps_per_second(lambda: vec.step(actions), batch, seconds)
    raise ValueError(f"unknown impl {impl!r}")


# ---------------------------------------------------------------- contextual bandit
class NumpyContextualBandit:
    """The MovieLens-style contextual bandit vectorised with numpy, in place."""

    def __init__(self, rewards: np.ndarray, contexts: np.ndarray, users: np.ndarray,
                 batch: int, horizon: int, seed: int) -> None:
        self.rewards, self.contexts, self.users = rewards, contexts, users
        self.best_action = rewards.argmax(axis=1).astype(np.int32)
        self.best_reward = rewards.max(axis=1)
        self.batch, self.horizon = batch, horizon
        self.num_actions = rewards.shape[1]
        self.rng = np.random.default_rng(seed)
        self.user = np.zeros(batch, np.int32)
        self.context = np.zeros((batch, contexts.shape[1]), np.float32)
        self.expected = np.zeros((batch, self.num_actions), np.float32)
        self.optimal_action = np.zeros(batch, np.int32)
        self.step_count = np.zeros(batch, np.int32)
        self.regret = np.zeros(batch, np.float32)
        self.last_reward = np.zeros(batch, np.float32)
        self.reward = np.zeros(batch, np.float32)
        self.terminated = np.zeros(batch, bool)
        self._flat = np.empty(batch, np.intp)
        self._served = np.empty(batch, np.float32)
        self._reset_rows(np.arange(batch))

    def _serve(self, rows: np.ndarray) -> None:
        user = self.users[self.rng.integers(0, self.users.size, rows.size)]
        self.user[rows] = user
        self.context[rows] = self.contexts[user]
        self.expected[rows] = self.rewards[user]
        self.optimal_action[rows] = self.best_action[user]

    def _reset_rows(self, rows: np.ndarray) -> None:
        self.step_count[rows] = 0
        self.regret[rows] = 0.0
        self.last_reward[rows] = 0.0
        self.reward[rows] = 0.0
        self.terminated[rows] = False
        self._serve(rows)

    def step(self, actions: np.ndarray) -> None:
        if self.terminated.any():
            done = np.flatnonzero(self.terminated)
            live = np.flatnonzero(~self.terminated)
            self._reset_rows(done)
            if live.size:
                self._step_rows(live, actions[live])
            return
        flat = self._flat
        np.multiply(self.user, self.num_actions, out=flat)
        flat += actions
        np.take(self.rewards, flat, out=self._served)
        self.reward[:] = self._served
        self.last_reward[:] = self._served
        self.regret += self.best_reward[self.user] - self._served
        self.step_count += 1
        np.greater_equal(self.step_count, self.horizon, out=self.terminated)
        self._serve(np.arange(self.batch))

    def _step_rows(self, rows: np.ndarray, actions: np.ndarray) -> None:
        served = self.rewards[self.user[rows], actions]
        self.reward[rows] = served
        self.last_reward[rows] = served
        self.regret[rows] += self.best_reward[self.user[rows]] - served
        self.step_count[rows] += 1
        self.terminated[rows] = self.step_count[rows] >= self.horizon
        self._serve(rows)


def bench_contextual(batch: int, impl: str, seconds: float) -> float:
    actions = np.random.default_rng(1).integers(0, NUM_ARMS, batch).astype(np.int32)
    env = make("contextual_bandit", num_envs=batch, seed=0, num_arms=NUM_ARMS, horizon=HORIZON)
    if impl == "rlft":
        env.reset()
        step = env.step
        return _steps_per_second(lambda: step(actions), batch, seconds)
    if impl == "numpy":
        table = env.table
        vec = NumpyContextualBandit(table.rewards, table.contexts, env.split_users, batch,
                                    HORIZON, 0)
        return _steps_per_second(lambda: vec.step(actions), batch, seconds)
    raise ValueError(f"unknown impl {impl!r}")


def run(seconds_per_case: float = 1.0) -> list[dict]:
    """Measures every case; rows have keys env, impl, batch, steps_per_s."""
    results = []
    for batch in BATCH_SIZES:
        for impl in ("rlft", "numpy", "python"):
            results.append({"env": "mab", "impl": impl, "batch": batch,
                            "steps_per_s": bench_mab(batch, impl, seconds_per_case)})
        for impl in ("rlft", "numpy"):
            results.append({"env": "contextual_bandit", "impl": impl, "batch": batch,
                            "steps_per_s": bench_contextual(batch, impl, seconds_per_case)})
    return results


def speedups(results: list[dict]) -> dict[str, float]:
    """rlft / numpy ratios per env and batch, e.g. ``mab_vs_numpy_b64``."""
    rate = {(r["env"], r["impl"], r["batch"]): r["steps_per_s"] for r in results}
    out = {}
    for (env, impl, batch), value in rate.items():
        if impl == "rlft" and (env, "numpy", batch) in rate:
            out[f"{env}_vs_numpy_b{batch}"] = value / rate[(env, "numpy", batch)]
    return out


def main() -> None:
    # ``--smoke``: every case for a moment (the test suite's run); else seconds per case.
    seconds = 0.002 if "--smoke" in sys.argv else float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    results = run(seconds)
    print(f"{'env':<18} {'impl':<7} {'batch':>6} {'steps/s':>14}")
    for r in results:
        print(f"{r['env']:<18} {r['impl']:<7} {r['batch']:>6} {r['steps_per_s']:>14,.0f}")
    for key, value in speedups(results).items():
        print(f"{key}: {value:.1f}x")


if __name__ == "__main__":
    main()
