"""The recipe of the ``tiny-agent`` preset: a small model that rlft pretrains on its own prompts,
standing in on a CPU for the paper's pretrained LLM (it reads its state and is greedy).

    rlft build-agent --config configs/tiny_agent.yaml            # into python/rlft/assets/tiny_agent

top to bottom: recipe (YAML) -> tokenizer and model (the tiny preset's builder) -> corpus (per
env: the states a mix of behaviour players reach, each answered by an imperfect expert, played
through the one episode loop) -> supervised steps on answer tokens (the warm start's) -> the
model directory with its manifest (settings, corpus digest, commit, sha256 of the weights).

The corpus parts name the training configs whose envs and prompts they render, so the model
learns exactly the prompts RL later shows it; the manifest's corpus digest changes whenever
those prompts or the experts' answers do (tests compare it with the shipped asset's).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import yaml

from rlft.models.tiny import TinyModelConfig
from rlft.models.tiny_agent import MANIFEST_NAME, PRESET_NAME, weights_sha256
from rlft.sft.config import _help

# Answers (targets) a part's examples are written by.
EXPERTS = ("greedy", "random")
DIGEST_EXAMPLES = 64  # examples per part hashed into the manifest's corpus digest


class RecipeError(ValueError):
    """A recipe setting that cannot work, named."""


@dataclass
class CorpusPart:
    """One env's share of the corpus."""

    config: str = _help("Training config whose env and prompt sections the examples use (the "
                        "RL config that starts from this model), as a path from the directory "
                        "above the recipe's own (the repository root for configs/*.yaml).")
    expert: str = _help("Who writes the answers: greedy (bandits: the means rationale, "
                        "then the best printed mean) or random (a uniformly random legal "
                        "action, 'ACTION=<label>': the format, none of the skill).",
                        default="random")
    epsilon: float = _help("greedy only: the share of steps with an untried action on which "
                           "the answer explores one instead.", default=0.0)
    behaviours: list[dict[str, Any]] = _help(
        "The players whose actions are played (so whose states are visited), one round of "
        "episodes each in turn: {name: <agent>, <option>: <value>}, e.g. {name: "
        "epsilon_greedy, epsilon: 0.3}.", default_factory=lambda: [{"name": "random"}])
    share: float = _help("Share of the optimizer steps (each step's batch comes from one "
                         "part, so it shares one prompt prefix).", default=1.0)


@dataclass
class TrainingSection:
    steps: int = _help("Optimizer steps.", default=1000)
    batch_size: int = _help("Examples per step.", default=32)
    lr: float = _help("Peak learning rate (AdamW).", default=3e-3)
    min_lr: float = _help("Learning rate at the end of the cosine decay.", default=3e-4)
    warmup_steps: int = _help("Linear warm-up steps.", default=30)
    grad_clip: float = _help("Gradient norm clip.", default=1.0)
    threads: int = _help("torch threads: the float arithmetic, so the weights, depend on it.",
                         default=2)


