"""The Python side of a batched C++ env: numpy buffers and the Gymnasium vector contract.

Python allocates every buffer the C++ env writes (``buffer_specs`` says which), hands them
to the C++ object once, and then only passes actions. ``reset`` and ``step`` return views of
those buffers: they are updated in place by the next call, so copy what you keep.

Autoreset rule (Gymnasium's NEXT_STEP mode): after a row reports ``terminated`` or
``truncated``, the next ``step`` ignores that row's action, starts a new episode there and
returns reward 0, ``terminated = truncated = False`` and the new episode's first observation.
"""

from __future__ import annotations

from typing import Any, ClassVar, Mapping

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode

MAX_SEED = 2**64 - 1


def check_seed(seed: Any, name: str = "seed") -> int:
    """Seeds are integers in [0, 2**64); bools and floats are rejected, not truncated."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(seed).__name__}")
    if not 0 <= int(seed) <= MAX_SEED:
        raise ValueError(f"{name} must be in [0, 2**64), got {seed}")
    return int(seed)


def as_action_array(actions: Any) -> np.ndarray:
    """Lists become int32 arrays; numpy arrays pass through unchanged so that the C++
    boundary check reports a wrong dtype, shape or layout instead of silently casting."""
    if isinstance(actions, np.ndarray):
        return actions
    array = np.asarray(actions)
    if array.dtype.kind not in "iu":
        raise TypeError(f"actions must be integers, got dtype {array.dtype}")
    return np.ascontiguousarray(array, dtype=np.int32)


class CoreVectorEnv(gym.vector.VectorEnv):
    """Base of every rlft vector env: subclasses say which buffers are observations."""

    #: Buffers returned as the observation dict; the remaining ones (minus reward,
    #: terminated, truncated) go into ``info``.
    observation_keys: ClassVar[tuple[str, ...]] = ()
    metadata: ClassVar[dict[str, Any]] = {"autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, core_class: Any, core_config: Any, num_envs: int, seed: int,
                 num_threads: int) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive int, got {num_envs!r}")
        if isinstance(num_threads, bool) or not isinstance(num_threads, (int, np.integer)) \
                or num_threads < 1:
            raise ValueError(f"num_threads must be a positive int, got {num_threads!r}")
        self.num_envs = int(num_envs)
        self.seed_value = check_seed(seed)
        specs = core_class.buffer_specs(core_config, self.num_envs)
        self.buffers: dict[str, np.ndarray] = {
            name: np.zeros(shape, dtype=np.dtype(dtype)) for name, dtype, shape, _ in specs
        }
        self.buffer_docs: dict[str, str] = {name: doc for name, _, _, doc in specs}
        self._core = core_class(core_config, self.num_envs, self.seed_value, int(num_threads),
                                self.buffers)
        self._reward = self.buffers["reward"]
        self._terminated = self.buffers["terminated"]
        self._truncated = self.buffers["truncated"]
        self._obs = {key: self.buffers[key] for key in self.observation_keys}
        hidden = set(self.observation_keys) | {"reward", "terminated", "truncated"}
        self._info = {key: value for key, value in self.buffers.items() if key not in hidden}
        self.single_action_space = gym.spaces.Discrete(self._core.num_actions)
        self.action_space = gym.spaces.MultiDiscrete(np.full(self.num_envs, self._core.num_actions))
        self.single_observation_space = gym.spaces.Dict({
            key: _box_for(self.buffers[key][0]) for key in self.observation_keys})
        self.observation_space = gym.spaces.Dict({
            key: _box_for(self.buffers[key]) for key in self.observation_keys})
        self._started = False

    @property
    def num_actions(self) -> int:
        return int(self._core.num_actions)

    def reset(self, *, seed: int | None = None,
              options: Mapping[str, Any] | None = None) -> tuple[dict, dict]:
        """Starts new episodes. options: ``reset_mask`` (bool[B]) resets only those rows;
        ``task_ids`` (int64[B]) picks the instance each row plays (pool mode)."""
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        task_ids = options.pop("task_ids", None)
        if options:
            raise ValueError(f"unknown reset option(s): {sorted(options)}; "
                             "known: ['reset_mask', 'task_ids']")
        if seed is not None:
            seed = check_seed(seed)
        if not self._started and mask is not None and not np.all(mask):
            raise ValueError("the first reset must reset every row (no partial reset_mask)")
        if mask is not None and not isinstance(mask, np.ndarray):
            mask = np.asarray(mask, dtype=bool)
        if task_ids is not None and not isinstance(task_ids, np.ndarray):
            task_ids = np.asarray(task_ids, dtype=np.int64)
        self._core.reset(seed, mask, task_ids)
        self._started = True
        return self._obs, self._info

    def step(self, actions: Any) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray, dict]:
        if not self._started:
            raise RuntimeError("call reset() before step()")
        self._core.step(as_action_array(actions))
        return self._obs, self._reward, self._terminated, self._truncated, self._info

    def close(self, **kwargs: Any) -> None:  # nothing to release: buffers are numpy-owned
        return None


def _box_for(array: np.ndarray) -> gym.spaces.Box:
    if array.dtype == np.bool_:
        return gym.spaces.MultiBinary(array.shape)
    if np.issubdtype(array.dtype, np.integer):
        info = np.iinfo(array.dtype)
        return gym.spaces.Box(info.min, info.max, shape=array.shape, dtype=array.dtype)
    return gym.spaces.Box(-np.inf, np.inf, shape=array.shape, dtype=array.dtype)
