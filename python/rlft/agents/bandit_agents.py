"""Classic multi-armed-bandit baselines: random, greedy, epsilon-greedy, UCB, Thompson sampling.

All of them are stateless apart from their random streams: they read the per-arm pull
``counts`` int32[B, K] and ``reward_sums`` float32[B, K] from the observation, which the
bandit env keeps for the current episode. Ties are broken uniformly at random.
"""

from __future__ import annotations

from abc import abstractmethod

import math

import numpy as np

from rlft.agents.base import BatchedAgent, Observation, check_positive, random_argmax


def empirical_means(counts: np.ndarray, reward_sums: np.ndarray,
                    untried_value: float = np.nan) -> np.ndarray:
    """float64[B, K] mean reward per arm; arms never pulled get ``untried_value``."""
    counts = counts.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = reward_sums.astype(np.float64) / counts
    return np.where(counts > 0, means, untried_value)


class _BanditAgent(BatchedAgent):
    """Reads and checks the bandit statistics from the observation."""

    def _stats(self, obs: Observation) -> tuple[np.ndarray, np.ndarray]:
        self._require_reset()
        counts = self._obs_array(obs, "counts", (self.num_actions,))
        sums = self._obs_array(obs, "reward_sums", (self.num_actions,))
        if np.any(counts < 0):
            raise ValueError("observation 'counts' has negative entries")
        return counts, sums


class RandomAgent(BatchedAgent):
    """Uniform over actions; over legal actions when the observation has a ``legal_mask``
    (tic-tac-toe), so it doubles as the random tic-tac-toe player."""

    name = "random"

    def act(self, obs: Observation, info: Observation) -> np.ndarray:
        streams = self._require_reset()
        allowed = None
        if "legal_mask" in obs:
            legal = self._obs_array(obs, "legal_mask", (self.num_actions,)).astype(bool)
            # A finished game has no legal cell; its action is ignored by the env's autoreset.
            allowed = np.where(legal.any(axis=1, keepdims=True), legal, True)
        return random_argmax(np.zeros((self.num_envs, self.num_actions)), streams, allowed)


