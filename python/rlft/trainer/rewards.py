"""Reward shaping: scale-normalised env reward, the invalid-output penalty, the exploration
bonus."""

from __future__ import annotations

import numpy as np
from gymnasium.wrappers.utils import RunningMeanStd


class RewardScaler:
    """Scale-only normalisation of env rewards, Gymnasium's ``NormalizeReward`` rule: rewards
    are divided by a running standard deviation of each row's discounted return, never shifted.

    Normalising before the -5 penalty is added keeps the penalty's weight fixed whatever the
    env's reward scale (the paper normalises env rewards). Subtracting a running mean instead
    would put ``-mean / std`` on every step, zero-reward ones included: a shaping that is not
    potential-based and pays for longer or shorter episodes. Here a zero reward stays zero.
    """

    def __init__(self, gamma: float, epsilon: float = 1e-8) -> None:
        self.gamma = gamma
        self.epsilon = epsilon
        self.return_stats = RunningMeanStd(shape=())

    def scale(self, rewards: np.ndarray, present: np.ndarray,
              update_with: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """rewards, present: [rows, steps] of one rollout, every row one episode from step 0
        (present is False after a row ended). Updates the running statistics with every
        present step's discounted return so far, then divides all rewards by their std.
        update_with: the (rewards, present) the statistics learn from instead, e.g. every
        rank's rollout, so that all ranks scale alike and rank 0's checkpoint resumes them."""
        rewards = np.where(present, np.asarray(rewards, dtype=np.float64), 0.0)
        seen, seen_present = (rewards, present) if update_with is None else update_with
        seen = np.where(seen_present, np.asarray(seen, dtype=np.float64), 0.0)
        running = np.zeros(seen.shape[0])
        for step in range(seen.shape[1]):
            running = self.gamma * running + seen[:, step]
            if seen_present[:, step].any():
                self.return_stats.update(running[seen_present[:, step]])
        return rewards / np.sqrt(self.return_stats.var + self.epsilon)

    def state_dict(self) -> dict[str, float]:
        stats = self.return_stats
        return {"mean": float(stats.mean), "var": float(stats.var), "count": float(stats.count)}

    def load_state_dict(self, state: dict[str, float]) -> None:
        stats = self.return_stats
        stats.mean, stats.var, stats.count = (np.float64(state["mean"]), np.float64(state["var"]),
                                              float(state["count"]))


def shaped_reward(env_reward: np.ndarray, invalid: np.ndarray, penalty: float = -5.0,
                  novel_action: np.ndarray | None = None, exploration_bonus: float = 0.0
                  ) -> np.ndarray:
    """r = r_env (already normalised) + penalty * [no valid action] + bonus * [untried action].

    All arrays have one entry per transition.
    """
    reward = np.asarray(env_reward, dtype=np.float64) + penalty * np.asarray(invalid, dtype=bool)
    if novel_action is not None and exploration_bonus:
        reward = reward + exploration_bonus * np.asarray(novel_action, dtype=bool)
    return reward
