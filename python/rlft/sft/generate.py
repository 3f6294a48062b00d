"""Supervised examples played out in the real envs and rendered with RLFT's own prompts.

An example is one step of one episode: the prompt the policy would see (chat messages, not yet
templated or tokenised: that depends on the model) and the target answer. Three experts:

- ``ucb``: the paper's UCB expert: every arm once in label order, then the highest
  mean + sqrt(1 / count), lowest index on ties. bc targets are ``ACTION=<label>``; tc targets
  are the Fig. 12 rationale (``ucb_thought_rationale``) ending in the same action.
- ``minimax``: the perfect tic-tac-toe player; targets ``ACTION=<cell>``.
- ``format``: a uniformly random valid action in the same output format (optionally after a
  short rationale): a model trained on it follows the format and has none of the skill.

The expert's action is also the one executed, so every prompt is a state the expert reaches.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import numpy as np

from rlft.agents import make_agent
from rlft.agents.llm_agent import make_prompter
from rlft.envs import make
from rlft.sft.config import DataConfig
from rlft.text.env_prompts import PromptBatch
from rlft.text.prompts import PromptStyle, epsilon_greedy_rationale, ucb_thought_rationale
from rlft.text.templates import ACTION_ANSWER

# decide(batch, obs, info) -> (env actions int32[B], target text per row)
Decide = Callable[[PromptBatch, Any, Any], tuple[np.ndarray, list[str]]]


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


def play_episodes(env: Any, prompter: Any, decide: Decide, episodes: int, seed: int,
                  pool_size: int | None) -> Iterator[dict[str, Any]]:
    """Plays `episodes` episodes, num_envs at a time (one per row per round), acting with
    `decide`; yields one record per step of each counted episode. Bandit rows of round r play
    pool ids (r * num_envs + row) mod pool_size, so the pool is covered evenly."""
    num_envs = env.num_envs
    played = 0
    round_index = 0
    while played < episodes:
        rows = min(num_envs, episodes - played)
        options = None
        if pool_size is not None:
            ids = (played + np.arange(num_envs)) % pool_size
            options = {"task_ids": ids.astype(np.int64)}
        obs, info = env.reset(seed=derived_seed(seed, round_index), options=options)
        prompter.reset()
        active = np.arange(num_envs) < rows
        while active.any():
            batch = prompter.render(obs, info)
            actions, targets = decide(batch, obs, info)
            for row in np.flatnonzero(active):
                yield {
                    "messages": [{"role": "user", "content": batch.texts[row]}],
                    "target": targets[row],
                    "action": int(actions[row]),
                    "label": batch.displayed_label(int(row), int(actions[row])),
                    "episode": played + int(row),
                    "step": int(prompter.history.length(int(row))),
                    "task_id": None if pool_size is None else int(options["task_ids"][row]),
                }
            obs, reward, terminated, truncated, info = env.step(actions)
            prompter.record(np.asarray(info.get("executed_action", actions)), reward,
                            terminated, truncated)
            active &= ~(np.asarray(terminated) | np.asarray(truncated))
        played += rows
        round_index += 1


def ucb_decider(prompter: Any, target: str, decimals: int, compact: bool = False) -> Decide:
    """The UCB expert reading each row's episode so far from the prompter's history (the same
    numbers the prompt's summary shows); ``compact`` words TC targets like the compact prompt."""
    def decide(batch: PromptBatch, obs: Any, info: Any) -> tuple[np.ndarray, list[str]]:
        actions = np.zeros(len(batch.texts), dtype=np.int32)
        targets = []
        for row in range(len(batch.texts)):
            text, action = ucb_thought_rationale(batch.labels, prompter.history.counts(row),
                                                 prompter.history.reward_sums(row), decimals,
                                                 compact)
            actions[row] = action
            targets.append(text if target == "tc"
                           else ACTION_ANSWER.format(label=batch.labels[action]))
        return actions, targets
    return decide


def agent_decider(agent: Any) -> Decide:
    """A classic agent's move, answered as ACTION=<label>."""
    def decide(batch: PromptBatch, obs: Any, info: Any) -> tuple[np.ndarray, list[str]]:
        actions = np.asarray(agent.act(obs, info), dtype=np.int32)
        return actions, [ACTION_ANSWER.format(label=batch.displayed_label(row, int(a)))
                         for row, a in enumerate(actions)]
    return decide


def format_decider(seed: int, rationale: bool) -> Decide:
    """A uniformly random valid action (legal cells in tic-tac-toe) per row."""
    rng = np.random.default_rng([seed, 7])

    def decide(batch: PromptBatch, obs: Any, info: Any) -> tuple[np.ndarray, list[str]]:
        num_rows = len(batch.texts)
        legal = np.asarray(obs["legal_mask"], dtype=bool) if "legal_mask" in obs \
            else np.ones((num_rows, len(batch.labels)), dtype=bool)
        actions = np.zeros(num_rows, dtype=np.int32)
        for row in range(num_rows):
            # A finished game has no legal cell; its move is ignored by the autoreset.
            allowed = np.flatnonzero(legal[row]) if legal[row].any() else np.arange(legal.shape[1])
            actions[row] = int(rng.choice(allowed))
        labels = [batch.displayed_label(row, int(a)) for row, a in enumerate(actions)]
        targets = [epsilon_greedy_rationale(label) if rationale
                   else ACTION_ANSWER.format(label=label) for label in labels]
        return actions, targets
    return decide


def generate_examples(config: DataConfig) -> Iterator[tuple[int, dict[str, Any]]]:
    """(setting index, record) for every step of config.episodes episodes per setting."""
    prompt = config.prompt
    for index, setting in enumerate(config.settings()):
        seed = derived_seed(config.seed, index)
        env = make_setting_env(setting, config, seed)
        prompter = make_prompter(env, prompt, config.num_envs, seed)
        if config.kind == "ucb":
            decide = ucb_decider(prompter, config.target, prompt.reward_decimals,
                                 prompt.style is not PromptStyle.FULL)
        elif config.kind == "minimax":
            agent = make_agent("minimax")
            agent.reset(config.num_envs, env.num_actions, seed)
            decide = agent_decider(agent)
        else:
            decide = format_decider(seed, config.rationale)
        pool = setting.get("pool_size")
        for record in play_episodes(env, prompter, decide, config.episodes, seed, pool):
            yield index, {"setting": index, **record}
