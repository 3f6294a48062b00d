"""Training configuration: nested dataclasses with help text on every field, loaded from YAML
and overridden from the command line (``section.field=value``). Every check runs before any
work starts, and every error names the field."""

from __future__ import annotations

import dataclasses
import enum
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import yaml

from rlft.text.prompts import PromptConfig

from rlft.models.loading import PRESETS_HELP


def _help(text: str, **kwargs: Any) -> Any:
    return field(metadata={"help": text}, **kwargs)


# The setup `deepspeed python/rlft/train.py` runs without --config (configs/, or shipped).
DEFAULT_CONFIG = "cpu_default.yaml"


@dataclass
class ModelSection:
    name: str = _help(f"Model preset ({PRESETS_HELP}), Hugging Face hub id or local "
                      "directory, e.g. an SFT export.", default="tiny")
    dtype: str = _help("auto (bf16 on GPU, fp32 on CPU), float32 or bfloat16.", default="auto")
    lora: bool = _help("Train LoRA adapters (PEFT) instead of all weights; the reference "
                       "policy is then the base model with adapters disabled.", default=False)
    lora_rank: int = _help("LoRA rank r.", default=16)
    lora_alpha: int = _help("LoRA alpha.", default=32)
    lora_target_modules: list[str] = _help(
        "Module names that get adapters.",
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    tiny_layers: int = _help("tiny preset only: transformer layers.", default=2)
    tiny_hidden: int = _help("tiny preset only: hidden size.", default=128)
    tiny_whole_numbers: bool = _help(
        "tiny preset only: one token per number up to one decimal ('-0.3', '17') instead of "
        "one per digit.", default=False)


# model.tiny_* field -> the tiny preset's option (rlft.models.tiny.TinyModelConfig) it sets.
TINY_OPTIONS = {"tiny_layers": "num_layers", "tiny_hidden": "hidden_size",
                "tiny_whole_numbers": "whole_numbers"}


@dataclass
class EnvSection:
    name: str = _help("mab (multi-armed bandit), contextual_bandit (MovieLens-style "
                      "recommendation) or tictactoe.", default="mab")
    num_arms: int = _help("Bandit arms K (contextual_bandit: the K most rated movies).",
                          default=5)
    horizon: int = _help("Bandit steps per episode T (paper: 50).", default=50)
    data_dir: str | None = _help(
        "contextual_bandit: a MovieLens 100K or 1M directory (None: the synthetic dataset in "
        "the ML-100K format, generated locally). Training plays its train users, evaluation "
        "the held-out ones.", default=None)
    noise: str = _help("Bandit noise: low, medium, high.", default="medium")
    reward_type: str = _help("gaussian or bernoulli.", default="gaussian")
    pool_size: int = _help("Training pool of bandit instances (paper: 512).", default=512)
    eval_pool_size: int = _help("Held-out bandit instances, disjoint from the training pool; "
                                "evaluation plays eval.episodes x eval.seeds distinct ones.",
                                default=256)
    opponent: str = _help("Tic-tac-toe opponent: random, minimax, mcts, noisy.",
                          default="random")


@dataclass
class CollectSection:
    """The `rollout` section: how each iteration's episodes are collected."""

    num_envs: int = _help("Env slots played in parallel per rollout, one episode each "
                          "(paper: 16).", default=16)
    max_new_tokens: int = _help("Generation budget G per step (paper: 256).", default=256)
    temperature: float = _help("Sampling temperature in training (paper: 1.0).", default=1.0)
    top_p: float = _help("Nucleus mass in training (paper: 1.0).", default=1.0)
    generation_batch_size: int = _help("Prompts per generate() call.", default=64)
    max_prompt_tokens: int = _help("Prompt token cap, oldest history dropped first "
                                   "(paper: 1792).", default=1792)


@dataclass
class AlgoSection:
    advantage: str = _help("mc: rewards-to-go minus the per-step batch mean (fixed-length "
                           "episodes, no value head); gae: value head + GAE (variable length).",
                           default="mc")
    gamma: float = _help("Discount.", default=1.0)
    group_size: int = _help(
        "mc on multi-armed bandits: rows play in groups of this many on one training instance, "
        "and a step's baseline is the mean return-to-go of the group's other rows at that step "
        "(leave-one-out, as RLOO), which removes how good the instance's arms happen to be "
        "from the advantage. 1: every row its own instance, the batch mean as baseline.",
        default=1)
    gae_lambda: float = _help("GAE lambda.", default=0.95)
    clip_eps: float = _help("PPO clip epsilon.", default=0.2)
    kl_coef: float = _help("beta: weight of the KL to the reference policy.", default=0.05)
    kl_mode: str = _help(
        "loss: a per-token KL term in the loss (the paper's Eq. 2; algo.kl_estimator picks it); "
        "reward: beta x the per-token k1 estimate log pi_old - log pi_ref, summed over the "
        "answer, is subtracted from the step's reward before the advantages (classic RLHF "
        "PPO). Both have the policy gradient of KL(pi || pi_ref), k3 excepted.", default="loss")
    kl_estimator: str = _help(
        "kl_mode=loss only. k2 = (log pi - log pi_ref)^2 / 2, whose gradient is that of "
        "KL(pi || pi_ref); k3 = exp(r) - 1 - r with r = log pi_ref - log pi, whose gradient is "
        "that of the reverse KL(pi_ref || pi) (GRPO's choice). k1 is refused: as a loss its "
        "expected gradient is zero.", default="k2")
    value_coef: float = _help("Weight of the value loss (gae only).", default=0.5)
    update_epochs: int = _help("Passes over each rollout (paper: 1 bandits, 2 tic-tac-toe).",
                               default=1)
    normalize_rewards: bool = _help(
        "Divide env rewards by a running std of the discounted return (scale only, never "
        "shifted: Gymnasium's NormalizeReward rule) before adding shaping terms.", default=True)
    normalize_advantages: bool = _help("Scale advantages to unit std per rollout.",
                                       default=True)
    invalid_penalty: float = _help("Shaping reward when no valid action was parsed (a random "
                                   "valid action is executed).", default=-5.0)
    exploration_bonus: float = _help("Shaping reward for an action not yet tried in the "
                                     "episode (paper: +1 in the bonus variant).", default=0.0)
    try_all: bool = _help("Bandits: force every untried arm first with a template "
                          "rationale, trained on like generated steps.", default=False)
    epsilon: float = _help("Epsilon-greedy exploration with template rationales.",
                           default=0.0)


@dataclass
class OptimSection:
    optimizer: str = _help("adamw or adafactor (paper: adafactor; only at engine.zero_stage=0 "
                           "in fp32, where it sees whole matrices).", default="adamw")
    lr: float = _help("Peak learning rate (paper: 1e-4).", default=1e-4)
    min_lr: float = _help("Learning rate at the end of the cosine decay (paper: 1e-6).",
                          default=1e-6)
    warmup_steps: int = _help("Linear warm-up optimizer steps (paper: 100).", default=100)
    weight_decay: float = _help("Decoupled weight decay.", default=0.0)
    adam_betas: list[float] = _help(
        "AdamW (beta1, beta2). A lower beta2 (0.95 in many LM recipes) bounds the step that a "
        "sudden large gradient gets.", default_factory=lambda: [0.9, 0.999])
    batch_size: int = _help("Sequences per optimizer step, accumulated over micro-batches and "
                            "ranks (paper: 128).", default=128)
    micro_batch_size: int = _help("Sequences per forward/backward on one rank.", default=8)
    grad_clip: float = _help("Gradient norm clip.", default=1.0)


@dataclass
class EngineSection:
    zero_stage: int = _help("DeepSpeed ZeRO stage 0-3 (configs/ds/zero<N>.json).", default=0)
    ds_config: str | None = _help("A DeepSpeed JSON file instead of the named stage config.",
                                  default=None)
    threads: int = _help("torch threads per rank on CPU (0: leave torch's default).",
                         default=0)
    gradient_checkpointing: bool = _help(
        "Recompute each transformer layer's activations in the backward pass of the update "
        "instead of keeping them: less memory for about a third more compute. Needs "
        "transformers >= 5.15 and a model whose layers keep the key/value cache under "
        "checkpointing (Llama, Qwen2, Gemma; not GPT-2).", default=False)
    zero3_gather_for_generation: bool = _help(
        "ZeRO-3: gather the full weights on every rank once per rollout and generate without "
        "collectives. False for a model too large to gather: then every decoded token gathers "
        "the shards from all ranks (slow) and the ranks generate in lock-step.", default=True)


@dataclass
class WarmStartSection:
    steps: int = _help("Supervised steps on warm_start.expert's answers before RL (0: none).",
                       default=0)
    expert: str = _help("'format': answers 'ACTION=<random label>', the output format and none "
                        "of the skill; 'greedy' (bandits): the greedy player's counts-and-means "
                        "rationale (with prompt.cot), a start that over-exploits.",
                        default="format")
    epsilon: float = _help("greedy: the share of steps that explore a random untried arm "
                           "instead, in the expert's examples.", default=0.0)
    lr: float = _help("Warm-start learning rate.", default=1e-3)
    batch_size: int = _help("Warm-start sequences per step.", default=32)


# The end-of-run analyses eval.analyses may name; trainer/policy_analyses.py runs them.
ANALYSES = ("greediness", "knowing_doing", "frequency_bias")


@dataclass
class EvalSection:
    episodes: int = _help("Held-out instances (bandits) or games (tic-tac-toe) per evaluation "
                          "seed, played by every policy at the start and the end.", default=64)
    seeds: int = _help("Evaluation seeds; each plays its own eval.episodes instances, disjoint "
                       "from the other seeds'.", default=1)
    temperature: float = _help("Sampling temperature of the evaluated policy (paper: 0; "
                               "near-uniform small policies are better compared at 1).",
                               default=0.0)
    at_start: bool = _help("Evaluate the starting policy (after the warm start).", default=True)
    baselines: list[str] = _help("Classic agents on the same held-out instances.",
                                 default_factory=lambda: ["random", "greedy", "ucb"])
    analyses: list[str] = _help(
        "Bandits: analyses run at the end on the starting and the final policy, into "
        "RUN/analysis (greediness: coverage by step; knowing_doing: the UCB-instructed "
        "prompt; frequency_bias: does it copy the most repeated action), at the run's arms, "
        "horizon and prompt.", default_factory=list)
    analysis_episodes: int = _help("Instances each analysis plays per policy.", default=16)


@dataclass
class SftSection:
    dataset: str = _help("run.mode=sft: dataset directory written by `rlft data` "
                         "(examples.jsonl + manifest.json).", default="")
    epochs: int = _help("Passes over the training examples (ignored when sft.steps > 0).",
                        default=1)
    steps: int = _help("Optimizer steps of optim.batch_size sequences (0: sft.epochs decide); "
                       "the examples are cycled in a fresh order every pass.", default=0)
    max_examples: int = _help("Use at most this many examples, the first ones of the file "
                              "(0: all).", default=0)
    val_fraction: float = _help("Share of the episodes held out for the validation loss (by "
                                "episode, so no state of a validation episode is trained on).",
                                default=0.02)
    log_every: int = _help("Optimizer steps between logged metrics (and validation losses).",
                           default=10)


@dataclass
class RunSection:
    mode: str = _help("rl: RL fine-tuning (PPO + KL); sft: supervised fine-tuning on the "
                      "dataset named in sft.dataset (loss on target tokens only).", default="rl")
    out_dir: str = _help("Run directory: metrics, checkpoints, plots, the exported model.",
                         default="runs/train")
    seed: int = _help("Seed of everything (envs, sampling, shuffling, init).", default=0)
    iterations: int = _help("Rollout + update cycles.", default=10)
    time_limit_s: float = _help("Stop training before an iteration that would end past this "
                                "many seconds, judged by the last one's length (0: no limit).",
                                default=0.0)
    checkpoint_every: int = _help("Iterations between checkpoints (0: only at the end).",
                                  default=0)
    keep_checkpoints: int = _help("Checkpoints kept (oldest deleted first).", default=2)
    resume: str = _help(
        "auto: continue from the run directory's latest checkpoint when the saved config "
        "matches this one (fields that do not change results excepted: run.iterations, "
        "time_limit_s, checkpointing, logging), and refuse with the differing fields named "
        "otherwise; force: continue whatever differs; never: start over, overwriting the "
        "directory's checkpoints and logs.", default="auto")
    export: bool = _help("Write the final policy as a plain HF model directory.", default=True)
    tensorboard: bool = _help("Mirror metrics to TensorBoard.", default=True)
    wandb: bool = _help("Mirror metrics to Weights & Biases (needs wandb installed).",
                        default=False)
    sample_rollouts: int = _help("Rollout steps saved as text per iteration.", default=4)
    progress: bool = _help("Show a progress bar.", default=True)


@dataclass
class TrainConfig:
    """One RLFT run. Sections mirror the YAML files in configs/."""

    model: ModelSection = field(default_factory=ModelSection)
    env: EnvSection = field(default_factory=EnvSection)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    rollout: CollectSection = field(default_factory=CollectSection)
    algo: AlgoSection = field(default_factory=AlgoSection)
    optim: OptimSection = field(default_factory=OptimSection)
    engine: EngineSection = field(default_factory=EngineSection)
    warm_start: WarmStartSection = field(default_factory=WarmStartSection)
    sft: SftSection = field(default_factory=SftSection)
    eval: EvalSection = field(default_factory=EvalSection)
    run: RunSection = field(default_factory=RunSection)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class ConfigError(ValueError):
    """A bad configuration; the message names the field."""


CHOICES = {
    "model.dtype": ("auto", "float32", "bfloat16"),
    "env.name": ("mab", "contextual_bandit", "tictactoe"),
    "env.noise": ("low", "medium", "high"),
    "env.reward_type": ("gaussian", "bernoulli"),
    "env.opponent": ("random", "minimax", "mcts", "noisy"),
    "algo.advantage": ("mc", "gae"),
    "warm_start.expert": ("format", "greedy"),
    "algo.kl_mode": ("loss", "reward"),
    "algo.kl_estimator": ("k1", "k2", "k3"),
    "optim.optimizer": ("adamw", "adafactor"),
    "engine.zero_stage": (0, 1, 2, 3),
    "run.mode": ("rl", "sft"),
    "run.resume": ("auto", "force", "never"),
}
POSITIVE = ("env.num_arms", "env.horizon", "env.pool_size", "env.eval_pool_size",
            "rollout.num_envs", "rollout.max_new_tokens", "rollout.generation_batch_size",
            "rollout.max_prompt_tokens", "algo.update_epochs", "optim.batch_size",
            "optim.micro_batch_size", "eval.episodes", "eval.seeds", "eval.analysis_episodes",
            "run.iterations", "algo.group_size",
            "run.keep_checkpoints", "model.lora_rank", "model.tiny_layers", "model.tiny_hidden")
NON_NEGATIVE = ("algo.kl_coef", "algo.value_coef", "algo.exploration_bonus", "algo.clip_eps",
                "optim.lr", "optim.min_lr", "optim.warmup_steps", "optim.weight_decay",
                "optim.grad_clip", "warm_start.steps", "warm_start.lr", "eval.temperature",
                "rollout.temperature", "run.time_limit_s", "run.checkpoint_every",
                "run.sample_rollouts", "engine.threads")


def preset_options(config: TrainConfig) -> dict[str, Any] | None:
    """The tiny preset's options set in the model section (None for other models)."""
    if config.model.name != "tiny":
        return None
    return {option: getattr(config.model, field) for field, option in TINY_OPTIONS.items()}


# Envs of fixed episode length (the horizon): Monte Carlo advantages, no value head.
BANDITS = ("mab", "contextual_bandit")


def env_options(config: TrainConfig, split: str) -> dict[str, Any]:
    """The options of ``rlft.envs.make(config.env.name, ...)`` for the train or eval split."""
    env = config.env
    if env.name == "mab":
        return dict(num_arms=env.num_arms, horizon=env.horizon, noise=env.noise,
                    reward_type=env.reward_type, pooled=True, split=split,
                    pool_size=env.pool_size, eval_pool_size=env.eval_pool_size)
    if env.name == "contextual_bandit":
        return dict(num_arms=env.num_arms, horizon=env.horizon, split=split,
                    data_dir=env.data_dir)
    return dict(opponent=env.opponent)


def _validate_env(config: TrainConfig) -> None:
    """Builds the env's own config (no env, no data read) so that its checks run now; an error
    names the env.<field> it comes from."""
    from rlft.envs.registry import registered

    options = env_options(config, "train")
    try:
        registered()[config.env.name].config_class(**options)
    except (TypeError, ValueError) as error:
        message = str(error)
        field_name = next((name for name in options if message.startswith(name)), None)
        raise ConfigError(f"env.{message}" if field_name else f"env: {message}") from None
    if config.env.data_dir is not None and not Path(config.env.data_dir).is_dir():
        raise ConfigError(f"env.data_dir {config.env.data_dir!r} is not a directory")
    if config.env.name == "mab":
        from rlft.text.prompts import mab_labels

        try:
            mab_labels(config.prompt.variant, config.env.num_arms)
        except ValueError as error:
            raise ConfigError(f"prompt.variant / env.num_arms: {error}") from None


def checkpointing_keeps_cache() -> bool:
    """Whether this transformers can keep a layer's cache under gradient checkpointing, which
    the shared prefix needs (its cache is read, never written, by the checkpointed pass)."""
    from transformers.modeling_layers import GradientCheckpointingLayer

    return hasattr(GradientCheckpointingLayer, "_can_checkpoint_with_cache")


def _get(config: TrainConfig, path: str) -> Any:
    section, name = path.split(".")
    return getattr(getattr(config, section), name)


def validate(config: TrainConfig, world_size: int = 1) -> None:
    """Every check that can fail before work starts; raises ConfigError naming the field."""
    for path, choices in CHOICES.items():
        if _get(config, path) not in choices:
            raise ConfigError(f"{path} must be one of {list(choices)}, got {_get(config, path)!r}")
    for path in POSITIVE:
        if not _get(config, path) >= 1:
            raise ConfigError(f"{path} must be >= 1, got {_get(config, path)!r}")
    for path in NON_NEGATIVE:
        if not _get(config, path) >= 0:
            raise ConfigError(f"{path} must be >= 0, got {_get(config, path)!r}")
    tiny_only = [name for name in TINY_OPTIONS
                 if getattr(config.model, name) != getattr(ModelSection(), name)]
    if tiny_only and config.model.name != "tiny":
        raise ConfigError(f"model.{tiny_only[0]} applies to the tiny preset only, and model.name "
                          f"is {config.model.name!r}")
    if not 0 < config.rollout.top_p <= 1:
        raise ConfigError(f"rollout.top_p must be in (0, 1], got {config.rollout.top_p}")
    betas = config.optim.adam_betas
    if len(betas) != 2 or not all(0 <= beta < 1 for beta in betas):
        raise ConfigError(f"optim.adam_betas must be two numbers in [0, 1), got {betas}")
    if not 0 <= config.algo.epsilon <= 1:
        raise ConfigError(f"algo.epsilon must be in [0, 1], got {config.algo.epsilon}")
    if not (0 <= config.algo.gamma <= 1 and 0 <= config.algo.gae_lambda <= 1):
        raise ConfigError("algo.gamma and algo.gae_lambda must be in [0, 1]")
    if config.rollout.temperature == 0:
        raise ConfigError("rollout.temperature must be > 0: RL needs sampled actions")
    per_step = config.optim.micro_batch_size * world_size
    if config.optim.batch_size % per_step:
        raise ConfigError(
            f"optim.batch_size ({config.optim.batch_size}) must be a multiple of "
            f"optim.micro_batch_size x ranks ({config.optim.micro_batch_size} x {world_size})")
    _validate_env(config)
    if config.run.mode == "sft":
        _validate_sft(config)
    elif config.env.name in BANDITS:
        transitions = config.rollout.num_envs * config.env.horizon * world_size
        if transitions < config.optim.batch_size:
            raise ConfigError(
                f"optim.batch_size ({config.optim.batch_size}) is larger than one rollout "
                f"(rollout.num_envs x env.horizon x ranks = {transitions} transitions)")
    if config.env.name == "tictactoe":
        if config.algo.advantage != "gae" and config.run.mode == "rl":
            raise ConfigError("algo.advantage must be 'gae' for tictactoe (variable length)")
        if config.algo.try_all:
            raise ConfigError("algo.try_all applies to bandits only")
    try:
        config.prompt.validate()
        config.prompt.check_env(config.env.name)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"prompt.{error}") from None
    if config.env.name == "mab" and config.prompt.history_window == 0 \
            and not config.prompt.summary and config.prompt.style.value != "observation":
        raise ConfigError("prompt.history_window=0 shows nothing of the episode: set "
                          "prompt.summary=true")
    if config.engine.gradient_checkpointing and not checkpointing_keeps_cache():
        raise ConfigError("engine.gradient_checkpointing needs transformers >= 5.15 (layers "
                          "that keep a read-only key/value cache under checkpointing)")
    unknown = [name for name in config.eval.analyses if name not in ANALYSES]
    if unknown:
        raise ConfigError(f"eval.analyses entries must be among {list(ANALYSES)}, got "
                          f"{unknown[0]!r}")
    if config.eval.analyses and (config.env.name != "mab" or not config.run.export):
        raise ConfigError("eval.analyses plays multi-armed bandit episodes with the starting and "
                          "the exported final policy: it needs env.name=mab and "
                          "run.export=true")
    if "knowing_doing" in config.eval.analyses:
        try:
            dataclasses.replace(config.prompt, cot=True, ucb_instructed=True)
        except ValueError as error:
            raise ConfigError(f"eval.analyses: knowing_doing plays the UCB-instructed version of "
                              f"the run's prompt, which this prompt cannot take ({error})"
                              ) from None
    if config.algo.group_size > 1:
        if config.env.name != "mab" or config.algo.advantage != "mc":
            raise ConfigError("algo.group_size > 1 groups multi-armed bandit instances for the "
                              "mc baseline: it needs env.name=mab and algo.advantage=mc")
        if config.rollout.num_envs % config.algo.group_size:
            raise ConfigError(f"rollout.num_envs ({config.rollout.num_envs}) must be a multiple "
                              f"of algo.group_size ({config.algo.group_size})")
    if not 0 <= config.warm_start.epsilon <= 1:
        raise ConfigError(f"warm_start.epsilon must be in [0, 1], got {config.warm_start.epsilon}")
    if config.warm_start.expert == "greedy" and (
            config.env.name != "mab" or config.prompt.randomise_labels):
        raise ConfigError("warm_start.expert=greedy reads a multi-armed bandit's counts and "
                          "means in label order: it needs env.name=mab and "
                          "prompt.randomise_labels=false")
    if config.optim.min_lr > config.optim.lr:
        raise ConfigError(f"optim.min_lr ({config.optim.min_lr}) exceeds optim.lr")
    instances = config.eval.episodes * config.eval.seeds
    if config.env.name == "mab" and instances > config.env.eval_pool_size:
        raise ConfigError(f"eval.episodes x eval.seeds ({instances} distinct instances) exceeds "
                          f"the held-out pool (env.eval_pool_size = "
                          f"{config.env.eval_pool_size})")
    if config.algo.kl_mode == "loss" and config.algo.kl_estimator == "k1":
        raise ConfigError("algo.kl_estimator=k1 has zero expected gradient as a loss term (no "
                          "regularisation at all): use k2 (gradient of KL(pi || pi_ref)), k3 "
                          "(gradient of KL(pi_ref || pi)) or algo.kl_mode=reward")


