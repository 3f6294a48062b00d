"""MovieLens-style contextual bandit (``make("contextual_bandit")``, paper §2.2).

Each step serves a user drawn uniformly from the split's users; the agent recommends one
of the K most rated movies and gets that user's entry of the rank-k approximation of the
rating matrix (see rlft.envs.movielens). Regret adds best reward - chosen reward. Episodes
end at the horizon with ``terminated=True``; at the horizon the observation keeps the last
served user. ``env.dataset`` (users table, raw titles) and ``env.movie_names`` feed the text
layer; ``obs["user"]`` indexes the dataset's user table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from rlft import _core
from rlft.envs import movielens
from rlft.envs.bandits import INT32_MAX, check_choice, check_float, check_int
from rlft.envs.registry import register
from rlft.envs.vector import CoreVectorEnv, check_seed


@dataclass
class ContextualBanditConfig:
    """Settings of ``make("contextual_bandit")``. Invalid values raise, naming the field."""

    data_dir: str | None = field(default=None, metadata={
        "help": "MovieLens directory (100K or 1M files); None: the synthetic dataset, "
                "generated once into ~/.cache/rlft (or RLFT_CACHE_DIR)"})
    variant: str = field(default="auto", metadata={"help": "'auto', '100k' or '1m' file format"})
    num_arms: int = field(default=10, metadata={
        "help": "K: the most rated movies to recommend from (paper: 5, 10, 20)"})
    rank: int = field(default=10, metadata={"help": "SVD rank k (uses min(rank, num_arms))"})
    split: str = field(default="train", metadata={
        "help": "'train': the first num_train_users users; 'eval': all the others"})
    num_train_users: int | None = field(default=None, metadata={
        "help": "size of the train split; None: 100 for 100K-format data, 200 for 1M (EVOLvE)"})
    horizon: int = field(default=50, metadata={
        "help": "steps per episode; terminated at the horizon"})
    noise_std: float = field(default=0.0, metadata={
        "help": "stddev of Gaussian noise added to served rewards (0: deterministic rewards)"})
    synthetic_seed: int = field(default=0, metadata={"help": "seed of the synthetic dataset"})
    synthetic_num_users: int = field(default=300, metadata={
        "help": "users of the synthetic dataset"})
    synthetic_num_movies: int = field(default=60, metadata={
        "help": "movies of the synthetic dataset"})

    def __post_init__(self) -> None:
        if self.data_dir is not None and not isinstance(self.data_dir, (str, bytes)) \
                and not hasattr(self.data_dir, "__fspath__"):
            raise TypeError(f"data_dir must be a path or None, got {type(self.data_dir).__name__}")
        check_choice("variant", self.variant, ("auto", "100k", "1m"))
        check_int("num_arms", self.num_arms, 2, 2**20)
        check_int("rank", self.rank, 1)
        check_choice("split", self.split, ("train", "eval"))
        if self.num_train_users is not None:
            check_int("num_train_users", self.num_train_users, 1)
        check_int("horizon", self.horizon, 1, INT32_MAX)
        check_float("noise_std", self.noise_std, 0.0)
        check_seed(self.synthetic_seed, "synthetic_seed")
        check_int("synthetic_num_users", self.synthetic_num_users, 2)
        check_int("synthetic_num_movies", self.synthetic_num_movies, 2)

    def resolve_data_dir(self) -> str:
        if self.data_dir is not None:
            return str(self.data_dir)
        return str(movielens.synthetic_movielens_dir(
            self.synthetic_seed, self.synthetic_num_users, self.synthetic_num_movies))


def split_users(num_users: int, num_train_users: int, split: str) -> np.ndarray:
    """Rows of the split: train [0, num_train_users), eval [num_train_users, num_users)."""
    if num_train_users >= num_users:
        raise ValueError(f"num_train_users={num_train_users} leaves no eval users "
                         f"(the data has {num_users} users)")
    rows = np.arange(num_users, dtype=np.int64)
    return rows[:num_train_users] if split == "train" else rows[num_train_users:]


class ContextualBanditEnv(CoreVectorEnv):
    """Batched MovieLens contextual bandits. Buffers (docs/architecture.md): obs ``step``,
    ``user``, ``context``; info ``optimal_action``, ``regret``, ``last_reward``,
    ``expected_rewards``."""

    observation_keys = ("step", "user", "context")

    def __init__(self, config: ContextualBanditConfig, num_envs: int = 1, seed: int = 0,
                 num_threads: int = 1) -> None:
        if not isinstance(config, ContextualBanditConfig):
            raise TypeError(f"config must be a ContextualBanditConfig, got {type(config).__name__}")
        self.config = config
        self.dataset = movielens.load_movielens_cached(config.resolve_data_dir(), config.variant)
        self.table = movielens.build_bandit_table(self.dataset, config.num_arms, config.rank)
        num_train = (config.num_train_users if config.num_train_users is not None
                     else movielens.default_num_train_users(self.dataset.variant))
        self.split_users = split_users(self.dataset.num_users, num_train, config.split)
        core = _core.ContextualBanditConfig()
        core.horizon = int(config.horizon)
        core.noise_std = float(config.noise_std)
        core.set_data(self.table.rewards, self.table.contexts, self.split_users)
        super().__init__(_core.ContextualBanditVec, core, num_envs, seed, num_threads)

    @property
    def movie_names(self) -> tuple[str, ...]:
        """Action names, e.g. 'star_wars_(1977)'; action a recommends movie_names[a]."""
        return self.table.movie_names

    def reset(self, *, seed: int | None = None,
              options: Mapping[str, Any] | None = None) -> tuple[dict, dict]:
        """As CoreVectorEnv.reset; ``task_ids`` is not an option here (users are drawn per step)."""
        if options and "task_ids" in options:
            raise ValueError("the contextual bandit has no task ids: "
                             "unknown reset option 'task_ids'")
        return super().reset(seed=seed, options=options)


register("contextual_bandit", ContextualBanditConfig, ContextualBanditEnv,
         "MovieLens-style contextual bandit: recommend one of K movies (paper §2.2)",
         aliases=("movielens",))
