"""rlft's envs in Gymnasium's registry, so Gymnasium tools can build them by id:

    gymnasium.make("rlft/MultiArmedBandit-v0", num_arms=10)       # one instance
    gymnasium.make_vec("rlft/MultiArmedBandit-v0", num_envs=64)   # the batched C++ env

``make_vec`` builds exactly what ``rlft.envs.make`` builds (keyword options, ``seed`` and
``num_threads`` pass through), so it stays the fast path. ``make`` wraps a 1-row batch in a
``gymnasium.Env`` for tools that take one env (the env checker, single-env wrappers).
"""

from __future__ import annotations

import functools
from typing import Any, Mapping

import gymnasium as gym
import numpy as np

from rlft.envs.registry import make
from rlft.envs.vector import as_action_array

# Gymnasium id -> rlft.envs.make name.
GYMNASIUM_IDS = {
    "rlft/MultiArmedBandit-v0": "mab",
    "rlft/ContextualBandit-v0": "contextual_bandit",
    "rlft/TicTacToe-v0": "tictactoe",
}


def _row(buffers: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Row 0 of each buffer, copied: the batch's buffers are overwritten by the next call."""
    return {key: np.array(value[0]) for key, value in buffers.items()}


class SingleEnv(gym.Env):
    """One instance of an rlft env: a 1-row batched env behind the ``gymnasium.Env`` API.

    Observations and info are row 0's values (scalars as 0-d arrays). The batch's autoreset
    is not exposed: after ``terminated`` or ``truncated``, call ``reset()``. The batched env
    stays reachable as ``vector_env`` (the contextual bandit's dataset lives there).
    """

    metadata = {"render_modes": []}

    def __init__(self, env_name: str, *, seed: int = 0, render_mode: str | None = None,
                 **options: Any) -> None:
        if render_mode is not None:
            raise ValueError(f"rlft envs do not render; got render_mode={render_mode!r}")
        self.vector_env = make(env_name, num_envs=1, seed=seed, **options)
        self.observation_space = self.vector_env.single_observation_space
        self.action_space = self.vector_env.single_action_space
        self._needs_reset = True

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        """options: ``task_id`` picks the instance to play (pool mode, as ``task_ids``)."""
        super().reset(seed=seed)
        options = dict(options or {})
        task_id = options.pop("task_id", None)
        if options:
            raise ValueError(f"unknown reset option(s): {sorted(options)}; known: ['task_id']")
        batch_options = None if task_id is None else {"task_ids": np.array([task_id], np.int64)}
        obs, info = self.vector_env.reset(seed=seed, options=batch_options)
        self._needs_reset = False
        return _row(obs), _row(info)

    def step(self, action: Any) -> tuple[dict, float, bool, bool, dict]:
        if self._needs_reset:
            raise RuntimeError("call reset() first: the episode has not started or has ended")
        obs, reward, terminated, truncated, info = self.vector_env.step(
            as_action_array([action]))
        done_by_task, cut = bool(terminated[0]), bool(truncated[0])
        self._needs_reset = done_by_task or cut
        return _row(obs), float(reward[0]), done_by_task, cut, _row(info)

    def close(self) -> None:
        self.vector_env.close()


def register_gymnasium_envs() -> None:
    """Registers each id once; importing ``rlft.envs`` again (or reloading it) is harmless."""
    for env_id, name in GYMNASIUM_IDS.items():
        if env_id in gym.registry:
            continue
        gym.register(env_id, entry_point=functools.partial(SingleEnv, name),
                     vector_entry_point=functools.partial(make, name))
