"""What ``rlft eval`` runs: one dataclass, every field documented, mirrored as CLI flags."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlft.models.loading import PRESETS_HELP
from rlft.text.prompts import PromptConfig

ENV_NAMES = ("mab", "contextual_bandit", "tictactoe")
INSTANCE_SETS = ("seeded", "heldout")
DTYPES = ("float32", "bfloat16", "auto")


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
                "held-out evaluation tasks (the ones RLFT never trains on), seed s playing ids "
                "[s E, (s + 1) E) after the training pool for E episodes."})
    pool_size: int = field(default=512, metadata={
        "help": "mab, heldout: the training pool's size (the held-out ids start after it)."})
    data_dir: str | None = field(default=None, metadata={
        "help": "contextual_bandit: a MovieLens 100K or 1M directory (None: the synthetic "
                "dataset)."})
    opponent: str = field(default="random", metadata={
        "help": "Tic-tac-toe opponent: random, minimax, mcts or noisy."})
    agent_option: list[str] = field(default_factory=list, metadata={
        "help": "Classic agent options KEY=VALUE, e.g. epsilon=0.1 (repeatable)."})
    # LLM agent settings
    model: str = field(default="tiny", metadata={
        "help": f"LLM agent: preset ({PRESETS_HELP}), hub id or local model directory."})
    dtype: str = field(default="float32", metadata={
        "help": "LLM agent's weights: float32, bfloat16 (a bf16 GPU run's evaluation) or auto "
                "(the checkpoint's)."})
    device: str = field(default="cpu", metadata={
        "help": "LLM agent's torch device (cpu, cuda, cuda:1)."})
    prompt: PromptConfig = field(default_factory=PromptConfig, metadata={
        "help": "How the LLM agent's prompts are rendered."})
    max_new_tokens: int = field(default=256, metadata={"help": "Generation budget G per step."})
    temperature: float = field(default=0.0, metadata={
        "help": "Sampling temperature (paper evaluates greedily: 0)."})
    batch_size: int = field(default=64, metadata={"help": "Prompts per generate() call."})
    max_prompt_tokens: int = field(default=1792, metadata={
        "help": "Prompt token cap, oldest history dropped first (paper: 1792)."})
    invalid_penalty: float = field(default=-5.0, metadata={
        "help": "Counted per step without a valid action in the shaped return (the paper's "
                "-5)."})
    try_all: bool = field(default=False, metadata={"help": "Try-all mechanism."})
    epsilon: float = field(default=0.0, metadata={"help": "Epsilon-greedy mechanism (paper 0.1)."})
    self_consistency: int = field(default=1, metadata={"help": "Samples per majority vote."})
    self_correction: bool = field(default=False, metadata={"help": "Self-correction turn."})
    save_prompts: bool = field(default=True, metadata={
        "help": "Write prompts and generations into trajectories.jsonl."})

    def __post_init__(self) -> None:
        if self.env not in ENV_NAMES:
            raise ValueError(f"env must be one of {list(ENV_NAMES)}, got {self.env!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {list(DTYPES)}, got {self.dtype!r}")
        if self.instances not in INSTANCE_SETS:
            raise ValueError(f"instances must be one of {list(INSTANCE_SETS)}, got "
                             f"{self.instances!r}")
        for name in ("episodes", "seeds", "arms", "horizon", "max_new_tokens", "batch_size",
                     "pool_size", "max_prompt_tokens"):
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
        values = dataclasses.asdict(self)
        values["prompt"] = self.prompt.to_dict()
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "EvalConfig":
        """The inverse of to_dict; unknown keys are an error that names them."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown EvalConfig field(s) {unknown}")
        values = dict(values)
        if isinstance(values.get("prompt"), dict):
            values["prompt"] = PromptConfig(**values["prompt"])
        return cls(**values)


# Written next to an exported policy's weights: the evaluation it was measured with (env,
# instances, prompt, sampling), which `rlft eval --model DIR` starts from.
POLICY_EVAL_FILE = "rlft_eval.json"
# Fields that describe the evaluation, not the agent or where it writes.
POLICY_EVAL_FIELDS = ("env", "episodes", "seeds", "arms", "noise", "reward_type", "horizon",
                      "instances", "pool_size", "data_dir", "opponent", "prompt",
                      "max_new_tokens", "temperature", "batch_size", "max_prompt_tokens",
                      "invalid_penalty", "dtype")


def save_policy_eval(config: EvalConfig, model_dir: str | Path) -> None:
    """Writes the evaluation fields of `config` into an exported model directory."""
    values = {name: config.to_dict()[name] for name in POLICY_EVAL_FIELDS}
    (Path(model_dir) / POLICY_EVAL_FILE).write_text(json.dumps(values, indent=2) + "\n")


def load_policy_eval(model: str) -> dict[str, Any] | None:
    """The evaluation fields saved with an exported policy, or None (a preset, a hub id, a
    directory without them)."""
    path = Path(model) / POLICY_EVAL_FILE
    if not path.is_file():
        return None
    values = json.loads(path.read_text())
    unknown = sorted(set(values) - set(POLICY_EVAL_FIELDS))
    if unknown:
        raise ValueError(f"{path}: unknown field(s) {unknown}")
    return values


def _parse_value(raw: str) -> Any:
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    return raw


def with_policy_eval(config: EvalConfig, saved: dict[str, Any], given: set[str]
                     ) -> tuple[EvalConfig, list[str]]:
    """`config` with the saved evaluation fields, except those the user gave explicitly
    (`given`: field names, prompt fields by their own names). Returns the config and the
    given fields that override a saved value."""
    values = config.to_dict()
    prompt_fields = {f.name for f in dataclasses.fields(PromptConfig)}
    overriding = []
    for name, value in saved.items():
        if name == "prompt":
            for key, saved_value in value.items():
                if key in given:
                    overriding += [key] if values["prompt"][key] != saved_value else []
                elif key in prompt_fields:
                    values["prompt"][key] = saved_value
        elif name in given:
            overriding += [name] if values[name] != value else []
        else:
            values[name] = value
    return EvalConfig.from_dict(values), sorted(overriding)
