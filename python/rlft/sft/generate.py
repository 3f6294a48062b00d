"""Supervised examples played out in the real envs and rendered with RLFT's own prompts.

An example is one step of one episode: the prompt the policy would see (chat messages, not yet
templated or tokenised: that depends on the model) and the target answer. Three experts:

- ``ucb``: the paper's UCB expert: every arm once in label order, then the highest
  mean + sqrt(1 / count), lowest index on ties. bc targets are ``ACTION=<label>``; tc targets
  are the Fig. 12 rationale (``ucb_thought_rationale``) ending in the same action.
- ``minimax``: the perfect tic-tac-toe player; targets ``ACTION=<cell>``.
- ``format``: a uniformly random valid action in the same output format (optionally after a
  short rationale): a model trained on it follows the format and has none of the skill.

The experts are text agents (``rlft.sft.experts``) played through the one episode loop
(``rlft.agents.rollout.run_episodes``), each step's record one example. The expert's action is
also the one executed, so every prompt is a state the expert reaches.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from rlft.agents import make_agent, run_episodes
from rlft.envs import make
from rlft.sft.config import DataConfig
from rlft.sft.experts import AnsweringAgent, ExampleStep, TextExpert, UCBExpert
from rlft.text.prompts import PromptStyle


def derived_seed(*parts: int) -> int:
    """A 31-bit seed from a tuple of ints (stable across numpy versions)."""
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0] >> 1)


def make_setting_env(setting: dict[str, Any], config: DataConfig, seed: int) -> Any:
    """The env of one setting; bandits are the training pool only (held-out ids unplayed)."""
    if setting["env"] == "mab":
        return make("mab", num_envs=config.num_envs, seed=seed, num_arms=setting["num_arms"],
                    horizon=setting["horizon"], noise=setting["noise"],
                    reward_type=setting["reward_type"], pooled=True, split="train",
                    pool_size=setting["pool_size"])
    return make("tictactoe", num_envs=config.num_envs, seed=seed, opponent=setting["opponent"])


def make_expert(config: DataConfig, env: Any) -> TextExpert:
    """The text agent that plays and answers config.kind's examples."""
    if config.kind == "ucb":
        return UCBExpert(env, config.prompt, config.target,
                         compact=config.prompt.style is not PromptStyle.FULL)
    if config.kind == "minimax":
        return AnsweringAgent(env, config.prompt, make_agent("minimax"))
    return AnsweringAgent(env, config.prompt, make_agent("random"), config.rationale)


def play_examples(env: Any, expert: TextExpert, episodes: int, seed: int,
                  pool_size: int | None) -> Iterator[dict[str, Any]]:
    """One record per step of `episodes` episodes, played num_envs at a time through the one
    episode loop (round r with seed derived_seed(seed, r)). Bandit rows of round r play pool
    ids (r * num_envs + row) mod pool_size, so the pool is covered evenly; rows past
    `episodes` in the last round are played and dropped."""
    num_envs = env.num_envs
    for first in range(0, episodes, num_envs):
        ids = None if pool_size is None else (first + np.arange(num_envs)) % pool_size
        options = None if ids is None else {"task_ids": ids.astype(np.int64)}
        rollout = run_episodes(env, expert, seed=derived_seed(seed, first // num_envs),
                               reset_options=options)
        for row, step, record in rollout.records():
            if first + row >= episodes:
                continue
            assert isinstance(record, ExampleStep)  # what TextExpert writes
            yield {
                "messages": [{"role": "user", "content": record.prompt}],
                "target": record.generation,
                "action": record.parsed_action,
                "label": record.label,
                "episode": first + row,
                "step": step,
                "task_id": None if ids is None else int(ids[row]),
            }


def generate_examples(config: DataConfig) -> Iterator[tuple[int, dict[str, Any]]]:
    """(setting index, record) for every step of config.episodes episodes per setting."""
    for index, setting in enumerate(config.settings()):
        seed = derived_seed(config.seed, index)
        env = make_setting_env(setting, config, seed)
        for record in play_examples(env, make_expert(config, env), config.episodes, seed,
                                    setting.get("pool_size")):
            yield index, {"setting": index, **record}
