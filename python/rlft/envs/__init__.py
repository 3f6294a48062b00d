"""Batched decision-making environments (C++ core) behind the Gymnasium vector contract."""

from rlft.envs.registry import make, register, registered
from rlft.envs.vector import CoreVectorEnv

# Importing the env modules registers them with make().
from rlft.envs import bandits as _bandits  # noqa: E402,F401
from rlft.envs import contextual_bandit as _contextual_bandit  # noqa: E402,F401
from rlft.envs import tic_tac_toe as _tic_tac_toe  # noqa: E402,F401
from rlft.envs.gymnasium_registry import register_gymnasium_envs  # noqa: E402

register_gymnasium_envs()  # gymnasium.make("rlft/MultiArmedBandit-v0") and make_vec

__all__ = ["CoreVectorEnv", "make", "register", "registered"]