def _validate_sft(config: TrainConfig) -> None:
    sft = config.sft
    if not sft.dataset:
        raise ConfigError("sft.dataset must name a dataset directory (run.mode=sft); make one "
                          "with `rlft data ...`")
    for name in ("epochs", "log_every"):
        if not getattr(sft, name) >= 1:
            raise ConfigError(f"sft.{name} must be >= 1, got {getattr(sft, name)!r}")
    for name in ("steps", "max_examples"):
        if not getattr(sft, name) >= 0:
            raise ConfigError(f"sft.{name} must be >= 0, got {getattr(sft, name)!r}")
    if not 0 <= sft.val_fraction < 1:
        raise ConfigError(f"sft.val_fraction must be in [0, 1), got {sft.val_fraction}")


# ----------------------------------------------------------------------------- loading

def _coerce(value: Any, hint: Any, path: str) -> Any:
    """Checks a YAML/CLI value against the field's type; ints are accepted for floats."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        if value is None and type(None) in args:
            return None
        hint = next(a for a in args if a is not type(None))
        origin = typing.get_origin(hint)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{path} must be a list, got {value!r}")
        return [_coerce(v, typing.get_args(hint)[0], path) for v in value]
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        choices = [member.value for member in hint]
        if value not in choices:
            raise ConfigError(f"{path} must be one of {choices}, got {value!r}")
        return hint(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str):  # YAML 1.1 reads '3e-4' as a string
        try:
            return float(value)
        except ValueError:
            pass
    if hint in (int, float, str, bool) and (type(value) is not hint):
        raise ConfigError(f"{path} must be {hint.__name__}, got {value!r}")
    return value


def _apply(config: TrainConfig, values: dict[str, Any], source: str) -> None:
    for section_name, section_values in values.items():
        if section_name not in {f.name for f in dataclasses.fields(TrainConfig)}:
            raise ConfigError(f"{source}: unknown section {section_name!r}; known: "
                              f"{[f.name for f in dataclasses.fields(TrainConfig)]}")
        if not isinstance(section_values, dict):
            raise ConfigError(f"{source}: section {section_name!r} must be a mapping")
        section = getattr(config, section_name)
        hints = typing.get_type_hints(type(section))
        for key, value in section_values.items():
            if key not in hints:
                raise ConfigError(f"{source}: unknown key {section_name}.{key}; known: "
                                  f"{sorted(hints)}")
            setattr(section, key, _coerce(value, hints[key], f"{section_name}.{key}"))


def parse_override(text: str) -> tuple[str, str, Any]:
    """'optim.lr=3e-4' -> ('optim', 'lr', 3e-4); values are YAML scalars or lists."""
    if "=" not in text or "." not in text.split("=", 1)[0]:
        raise ConfigError(f"override {text!r} must look like section.key=value")
    key, raw = text.split("=", 1)
    section, name = key.split(".", 1)
    return section, name, yaml.safe_load(raw) if raw != "" else ""


def load_config(path: str | Path | None = None, overrides: Sequence[str] = (),
                world_size: int = 1) -> TrainConfig:
    """Defaults, then the YAML file, then the overrides; validated for `world_size` ranks
    (rollout.num_envs is per rank)."""
    config = TrainConfig()
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        values = yaml.safe_load(path.read_text()) or {}
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections")
        _apply(config, values, str(path))
    for text in overrides:
        section, name, value = parse_override(text)
        _apply(config, {section: {name: value}}, f"override {text!r}")
    validate(config, world_size)
    return config