@dataclass
class AgentRecipe:
    model: TinyModelConfig = _help("The tiny preset's tokenizer and architecture.",
                                   default_factory=TinyModelConfig)
    corpus: list[CorpusPart] = _help("The corpus, one part per env.", default_factory=list)
    training: TrainingSection = _help("The supervised steps.", default_factory=TrainingSection)
    seed: int = _help("Seed of the corpus draws and of the batch order.", default=0)

    def settings(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load_recipe(path: str | Path, overrides: dict[str, Any] | None = None) -> AgentRecipe:
    """The recipe in a YAML file (sections model, corpus, training, seed), checked; its
    corpus configs are read from the directory above the file's (configs/ -> the root)."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"recipe file {path} does not exist")
    values = yaml.safe_load(path.read_text()) or {}
    values.update(overrides or {})
    return recipe_from_dict(values, str(path), path.resolve().parent.parent)


def recipe_from_dict(values: dict[str, Any], source: str = "recipe",
                     root: str | Path = ".") -> AgentRecipe:
    """The recipe from its sections; corpus config paths are taken from `root`."""
    known = {f.name for f in dataclasses.fields(AgentRecipe)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise RecipeError(f"{source}: unknown section(s) {unknown}; known: {sorted(known)}")
    try:
        model = TinyModelConfig(**values.get("model", {}))
        parts = [CorpusPart(**part) for part in values.get("corpus", [])]
        training = TrainingSection(**values.get("training", {}))
    except TypeError as error:
        raise RecipeError(f"{source}: {error}") from None
    except ValueError as error:
        raise RecipeError(f"{source}: {error}") from None
    recipe = AgentRecipe(model, parts, training, values.get("seed", 0))
    for part in parts:
        # Where the config is read from: not a setting (the manifest keeps the relative path).
        part.config_path = Path(root) / part.config
    check_recipe(recipe, source)
    return recipe


def check_recipe(recipe: AgentRecipe, source: str) -> None:
    if not recipe.corpus:
        raise RecipeError(f"{source}: corpus needs at least one part")
    for index, part in enumerate(recipe.corpus):
        where = f"{source}: corpus[{index}]"
        if part.expert not in EXPERTS:
            raise RecipeError(f"{where}.expert must be one of {list(EXPERTS)}, got {part.expert!r}")
        if not 0.0 <= part.epsilon <= 1.0:
            raise RecipeError(f"{where}.epsilon must be in [0, 1], got {part.epsilon}")
        if part.expert != "greedy" and part.epsilon:
            raise RecipeError(f"{where}.epsilon applies to the greedy expert only")
        if not part.share > 0:
            raise RecipeError(f"{where}.share must be > 0, got {part.share}")
        if not part.behaviours or any(not isinstance(b, dict) or "name" not in b
                                      for b in part.behaviours):
            raise RecipeError(f"{where}.behaviours must be a non-empty list of {{name: ...}}")
        if not part.config_path.is_file():
            raise RecipeError(f"{where}.config: {part.config_path} does not exist")
    training = recipe.training
    for name in ("steps", "batch_size", "threads"):
        if not isinstance(getattr(training, name), int) or getattr(training, name) < 1:
            raise RecipeError(f"{source}: training.{name} must be a positive int")
    if not 0 < training.min_lr <= training.lr:
        raise RecipeError(f"{source}: need 0 < training.min_lr <= training.lr")
    if not isinstance(recipe.seed, int) or recipe.seed < 0:
        raise RecipeError(f"{source}: seed must be a non-negative int, got {recipe.seed!r}")


# ----------------------------------------------------------------------------- corpus

def part_config(part: CorpusPart) -> Any:
    """The training config a part renders its prompts with."""
    from rlft.trainer.config import load_config

    return load_config(part.config_path)


def part_player(part: CorpusPart, config: Any, env: Any, behaviour: dict[str, Any]) -> Any:
    """`behaviour`'s actions, each state answered by the part's expert."""
    from rlft.agents import make_agent
    from rlft.sft.experts import AnsweringAgent, GreedyExpert, OnBehaviourStates

    options = {key: value for key, value in behaviour.items() if key != "name"}
    expert = (GreedyExpert(env, config.prompt, part.epsilon) if part.expert == "greedy"
              else AnsweringAgent(env, config.prompt, make_agent("random")))
    return OnBehaviourStates(expert, make_agent(behaviour["name"], **options))


def part_examples(part: CorpusPart, index: int, num_examples: int, seed: int, tokenizer: Any
                  ) -> tuple[list[list[int]], list[list[int]], list[str]]:
    """(prompt ids, answer ids, answer texts) of the first `num_examples` steps of the part's
    rounds (round r: behaviour r mod len(behaviours), seed derived_seed(seed, index, r)), in a
    seeded random order. Prompts are encoded as the LLM agent encodes them."""
    from rlft.agents import run_episodes
    from rlft.agents.generation import PromptEncoder
    from rlft.agents.llm_agent import make_prompter
    from rlft.sft.generate import derived_seed
    from rlft.text.chat import format_chat, shared_chat_prefix
    from rlft.trainer.evaluate import make_env

    config = part_config(part)
    num_envs = config.rollout.num_envs
    env = make_env(config, num_envs, derived_seed(seed, index), "train")
    prompter = make_prompter(env, config.prompt, num_envs, seed)
    encoder = PromptEncoder(tokenizer, shared_chat_prefix(tokenizer, prompter.shared_text()),
                            config.rollout.max_prompt_tokens)
    prompts: list[list[int]] = []
    texts: list[str] = []
    round_index = 0
    while len(prompts) < num_examples:
        behaviour = part.behaviours[round_index % len(part.behaviours)]
        player = part_player(part, config, env, behaviour)
        rollout = run_episodes(env, player, seed=derived_seed(seed, index, round_index))
        round_index += 1
        for _, _, record in rollout.records()[:num_examples - len(prompts)]:
            prompts.append(encoder.encode(format_chat(
                tokenizer, [{"role": "user", "content": record.prompt}])))
            texts.append(record.generation)
    answers = [ids + [tokenizer.eos_token_id]
               for ids in (tokenizer(texts, add_special_tokens=False)["input_ids"] if texts
                           else [])]
    order = np.random.default_rng([seed, index, 7]).permutation(len(prompts))
    return ([prompts[i] for i in order], [list(answers[i]) for i in order],
            [texts[i] for i in order])


def part_steps(recipe: AgentRecipe) -> list[int]:
    """Optimizer steps per part, by share (largest remainders), summing to training.steps."""
    shares = np.array([part.share for part in recipe.corpus], dtype=np.float64)
    exact = shares / shares.sum() * recipe.training.steps
    steps = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - steps), kind="stable")[:recipe.training.steps - steps.sum()]:
        steps[i] += 1
    return steps.tolist()


def step_schedule(recipe: AgentRecipe) -> list[int]:
    """The part each optimizer step draws its batch from, interleaved in a seeded order."""
    schedule = np.repeat(np.arange(len(recipe.corpus)), part_steps(recipe))
    return np.random.default_rng([recipe.seed, 3]).permutation(schedule).tolist()


def corpus_digests(recipe: AgentRecipe, tokenizer: Any) -> list[str]:
    """Per part, sha256 of the token ids of its first DIGEST_EXAMPLES examples (prompt and
    answer): it changes whenever the prompts, the experts' answers, the behaviours or the
    tokenizer do. A few seconds, so that a test can compare it with the shipped manifest's."""
    digests = []
    for index, part in enumerate(recipe.corpus):
        prompts, answers, _ = part_examples(part, index, DIGEST_EXAMPLES, recipe.seed, tokenizer)
        ids = [p + a for p, a in zip(prompts, answers)]
        digests.append(hashlib.sha256(json.dumps(ids).encode()).hexdigest())
    return digests


# ----------------------------------------------------------------------------- build

def build_agent(recipe: AgentRecipe, out_dir: str | Path, log_every: int = 100,
                probe: Any = None) -> dict[str, Any]:
    """Builds the model into `out_dir` (replaced) and returns its manifest."""
    import torch

    from rlft.models.tiny import init_tiny_model, train_tiny_tokenizer
    from rlft.trainer.provenance import source_commit
    from rlft.trainer.warm_start import fit_answers

    started = time.perf_counter()
    torch.set_num_threads(recipe.training.threads)
    tokenizer = train_tiny_tokenizer(recipe.model)
    lm = init_tiny_model(recipe.model, tokenizer)
    schedule = step_schedule(recipe)
    batch = recipe.training.batch_size
    corpora = [part_examples(part, index, schedule.count(index) * batch, recipe.seed,
                             tokenizer)[:2] for index, part in enumerate(recipe.corpus)]
    corpus_s = time.perf_counter() - started
    print(f"build-agent: corpus of {len(schedule) * batch} examples in {corpus_s:.0f} s",
          flush=True)

    def batches():
        used = [0] * len(corpora)
        for part in schedule:
            prompts, answers = corpora[part]
            chunk = slice(used[part], used[part] + batch)
            used[part] += batch
            yield prompts[chunk], answers[chunk]

    training = recipe.training
    losses = fit_answers(lm, tokenizer, batches(), steps=training.steps, lr=training.lr,
                         min_lr=training.min_lr, warmup_steps=training.warmup_steps,
                         grad_clip=training.grad_clip, frozen=frozen_embedding_columns(recipe),
                         log_every=log_every)
    out_dir = Path(out_dir)
    save_agent(lm, tokenizer, out_dir)
    manifest = {
        "preset": PRESET_NAME,
        "recipe": recipe.settings(),
        "corpus_digests": corpus_digests(recipe, tokenizer),
        "commit": source_commit(),
        "weights_sha256": weights_sha256(out_dir),
        "parameters": sum(p.numel() for p in lm.parameters()),
        "final_loss": float(np.mean(losses[-20:])),
        "build_s": time.perf_counter() - started,
        "corpus_s": corpus_s,
    }
    (out_dir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def frozen_embedding_columns(recipe: AgentRecipe) -> list[int]:
    """The embedding columns that carry number values: fixed features, not trained."""
    from rlft.models.tiny import number_columns

    return number_columns(recipe.model)


def save_agent(lm: Any, tokenizer: Any, out_dir: Path) -> None:
    import shutil

    from rlft.models.portable import make_model_dir_portable
    from rlft.models.tiny import CHAT_TEMPLATE

    shutil.rmtree(out_dir, ignore_errors=True)
    lm.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    make_model_dir_portable(out_dir, CHAT_TEMPLATE)
