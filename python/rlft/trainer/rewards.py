"""Reward shaping: normalised env reward, the invalid-output penalty, the exploration bonus."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class RunningMeanStd:
    """Running mean and variance of env rewards (Chan et al.'s parallel update).

    Normalising the env reward before adding the -5 penalty keeps the penalty's scale fixed
    whatever the env's reward scale (the paper normalises env rewards, Table 1).
    """

    mean: float = 0.0
    var: float = 1.0
    count: float = 1e-4

    def update(self, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float64).ravel()
        if values.size == 0:
            return
        batch_mean = float(values.mean())
        batch_var = float(values.var())
        total = self.count + values.size
        delta = batch_mean - self.mean
        self.mean += delta * values.size / total
        m2 = self.var * self.count + batch_var * values.size + delta**2 * self.count * values.size / total
        self.var = m2 / total
        self.count = total

    def normalize(self, values: np.ndarray, eps: float = 1e-8) -> np.ndarray:
        return (np.asarray(values, dtype=np.float64) - self.mean) / np.sqrt(self.var + eps)

    def state_dict(self) -> dict:
        return {"mean": self.mean, "var": self.var, "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        self.mean, self.var, self.count = state["mean"], state["var"], state["count"]


def shaped_reward(env_reward: np.ndarray, invalid: np.ndarray, penalty: float = -5.0,
                  novel_action: np.ndarray | None = None, exploration_bonus: float = 0.0
                  ) -> np.ndarray:
    """r = r_env (already normalised) + penalty * [no valid action] + bonus * [untried action].

    env_reward, invalid, novel_action: [B] for one step.
    """
    reward = np.asarray(env_reward, dtype=np.float64) + penalty * np.asarray(invalid, dtype=bool)
    if novel_action is not None and exploration_bonus:
        reward = reward + exploration_bonus * np.asarray(novel_action, dtype=bool)
    return reward