def _greedy_values(counts: np.ndarray, sums: np.ndarray,
                   untried_value: float | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Values and allowed mask for a greedy choice; None = untried arms are not candidates
    (every arm is a candidate before the first pull)."""
    if untried_value is None:
        tried = counts > 0
        allowed = np.where(tried.any(axis=1, keepdims=True), tried, True)
        return empirical_means(counts, sums, 0.0), allowed
    return empirical_means(counts, sums, untried_value), None


class GreedyAgent(_BanditAgent):
    """Pulls the arm with the best empirical mean so far ("favouring the best action seen so
    far", the paper's notion of greediness).

    untried_value: the value an arm has before its first pull. The default 0.0 is the
    zero-initialised estimate of Sutton & Barto: an unpulled arm is taken only once every
    pulled arm looks worse than 0. ``math.inf`` tries every arm once first; ``None`` never
    picks an unpulled arm after the first step (the most extreme greedy player).
    """

    name = "greedy"

    def __init__(self, untried_value: float | None = 0.0) -> None:
        super().__init__()
        if untried_value is not None:
            if isinstance(untried_value, bool) or not isinstance(untried_value, (int, float)) \
                    or math.isnan(untried_value):
                raise ValueError(f"untried_value must be a number or None, got {untried_value!r}")
            untried_value = float(untried_value)
        self.untried_value = untried_value

    def act(self, obs: Observation, info: Observation) -> np.ndarray:
        counts, sums = self._stats(obs)
        values, allowed = _greedy_values(counts, sums, self.untried_value)
        return random_argmax(values, self._require_reset(), allowed)


class EpsilonGreedyAgent(GreedyAgent):
    """With probability ``epsilon`` a uniformly random arm, otherwise the greedy choice
    (same ``untried_value`` rule as GreedyAgent). The paper uses epsilon = 0.1."""

    name = "epsilon_greedy"

    def __init__(self, epsilon: float = 0.1, untried_value: float | None = 0.0) -> None:
        super().__init__(untried_value)
        epsilon = check_positive("epsilon", epsilon, allow_zero=True)
        if epsilon > 1:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
        self.epsilon = epsilon

    def act(self, obs: Observation, info: Observation) -> np.ndarray:
        counts, sums = self._stats(obs)
        streams = self._require_reset()
        explore = streams.uniform() < self.epsilon  # [B]
        random_arm = random_argmax(np.zeros(counts.shape), streams)
        values, allowed = _greedy_values(counts, sums, self.untried_value)
        greedy_arm = random_argmax(values, streams, allowed)
        return np.where(explore, random_arm, greedy_arm).astype(np.int32)


class _IndexAgent(_BanditAgent):
    """Try every arm once (in random order), then the arm with the largest index
    mean + bonus(counts)."""

    @abstractmethod
    def bonus(self, counts: np.ndarray) -> np.ndarray:
        """float[B, K] exploration bonus added to the empirical means."""

    def act(self, obs: Observation, info: Observation) -> np.ndarray:
        counts, sums = self._stats(obs)
        safe_counts = np.maximum(counts, 1).astype(np.float64)
        index = empirical_means(counts, sums, 0.0) + self.bonus(safe_counts)
        index = np.where(counts > 0, index, np.inf)  # untried arms first
        return random_argmax(index, self._require_reset())


class UCBAgent(_IndexAgent):
    """The paper's UCB expert (Fig. 12 rationales): try every arm once, then
    mean + c * sqrt(1 / n_a), with c = 1."""

    name = "ucb"

    def __init__(self, c: float = 1.0) -> None:
        super().__init__()
        self.c = check_positive("c", c, allow_zero=True)

    def bonus(self, counts: np.ndarray) -> np.ndarray:
        return self.c * np.sqrt(1.0 / counts)


class UCB1Agent(_IndexAgent):
    """UCB1 (Auer et al. 2002): try every arm once, then mean + c * sqrt(ln t / n_a) with t
    the number of pulls so far. c = sqrt(2) is Auer's constant; EVOLvE uses sqrt(0.5)."""

    name = "ucb1"

    def __init__(self, c: float = math.sqrt(2.0)) -> None:
        super().__init__()
        self.c = check_positive("c", c, allow_zero=True)

    def bonus(self, counts: np.ndarray) -> np.ndarray:
        total = counts.sum(axis=1, keepdims=True)
        return self.c * np.sqrt(np.log(np.maximum(total, 1.0)) / counts)


class ThompsonAgent(_BanditAgent):
    """Thompson sampling: draw a mean per arm from its posterior, pull the largest.

    family "gaussian": rewards N(mu_a, noise_std^2) with known noise_std and prior
    mu_a ~ N(prior_mean, prior_std^2) (conjugate normal posterior).
    family "bernoulli": rewards in {0, 1}, prior Beta(1, 1), posterior
    Beta(1 + successes, 1 + failures).
    """

    name = "thompson"
    families = ("gaussian", "bernoulli")

    def __init__(self, family: str = "gaussian", noise_std: float = 1.0,
                 prior_mean: float = 0.0, prior_std: float = 1.0) -> None:
        super().__init__()
        if family not in self.families:
            raise ValueError(f"family must be one of {list(self.families)}, got {family!r}")
        self.family = family
        self.noise_std = check_positive("noise_std", noise_std)
        self.prior_std = check_positive("prior_std", prior_std)
        if isinstance(prior_mean, bool) or not isinstance(prior_mean, (int, float)) \
                or not math.isfinite(prior_mean):
            raise ValueError(f"prior_mean must be a finite number, got {prior_mean!r}")
        self.prior_mean = float(prior_mean)

    def act(self, obs: Observation, info: Observation) -> np.ndarray:
        counts, sums = self._stats(obs)
        streams = self._require_reset()
        counts = counts.astype(np.float64)
        sums = sums.astype(np.float64)
        if self.family == "gaussian":
            precision = 1.0 / self.prior_std**2 + counts / self.noise_std**2
            mean = (self.prior_mean / self.prior_std**2 + sums / self.noise_std**2) / precision
            samples = streams.normal(mean, 1.0 / np.sqrt(precision))
        else:
            if np.any(sums < -1e-6) or np.any(sums > counts + 1e-6):
                raise ValueError("Bernoulli Thompson sampling needs rewards in [0, 1]: "
                                 "'reward_sums' must lie between 0 and 'counts'")
            successes = np.clip(sums, 0.0, counts)
            samples = streams.beta(1.0 + successes, 1.0 + counts - successes)
        return np.argmax(samples, axis=1).astype(np.int32)  # continuous draws: ties have prob. 0
