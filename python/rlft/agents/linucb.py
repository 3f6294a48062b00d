"""LinUCB with disjoint arms (Li et al. 2010; Chu et al. 2011), as EVOLvE runs it on the
MovieLens contextual bandit: one ridge regression per arm on the user's context vector,
A_a initialised to the identity, alpha = 0.5, ties broken at random.

Statistics are per row and per episode: a row forgets what it learnt when a new episode
starts there (its observation ``step`` is 0), like an LLM agent whose context is cleared.
"""

from __future__ import annotations

import numpy as np

from rlft.agents.base import BatchedAgent, Observation, check_positive, random_argmax


class LinUCBAgent(BatchedAgent):
    """Pulls argmax_a theta_a . x + alpha * sqrt(x^T A_a^{-1} x), theta_a = A_a^{-1} b_a,
    with A_a = I + sum x x^T and b_a = sum r x over the steps where arm a was pulled.

    A_a^{-1} is kept directly and updated by Sherman-Morrison (rank-one, exact).
    """

    name = "linucb"

    def __init__(self, alpha: float = 0.5) -> None:
        super().__init__()
        self.alpha = check_positive("alpha", alpha, allow_zero=True)
        self.a_inv: np.ndarray | None = None  # float64[B, K, d, d]
        self.b: np.ndarray | None = None  # float64[B, K, d]
        self._last_context: np.ndarray | None = None  # float64[B, d], context of the last act

    def reset(self, num_envs: int, num_actions: int, seed: int) -> None:
        super().reset(num_envs, num_actions, seed)
        self.a_inv = None  # sized at the first act, when the context dimension is known
        self.b = None
        self._last_context = None

    def _context(self, obs: Observation) -> np.ndarray:
        if "context" not in obs:
            raise ValueError(f"LinUCBAgent needs observation 'context'; got keys {sorted(obs)}")
        context = np.asarray(obs["context"], dtype=np.float64)
        if context.ndim != 2 or context.shape[0] != self.num_envs:
            raise ValueError(f"observation 'context' has shape {context.shape}, "
                             f"expected ({self.num_envs}, d)")
        if self.a_inv is not None and context.shape[1] != self.a_inv.shape[-1]:
            raise ValueError(f"context dimension changed from {self.a_inv.shape[-1]} to "
                             f"{context.shape[1]}")
        if not np.all(np.isfinite(context)):
            raise ValueError("observation 'context' has non-finite values")
        return context

    def _clear_rows(self, rows: np.ndarray) -> None:
        assert self.a_inv is not None and self.b is not None
        dim = self.a_inv.shape[-1]
        self.a_inv[rows] = np.eye(dim)
        self.b[rows] = 0.0

    def act(self, obs: Observation, info: Observation) -> np.ndarray:
        streams = self._require_reset()
        context = self._context(obs)
        step = self._obs_array(obs, "step")
        if self.a_inv is None:
            dim = context.shape[1]
            shape = (self.num_envs, self.num_actions, dim, dim)
            self.a_inv = np.broadcast_to(np.eye(dim), shape).copy()
            self.b = np.zeros((self.num_envs, self.num_actions, dim))
        assert self.b is not None
        self._clear_rows(step == 0)  # a new episode starts in these rows
        theta = np.einsum("bkij,bkj->bki", self.a_inv, self.b)  # [B, K, d]
        a_inv_x = np.einsum("bkij,bj->bki", self.a_inv, context)  # [B, K, d]
        width = np.sqrt(np.maximum(np.einsum("bj,bkj->bk", context, a_inv_x), 0.0))  # [B, K]
        scores = np.einsum("bki,bi->bk", theta, context) + self.alpha * width
        self._last_context = context.copy()
        return random_argmax(scores, streams)

    def observe(self, actions: np.ndarray, reward: np.ndarray, obs: Observation,
                info: Observation) -> None:
        if self._last_context is None or self.a_inv is None or self.b is None:
            raise RuntimeError("LinUCBAgent.observe() called before act()")
        actions = np.asarray(actions)
        reward = np.asarray(reward, dtype=np.float64)
        if actions.shape != (self.num_envs,) or reward.shape != (self.num_envs,):
            raise ValueError(f"actions and reward must have shape ({self.num_envs},), got "
                             f"{actions.shape} and {reward.shape}")
        if np.any(actions < 0) or np.any(actions >= self.num_actions):
            raise ValueError(f"actions must be in [0, {self.num_actions})")
        step = self._obs_array(obs, "step")
        # Step 0 after a step means the env started a new episode and ignored the action.
        rows = np.flatnonzero(step > 0)
        arms = actions[rows].astype(np.int64)
        x = self._last_context[rows]  # [R, d]
        a_inv = self.a_inv[rows, arms]  # [R, d, d]
        a_inv_x = np.einsum("rij,rj->ri", a_inv, x)
        denom = 1.0 + np.einsum("ri,ri->r", x, a_inv_x)
        update = np.einsum("ri,rj->rij", a_inv_x, a_inv_x) / denom[:, None, None]
        self.a_inv[rows, arms] = a_inv - update  # Sherman-Morrison for A + x x^T
        self.b[rows, arms] += reward[rows, None] * x
