"""What ``rlft eval`` runs: one dataclass, every field documented, mirrored as CLI flags."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from rlft.models.loading import PRESETS_HELP
from rlft.text.prompts import PromptConfig

ENV_NAMES = ("mab", "contextual_bandit", "tictactoe")
INSTANCE_SETS = ("seeded", "heldout")


@dataclass
class EvalConfig:
    """One evaluation: an agent, an env setting, how many instances and seeds."""

    agent: str = field(default="ucb", metadata={
        "help": "random, greedy, epsilon_greedy, ucb, ucb1, thompson, linucb, minimax, mcts, "
                "or llm"})
    env: str = field(default="mab", metadata={"help": "mab, contextual_bandit or tictactoe"})
    episodes: int = field(default=64, metadata={
        "help": "Parallel env instances (one episode each) per seed (paper: 64)."})
    seeds: int = field(default=3, metadata={"help": "Seeds 0..seeds-1 (paper: 3)."})
    out: str = field(default="runs/eval", metadata={"help": "Run directory to write."})
    # env settings
    arms: int = field(default=10, metadata={"help": "Bandit arms / movies K."})
    noise: str = field(default="medium", metadata={"help": "Bandit noise: low, medium, high."})
    reward_type: str = field(default="gaussian", metadata={"help": "gaussian or bernoulli."})
    horizon: int = field(default=50, metadata={"help": "Steps per bandit episode T."})
    instances: str = field(default="seeded", metadata={
        "help": "mab: 'seeded' = instances drawn from (seed, row); 'heldout' = the pool's "
                "held-out evaluation tasks (the ones RLFT never trains on)."})
    opponent: str = field(default="random", metadata={
        "help": "Tic-tac-toe opponent: random, minimax, mcts or noisy."})
    agent_option: list[str] = field(default_factory=list, metadata={
        "help": "Classic agent options KEY=VALUE, e.g. epsilon=0.1 (repeatable)."})
    # LLM agent settings
    model: str = field(default="tiny", metadata={
        "help": f"LLM agent: preset ({PRESETS_HELP}), hub id or local model directory."})
    prompt: PromptConfig = field(default_factory=PromptConfig, metadata={
        "help": "How the LLM agent's prompts are rendered."})
    max_new_tokens: int = field(default=256, metadata={"help": "Generation budget G per step."})
    temperature: float = field(default=0.0, metadata={
        "help": "Sampling temperature (paper evaluates greedily: 0)."})
    batch_size: int = field(default=64, metadata={"help": "Prompts per generate() call."})
    try_all: bool = field(default=False, metadata={"help": "Try-all mechanism."})
    epsilon: float = field(default=0.0, metadata={"help": "Epsilon-greedy mechanism (paper 0.1)."})
    self_consistency: int = field(default=1, metadata={"help": "Samples per majority vote."})
    self_correction: bool = field(default=False, metadata={"help": "Self-correction turn."})
    save_prompts: bool = field(default=True, metadata={
        "help": "Write prompts and generations into trajectories.jsonl."})

    def __post_init__(self) -> None:
        if self.env not in ENV_NAMES:
            raise ValueError(f"env must be one of {list(ENV_NAMES)}, got {self.env!r}")
        if self.instances not in INSTANCE_SETS:
            raise ValueError(f"instances must be one of {list(INSTANCE_SETS)}, got "
                             f"{self.instances!r}")
        for name in ("episodes", "seeds", "arms", "horizon", "max_new_tokens", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not isinstance(self.prompt, PromptConfig):
            raise TypeError(f"prompt must be a PromptConfig, got {type(self.prompt).__name__}")
        self.prompt.validate()
        if self.agent == "llm":
            self.prompt.check_env(self.env)

    def agent_kwargs(self) -> dict[str, Any]:
        """--agent-option KEY=VALUE pairs, values parsed as int, float, bool or string."""
        kwargs: dict[str, Any] = {}
        for item in self.agent_option:
            if "=" not in item:
                raise ValueError(f"agent option {item!r} must look like KEY=VALUE")
            key, raw = item.split("=", 1)
            kwargs[key.strip()] = _parse_value(raw.strip())
        return kwargs

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _parse_value(raw: str) -> Any:
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    return raw
