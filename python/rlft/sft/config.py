"""What a supervised dataset is made of: `rlft data` flags and the manifest's settings.

One dataclass for every kind of dataset, with help text on each field (the CLI flags are made
from it). Fields that do not apply to a kind must stay at their defaults; every check names
the field."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from rlft.text.prompts import PromptConfig

KINDS = ("ucb", "minimax", "format")
TARGETS = ("bc", "tc")
ENVS = ("mab", "tictactoe")
NOISES = ("low", "medium", "high")


def _help(text: str, **kwargs: Any) -> Any:
    return field(metadata={"help": text}, **kwargs)


@dataclass
class DataConfig:
    """One dataset: which expert plays which envs, and how its answers are written."""

    kind: str = _help("ucb: the UCB expert on bandits (paper §6); minimax: the perfect "
                      "tic-tac-toe player; format: uniformly random valid actions in the same "
                      "output format (teaches the format, none of the skill).", default="ucb")
    target: str = _help("ucb only: bc (answer 'ACTION=<label>') or tc (thought cloning: the "
                        "paper's UCB rationale, then 'ACTION=<label>').", default="bc")
    rationale: bool = _help("format only: a short rationale before 'ACTION=<label>'.",
                            default=False)
    env: str = _help("mab or tictactoe (ucb needs mab, minimax needs tictactoe).", default="mab")
    arms: list[int] = _help("Bandit arm counts K; one setting per (arms, noise) pair.",
                            default_factory=lambda: [5])
    noises: list[str] = _help("Bandit noise levels: low, medium, high.",
                              default_factory=lambda: ["medium"])
    reward_type: str = _help("Bandit rewards: gaussian or bernoulli.", default="gaussian")
    horizon: int = _help("Bandit steps per episode T (paper: 50).", default=50)
    pool_size: int = _help("Training pool of bandit instances (ids [0, pool_size)); the "
                           "held-out ids after it are never played.", default=512)
    opponent: str = _help("Tic-tac-toe opponent: random, minimax, mcts, noisy.",
                          default="random")
    episodes: int = _help("Episodes per setting (paper: 32K rollouts per dataset).",
                          default=512)
    num_envs: int = _help("Episodes played side by side: a round of the episode loop (each "
                          "round has its own seed, so the draws depend on it).", default=64)
    prompt: PromptConfig = field(default_factory=lambda: PromptConfig(cot=False), metadata={
        "help": "How every example's prompt is rendered (the trainer's prompt section); use "
                "cot with tc and rationale targets."})
    seed: int = _help("Seed of every env, agent and label draw.", default=0)
    out: str = _help("Output directory (examples.jsonl + manifest.json).",
                     default="runs/data/ucb_bc")

    def __post_init__(self) -> None:
        self.arms = [_as_int(value, "arms") for value in self.arms]
        self.noises = [str(value) for value in self.noises]
        for name, choices in (("kind", KINDS), ("target", TARGETS), ("env", ENVS),
                              ("reward_type", ("gaussian", "bernoulli")),
                              ("opponent", ("random", "minimax", "mcts", "noisy"))):
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {list(choices)}, "
                                 f"got {getattr(self, name)!r}")
        for noise in self.noises:
            if noise not in NOISES:
                raise ValueError(f"noises must be among {list(NOISES)}, got {noise!r}")
        if not self.arms or any(k < 2 for k in self.arms):
            raise ValueError(f"arms must be a non-empty list of ints >= 2, got {self.arms}")
        if not self.noises:
            raise ValueError("noises must not be empty")
        for name in ("horizon", "pool_size", "episodes", "num_envs"):
            if _as_int(getattr(self, name), name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if _as_int(self.seed, "seed") < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.kind == "ucb" and self.env != "mab":
            raise ValueError(f"env must be 'mab' for kind 'ucb', got {self.env!r}")
        if self.kind == "minimax" and self.env != "tictactoe":
            raise ValueError(f"env must be 'tictactoe' for kind 'minimax', got {self.env!r}")
        if self.kind != "ucb" and self.target != "bc":
            raise ValueError("target applies to kind 'ucb' only (leave it at 'bc')")
        if self.kind != "format" and self.rationale:
            raise ValueError("rationale applies to kind 'format' only")
        if not isinstance(self.prompt, PromptConfig):
            raise TypeError(f"prompt must be a PromptConfig, got {type(self.prompt).__name__}")
        self.prompt.validate()
        self.prompt.check_env(self.env)
        if self.env == "mab" and self.prompt.history_window == 0 and not self.prompt.summary:
            raise ValueError("history_window=0 shows nothing: set summary")
        if self.kind == "ucb" and self.prompt.randomise_labels:
            # The expert's rationale walks the labels in env order, not in each row's shuffle.
            raise ValueError("prompt.randomise_labels is not supported for kind 'ucb'")
        if self.prompt.answer_prefix:
            raise ValueError("prompt.answer_prefix is not supported for SFT data: its "
                             "examples are whole answers")

    def settings(self) -> list[dict[str, Any]]:
        """One setting per (arms, noise) pair for bandits; a single one for tic-tac-toe."""
        if self.env == "tictactoe":
            return [{"env": "tictactoe", "opponent": self.opponent}]
        return [{"env": "mab", "num_arms": k, "noise": noise, "reward_type": self.reward_type,
                 "horizon": self.horizon, "pool_size": self.pool_size}
                for k in self.arms for noise in self.noises]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _as_int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an int, got {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an int, got {value!r}") from None
