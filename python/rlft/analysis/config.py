"""What ``rlft analyze greediness | frequency-bias | knowing-doing`` run: one dataclass per
analysis, every field documented and mirrored as a CLI flag.

Defaults are the paper's sizes (64 instances x 50 steps, 25K teacher-forced scorings, G = 2048
for the knowing-doing gap): a GPU node's job. Shrink ``episodes``, ``horizon``,
``num_histories`` ... to fit a CPU.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from rlft.evaluation.config import _parse_value
from rlft.models.loading import PRESETS_HELP
from rlft.text.prompts import PromptConfig

NOISE_LEVELS = ("low", "medium", "high")
# no_cot_prefix: no CoT under the answer-prefix protocol (the prompt ends with ACTION=).
COT_SETTINGS = ("cot", "no_cot", "no_cot_prefix")
UCB_FORMULAS = ("ucb1", "inverse_sqrt")


def _int_list(name: str, values: Any) -> list[int]:
    """A list of positive ints from ints or strings like "10,20" (repeatable CLI flags)."""
    items: list[Any] = []
    for value in values if isinstance(values, (list, tuple)) else [values]:
        items.extend(value.split(",") if isinstance(value, str) else [value])
    result = []
    for item in items:
        try:
            number = int(item)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be positive integers, got {item!r}") from None
        if number < 1:
            raise ValueError(f"{name} must be positive integers, got {number}")
        result.append(number)
    if not result:
        raise ValueError(f"{name} must not be empty")
    return result


def _str_list(name: str, values: Any, choices: tuple[str, ...]) -> list[str]:
    items: list[str] = []
    for value in values if isinstance(values, (list, tuple)) else [values]:
        items.extend(part.strip() for part in str(value).split(",") if part.strip())
    for item in items:
        if item not in choices:
            raise ValueError(f"{name} entries must be among {list(choices)}, got {item!r}")
    if not items:
        raise ValueError(f"{name} must not be empty")
    return list(dict.fromkeys(items))  # keep order, drop repeats


def _check_min(config: Any, names: tuple[str, ...], minimum: int) -> None:
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


@dataclass
class AnalysisBase:
    """Fields shared by every analysis: which policy, where to write, how to sample."""

    model: str = field(default="tiny", metadata={
        "help": f"Policy model: preset ({PRESETS_HELP}), hub id or local model directory "
                "(RLFT or SFT exports included)."})
    out: str = field(default="runs/analysis", metadata={"help": "Run directory to write."})
    seed: int = field(default=0, metadata={"help": "Base seed of instances and histories."})
    prompt: PromptConfig = field(default_factory=PromptConfig, metadata={
        "help": "The prompt the analysis starts from (the paper's by default); each analysis "
                "sets what it varies (cot, ucb_instructed) itself."})
    noise: str = field(default="medium", metadata={
        "help": "Gaussian reward noise: low / medium / high = sigma 0.1 / 1 / 3."})
    batch_size: int = field(default=64, metadata={"help": "Prompts per generate() call."})
    device: str = field(default="cpu", metadata={"help": "Torch device of the model."})
    dtype: str = field(default="float32", metadata={
        "help": "Model dtype (float32, bfloat16, auto)."})

    def __post_init__(self) -> None:
        if not isinstance(self.prompt, PromptConfig):
            raise TypeError(f"prompt must be a PromptConfig, got {type(self.prompt).__name__}")
        self.prompt.validate()
        self.prompt.check_env("mab")
        _check_choice("noise", self.noise, NOISE_LEVELS)
        _check_min(self, ("seed",), 0)
        _check_min(self, ("batch_size",), 1)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class EpisodeAnalysisBase(AnalysisBase):
    """Fields of the analyses that play whole bandit episodes with the policy."""

    episodes: int = field(default=64, metadata={
        "help": "Parallel bandit instances per seed (paper: 64)."})
    seeds: int = field(default=1, metadata={"help": "Seeds seed..seed+seeds-1."})
    horizon: int = field(default=50, metadata={"help": "Steps per episode T (paper: 50)."})
    temperature: float = field(default=0.0, metadata={
        "help": "Sampling temperature (0 = greedy decoding, the paper's evaluation setting)."})

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_min(self, ("episodes", "seeds", "horizon"), 1)
        if not self.temperature >= 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")


@dataclass
class GreedinessConfig(EpisodeAnalysisBase):
    """Greediness: action coverage per step over parallel bandit instances."""

    out: str = field(default="runs/analysis_greediness", metadata={
        "help": "Run directory to write."})
    agent: str = field(default="llm", metadata={
        "help": "llm, or a classic agent (random, greedy, ucb, ...) as a reference."})
    agent_option: list[str] = field(default_factory=list, metadata={
        "help": "Classic agent options KEY=VALUE, e.g. untried_value=-inf (repeatable)."})
    arms: list[int] = field(default_factory=lambda: [10, 20], metadata={
        "help": "Arm counts K to analyse, e.g. --arms 10 --arms 20 or --arms 10,20 "
                "(paper: 10 and 20)."})
    cot_settings: list[str] = field(default_factory=lambda: ["cot", "no_cot"], metadata={
        "help": "Prompts to analyse: cot, no_cot (the paper's two), and no_cot_prefix (no CoT "
                "under the answer-prefix protocol: the prompt ends with 'ACTION=', for models "
                "that do not follow the format)."})
    max_new_tokens: int = field(default=256, metadata={
        "help": "Generation budget G with CoT (paper: 256)."})
    no_cot_max_new_tokens: int = field(default=16, metadata={
        "help": "Generation budget G without CoT (paper: 16)."})
    save_generations: bool = field(default=True, metadata={
        "help": "Write every prompt and generation to generations.jsonl."})
    answer_pattern: list[str] = field(default_factory=list, metadata={
        "help": "Extra answer templates read besides ACTION={action}, e.g. "
                "'button labeled {action}' (repeatable; the last match in a text wins). NOT "
                "the paper's parse: for small models that name their choice in prose."})

    def __post_init__(self) -> None:
        super().__post_init__()
        self.arms = _int_list("arms", self.arms)
        if min(self.arms) < 2:
            raise ValueError(f"arms must be >= 2, got {self.arms}")
        self.cot_settings = _str_list("cot_settings", self.cot_settings, COT_SETTINGS)
        _check_min(self, ("max_new_tokens", "no_cot_max_new_tokens"), 1)
        for pattern in self.answer_pattern:
            if not isinstance(pattern, str) or not pattern.endswith("{action}"):
                raise ValueError(f"answer_pattern entries must end with '{{action}}', "
                                 f"got {pattern!r}")

    def agent_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        for item in self.agent_option:
            if "=" not in item:
                raise ValueError(f"agent_option {item!r} must look like KEY=VALUE")
            key, raw = item.split("=", 1)
            kwargs[key.strip()] = _parse_value(raw.strip())
        return kwargs


@dataclass
class FrequencyBiasConfig(AnalysisBase):
    """Frequency bias: action probabilities of random-policy histories whose last action is
    repeated 0..max_repetitions times, scored by teacher forcing."""

    out: str = field(default="runs/analysis_frequency_bias", metadata={
        "help": "Run directory to write."})
    arms: int = field(default=10, metadata={"help": "Bandit arms K (paper: 10)."})
    num_histories: int = field(default=5, metadata={
        "help": "Random-policy histories (paper: 5)."})
    num_targets: int = field(default=5, metadata={
        "help": "Target actions per history, distinct arms (paper: 5)."})
    min_history: int = field(default=2, metadata={
        "help": "Shortest random-policy history, target step included (paper: 2)."})
    max_history: int = field(default=10, metadata={
        "help": "Longest random-policy history, target step included (paper: 10)."})
    max_repetitions: int = field(default=100, metadata={
        "help": "The target action is repeated 0..max_repetitions times (paper: 0-100)."})
    repetition_step: int = field(default=1, metadata={
        "help": "Stride of the repetition counts (1 = every count; larger for small runs)."})
    buckets: list[str] = field(default_factory=lambda: ["0-10", "45-55", "90-100"], metadata={
        "help": "Repetition buckets LOW-HIGH (inclusive) for the per-bucket fractions."})
    samples: int = field(default=0, metadata={
        "help": "0: the answer probabilities by teacher forcing ACTION=<label> after the no-CoT "
                "prompt (the paper's). N >= 1: the shares of N sampled answers per context, "
                "under the prompt's own CoT setting and the paper's parse (for policies that "
                "write a rationale before their answer)."})
    temperature: float = field(default=1.0, metadata={
        "help": "Sampling temperature of the sampled answers (samples >= 1)."})
    max_new_tokens: int = field(default=256, metadata={
        "help": "Generation budget of each sampled answer (samples >= 1)."})

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_min(self, ("arms",), 2)
        _check_min(self, ("num_histories", "num_targets", "repetition_step", "max_new_tokens"),
                   1)
        _check_min(self, ("samples",), 0)
        if self.samples and not self.temperature > 0:
            raise ValueError(f"temperature must be > 0 to sample answers (samples="
                             f"{self.samples}), got {self.temperature}")
        _check_min(self, ("min_history",), 1)
        _check_min(self, ("max_repetitions",), 0)
        if self.max_history < self.min_history:
            raise ValueError(f"max_history ({self.max_history}) must be >= min_history "
                             f"({self.min_history})")
        if self.num_targets > self.arms:
            raise ValueError(f"num_targets ({self.num_targets}) must be <= arms ({self.arms})")
        self.buckets = [str(bucket) for bucket in self.buckets]
        self.bucket_ranges()  # validates

    def repetitions(self) -> list[int]:
        return list(range(0, self.max_repetitions + 1, self.repetition_step))

    def bucket_ranges(self) -> list[tuple[int, int]]:
        ranges = []
        for bucket in self.buckets:
            parts = bucket.split("-")
            try:
                low, high = int(parts[0]), int(parts[1])
                if len(parts) != 2 or low < 0 or high < low:
                    raise ValueError
            except (ValueError, IndexError):
                raise ValueError(f"buckets entries must look like LOW-HIGH with "
                                 f"0 <= LOW <= HIGH, got {bucket!r}") from None
            ranges.append((low, high))
        return ranges


@dataclass
class KnowingDoingConfig(EpisodeAnalysisBase):
    """Knowing-doing gap: UCB-instructed prompt, the model's <ucb_values> vs the true UCB
    values, and its actions classified optimal / greedy / other."""

    out: str = field(default="runs/analysis_knowing_doing", metadata={
        "help": "Run directory to write."})
    arms: int = field(default=10, metadata={"help": "Bandit arms K."})
    max_new_tokens: int = field(default=2048, metadata={
        "help": "Generation budget G (paper: 2048 for this analysis)."})
    ucb_formula: str = field(default="ucb1", metadata={
        "help": "True UCB values: ucb1 = mean + c*sqrt(ln t / n) (t = pulls so far; the "
                "formula the model writes in the paper's Fig. 22 with c = sqrt(2)), or "
                "inverse_sqrt = mean + c*sqrt(1 / n) (rlft's UCB expert). Untried arms: +inf."})
    ucb_c: float = field(default=2.0 ** 0.5, metadata={
        "help": "Exploration constant c of the true UCB values."})
    save_generations: bool = field(default=True, metadata={
        "help": "Write every prompt, generation and parsed value to generations.jsonl."})

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_min(self, ("arms",), 2)
        _check_min(self, ("max_new_tokens",), 1)
        _check_choice("ucb_formula", self.ucb_formula, UCB_FORMULAS)
        if not self.ucb_c >= 0:
            raise ValueError(f"ucb_c must be >= 0, got {self.ucb_c}")


# CLI name -> config class (``rlft analyze NAME``).
ANALYSIS_CONFIGS: dict[str, type] = {
    "greediness": GreedinessConfig,
    "frequency-bias": FrequencyBiasConfig,
    "knowing-doing": KnowingDoingConfig,
}


# Fields an analysis takes from the evaluation saved with an exported policy, unless given.
POLICY_FIELDS = ("noise", "arms", "horizon", "temperature", "max_new_tokens", "batch_size")


def with_policy_eval(config: AnalysisBase, saved: dict[str, Any], given: set[str]
                     ) -> tuple[AnalysisBase, list[str]]:
    """`config` with the prompt, noise, arms, horizon and sampling of the run whose exported
    policy it analyses (``rlft.evaluation.config.load_policy_eval``), except for the fields
    given explicitly; returns it and the names of the fields taken from the run."""
    values = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    taken = []
    for name in POLICY_FIELDS:
        if name in values and name not in given and name in saved:
            values[name] = [saved[name]] if isinstance(values[name], list) else saved[name]
            taken.append(name)
    prompt = {key: value for key, value in saved["prompt"].items() if key not in given}
    values["prompt"] = dataclasses.replace(config.prompt, **prompt)
    taken += [f"prompt.{key}" for key in prompt]
    return type(config)(**values), taken
