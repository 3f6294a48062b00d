"""Frequency bias (paper Fig. 4): does the policy copy the most frequent action?

Contexts: ``num_histories`` random-policy histories of ``min_history..max_history`` steps on a
K-armed Gaussian bandit; for each, ``num_targets`` distinct target actions. Context (h, a, r)
is history h's first L_h - 1 random steps, one step of a, then a repeated r more times
(r = 0..max_repetitions): "the last action is repeated r times". Rewards come from the
history's bandit instance (means U(0, 1), the env's sigma for ``noise``).

Scoring: the no-CoT prompt of the context, chat-formatted, followed by the answer
``ACTION=<label>`` for every label, by teacher forcing (an ``ActionScorer``); the K answer
probabilities, renormalised, are the policy pi(a | context). A policy that writes a rationale
before its answer is scored by sampling instead (``samples`` >= 1, ``SamplingScorer``): the
prompt keeps its CoT setting, and pi(a | context) is the share of the sampled answers that the
paper's parser reads as a.

Per context: entropy H = -sum pi log pi (nats) and the chosen action argmax pi, classified
with the paper's rule: frequent set F = argmax_a N(a); greedy set G = argmax over tried arms of
the mean reward; chosen in G -> greedy (so a frequent action that is also greedy counts as
greedy); else in F -> frequent; else other. Fractions F_f, F_g, F_o are shares of contexts,
overall and per repetition bucket; ``mass_*`` are the same with probability mass instead of
the argmax. Corr = Pearson correlation of repetitions and entropy over all contexts.
"""

from __future__ import annotations

import dataclasses
import inspect
import time
from dataclasses import dataclass
from typing import Any, Protocol, Sequence

import numpy as np

from rlft.analysis.config import FrequencyBiasConfig
from rlft.analysis.playing import prepare_run_dir, write_json
from rlft.text.history import HistoryStep
from rlft.text.prompts import MabTask, mab_labels, render_mab_prompt

CATEGORIES = ("frequent", "greedy", "other")


@dataclass(frozen=True)
class ScoringQuery:
    """One context to score: the prompt text and the history behind it."""

    prompt: str
    labels: tuple[str, ...]
    actions: np.ndarray  # int[L] actions of the context, oldest first
    rewards: np.ndarray  # float[L]


class ActionScorer(Protocol):
    """Scores every action label for a context. The LLM implementation is
    ``TeacherForcingScorer``; tests use scripted scorers with known answers."""

    def log_probs(self, queries: Sequence[ScoringQuery]) -> np.ndarray:
        """float[N, K] log-probabilities (unnormalised is fine: the analysis renormalises
        over the K labels; -inf for impossible actions)."""


@dataclass(frozen=True)
class Context:
    history: int
    target: int
    repetitions: int
    actions: np.ndarray
    rewards: np.ndarray


def build_contexts(config: FrequencyBiasConfig) -> list[Context]:
    """Every (history, target, repetitions) context, ordered so that consecutive contexts of
    one (history, target) extend each other (the LLM scorer reuses its cache)."""
    sigma = _noise_sigma(config.noise)
    contexts = []
    for history in range(config.num_histories):
        rng = np.random.default_rng([config.seed, history])
        means = rng.uniform(0.0, 1.0, config.arms)
        length = int(rng.integers(config.min_history, config.max_history + 1))
        prefix = rng.integers(0, config.arms, length - 1)
        prefix_rewards = rng.normal(means[prefix], sigma)
        targets = rng.choice(config.arms, size=config.num_targets, replace=False)
        for target in targets:
            target_rng = np.random.default_rng([config.seed, history, int(target)])
            tail_rewards = target_rng.normal(means[target], sigma, config.max_repetitions + 1)
            for repetitions in config.repetitions():
                actions = np.concatenate([prefix, np.full(repetitions + 1, target)])
                rewards = np.concatenate([prefix_rewards, tail_rewards[:repetitions + 1]])
                contexts.append(Context(history, int(target), repetitions,
                                        actions.astype(np.int64), rewards))
    return contexts


def _noise_sigma(noise: str) -> float:
    from rlft.envs.bandits import MultiArmedBanditConfig

    return float(MultiArmedBanditConfig(noise=noise).resolved_sigma)


def render_context(config: FrequencyBiasConfig, context: Context, horizon: int) -> str:
    """The bandit prompt showing the context as the history so far: without CoT for teacher
    forcing, with the prompt's own CoT setting for sampling."""
    history = [HistoryStep(step, int(action), float(reward))
               for step, (action, reward) in enumerate(zip(context.actions, context.rewards))]
    prompt = config.prompt if config.samples else dataclasses.replace(config.prompt, cot=False)
    return render_mab_prompt(prompt, MabTask(config.arms, horizon), history)


def classify(actions: np.ndarray, rewards: np.ndarray, num_actions: int
             ) -> tuple[np.ndarray, np.ndarray]:
    """bool[K] frequent set (most taken arms) and bool[K] greedy set (tried arms with the best
    mean reward) of one context."""
    counts = np.bincount(actions, minlength=num_actions)
    sums = np.bincount(actions, weights=rewards, minlength=num_actions)
    frequent = counts == counts.max()
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.maximum(counts, 1), -np.inf)
    greedy = (counts > 0) & (means == means[counts > 0].max())
    return frequent, greedy


def normalise(log_probs: np.ndarray) -> np.ndarray:
    """float[N, K] probabilities from (unnormalised) log-probabilities."""
    log_probs = np.asarray(log_probs, dtype=np.float64)
    shifted = log_probs - log_probs.max(axis=1, keepdims=True)
    weights = np.exp(shifted)
    return weights / weights.sum(axis=1, keepdims=True)


def entropy(probs: np.ndarray) -> np.ndarray:
    """float[N] entropy in nats (0 log 0 = 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(probs > 0, probs * np.log(probs), 0.0)
    return -terms.sum(axis=1)


def _fractions(category: np.ndarray, mass: np.ndarray, on_target: np.ndarray,
               target_mass: np.ndarray, mask: np.ndarray) -> dict[str, Any]:
    count = int(mask.sum())
    result: dict[str, Any] = {"contexts": count}
    for index, name in enumerate(CATEGORIES):
        result[name] = float(np.mean(category[mask] == index)) if count else float("nan")
        result[f"mass_{name}"] = float(mass[mask, index].mean()) if count else float("nan")
    # The repeated action itself, whatever its category.
    result["target"] = float(on_target[mask].mean()) if count else float("nan")
    result["mass_target"] = float(target_mass[mask].mean()) if count else float("nan")
    return result


def frequency_bias_metrics(contexts: Sequence[Context], probs: np.ndarray,
                           buckets: Sequence[tuple[int, int]]) -> dict[str, Any]:
    """Entropy, correlation and frequent / greedy / other fractions of scored contexts.

    probs float[N, K]: pi(a | context) per context (rows sum to 1).
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.shape[0] != len(contexts):
        raise ValueError(f"probs has {probs.shape[0]} rows for {len(contexts)} contexts")
    num_actions = probs.shape[1]
    chosen = probs.argmax(axis=1)
    category = np.empty(len(contexts), dtype=np.int64)  # index into CATEGORIES
    mass = np.zeros((len(contexts), 3))
    for index, context in enumerate(contexts):
        frequent, greedy = classify(context.actions, context.rewards, num_actions)
        frequent_only = frequent & ~greedy  # the tie rule: frequent and greedy is greedy
        category[index] = 1 if greedy[chosen[index]] else 0 if frequent[chosen[index]] else 2
        mass[index] = (probs[index, frequent_only].sum(), probs[index, greedy].sum(),
                       probs[index, ~(frequent_only | greedy)].sum())
    repetitions = np.array([context.repetitions for context in contexts])
    entropies = entropy(probs)
    correlation = float("nan")
    if np.std(repetitions) > 0 and np.std(entropies) > 0:
        correlation = float(np.corrcoef(repetitions, entropies)[0, 1])
    targets = np.array([context.target for context in contexts])
    on_target = chosen == targets
    target_mass = probs[np.arange(len(contexts)), targets]
    everything = np.ones(len(contexts), dtype=bool)
    per_bucket = {f"{low}-{high}": _fractions(category, mass, on_target, target_mass,
                                             (repetitions >= low) & (repetitions <= high))
                  for low, high in buckets}
    reps = np.unique(repetitions)
    return {
        "num_contexts": len(contexts),
        "num_actions": int(num_actions),
        "entropy_repetition_correlation": correlation,
        "entropy_mean": float(entropies.mean()),
        "overall": _fractions(category, mass, on_target, target_mass, everything),
        "argmax_counts": np.bincount(chosen, minlength=num_actions).tolist(),
        "buckets": per_bucket,
        "repetitions": reps.tolist(),
        "entropy_by_repetition": [float(entropies[repetitions == r].mean()) for r in reps],
        "fractions_by_repetition": {
            name: [float(np.mean(category[repetitions == r] == index)) for r in reps]
            for index, name in enumerate(CATEGORIES)},
        "context_entropy": entropies.tolist(),
        "context_category": [CATEGORIES[c] for c in category],
    }


class TeacherForcingScorer:
    """log P(``ACTION=<label>`` | chat(prompt)) for every label, by teacher forcing.

    The K answers share the prompt, so the prompt runs once and the K label continuations run
    as one batch on its KV cache. The cache also survives between calls: a context that
    extends the previous one (one more repeated history line) only runs its new tokens.
    """

    answer_template = "ACTION={label}"

    def __init__(self, model: Any, tokenizer: Any) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self._cache: Any = None
        self._cached_ids: list[int] = []
        self._cache_name: str | None = None
        self.forward_tokens = 0  # tokens run through the model, for cost accounting
        limit = getattr(model.config, "max_position_embeddings", None)
        self.max_positions = int(limit) if limit else None

    def log_probs(self, queries: Sequence[ScoringQuery]) -> np.ndarray:
        return np.stack([self.score(query.prompt, query.labels) for query in queries])

    def score(self, prompt: str, labels: Sequence[str]) -> np.ndarray:
        """float64[K] log-probabilities of each label's answer tokens."""
        import torch

        from rlft.text.chat import format_chat

        chat = format_chat(self.tokenizer, [{"role": "user", "content": prompt}])
        sequences = [self.tokenizer(chat + self.answer_template.format(label=label),
                                    add_special_tokens=False)["input_ids"] for label in labels]
        split = _common_prefix_length(sequences)
        split = min(split, min(len(s) for s in sequences) - 1)  # every answer keeps a token
        if self.max_positions is not None and max(map(len, sequences)) > self.max_positions:
            raise ValueError(f"a prompt of {max(map(len, sequences))} tokens exceeds the model's "
                             f"{self.max_positions} positions: lower max_repetitions")
        with torch.no_grad():
            last_logits = self._advance(sequences[0][:split])
            first = torch.log_softmax(last_logits.double(), dim=-1)
            suffixes = [s[split:] for s in sequences]
            scores = np.array([float(first[s[0]]) for s in suffixes])
            if max(map(len, suffixes)) > 1:
                scores += self._continuations(suffixes, split)
        return scores

    def _advance(self, prefix: list[int]) -> Any:
        """Runs ``prefix`` on top of the longest cached prefix it shares; returns the logits
        at its last position."""
        import torch
        from transformers import DynamicCache

        from rlft.models.shared_prefix import lm_head_at

        keep = min(_common_prefix_length([self._cached_ids, prefix]), len(prefix) - 1)
        if self._cache is None or keep == 0:
            self._cache, keep = DynamicCache(), 0
        else:
            self._drop_cached(len(self._cached_ids) - keep)
        device = next(self.model.parameters()).device
        new = torch.tensor([prefix[keep:]], device=device)
        # Only the last position's logits are read: skipping the LM head elsewhere matters
        # for large vocabularies (Gemma 3's 262K-row head costs more than its layers).
        last = torch.tensor([[new.shape[1] - 1]], device=device)
        with lm_head_at(self.model, last):
            output = self.model(input_ids=new, use_cache=True, **self._cache_kwarg())
        self._cached_ids = list(prefix)
        self.forward_tokens += new.shape[1]
        return output.logits[0, -1]

    def _cache_kwarg(self) -> dict[str, Any]:
        """transformers >= 5.2x names the forward argument ``cache``; earlier ones
        ``past_key_values``. The DynamicCache is updated in place either way."""
        if self._cache_name is None:
            params = inspect.signature(self.model.forward).parameters
            self._cache_name = "cache" if "cache" in params else "past_key_values"
        return {self._cache_name: self._cache}

    def _drop_cached(self, count: int) -> None:
        """Removes the last ``count`` tokens from the cache (a negative crop: the one form
        transformers 4.x and 5.x both read as 'remove')."""
        if count > 0:
            self._cache.crop(-count)

    def _continuations(self, suffixes: list[list[int]], prefix_length: int) -> np.ndarray:
        """Log-probs of suffix tokens 2.. of every answer, one batch over the cached prefix
        (right padding: real tokens never see the pads after them)."""
        import torch

        width = max(map(len, suffixes)) - 1
        pad = self.tokenizer.pad_token_id or 0
        inputs = [s[:-1] + [pad] * (width - len(s) + 1) for s in suffixes]
        device = next(self.model.parameters()).device
        self._cache.batch_repeat_interleave(len(suffixes))
        try:
            output = self.model(input_ids=torch.tensor(inputs, device=device), use_cache=True,
                                **self._cache_kwarg())
        finally:  # back to the one-row prefix cache
            self._cache.batch_select_indices(torch.tensor([0], device=device))
            self._drop_cached(width)
        self.forward_tokens += len(suffixes) * width
        log_probs = torch.log_softmax(output.logits.double(), dim=-1)
        return np.array([sum(float(log_probs[k, j - 1, s[j]]) for j in range(1, len(s)))
                         for k, s in enumerate(suffixes)])


class SamplingScorer:
    """log of the share of ``samples`` sampled answers per context that choose each label
    (-inf for a label never chosen), read by the paper's parser. A context none of whose
    answers parses scores every label alike; ``unparsed`` counts such answers."""

    def __init__(self, model: Any, tokenizer: Any, samples: int, temperature: float,
                 max_new_tokens: int, batch_size: int, seed: int) -> None:
        from rlft.agents.generation import SamplingConfig

        self.model, self.tokenizer, self.samples, self.seed = model, tokenizer, samples, seed
        self.sampling = SamplingConfig(temperature=temperature, max_new_tokens=max_new_tokens,
                                       batch_size=batch_size)
        self.calls = 0
        self.answers = 0
        self.unparsed = 0

    def log_probs(self, queries: Sequence[ScoringQuery]) -> np.ndarray:
        from rlft.agents.generation import generate
        from rlft.text.chat import format_chat
        from rlft.text.parser import ActionParser

        labels = queries[0].labels
        prompts = [self.tokenizer(format_chat(self.tokenizer, [{"role": "user",
                                                                "content": q.prompt}]),
                                  add_special_tokens=False)["input_ids"]
                   for q in queries for _ in range(self.samples)]
        # One seed per call: the draws do not depend on how contexts are batched elsewhere.
        texts = generate(self.model, self.tokenizer, prompts, self.sampling,
                         seed=self.seed * 1_000_003 + self.calls).texts
        self.calls += 1
        actions = ActionParser(list(labels)).parse(texts, None).actions
        actions = np.asarray(actions).reshape(len(queries), self.samples)
        self.answers += actions.size
        self.unparsed += int((actions < 0).sum())
        counts = np.stack([np.bincount(row[row >= 0], minlength=len(labels)) for row in actions])
        with np.errstate(divide="ignore"):
            return np.where(counts.sum(axis=1, keepdims=True) > 0, np.log(counts), 0.0)


def _common_prefix_length(sequences: Sequence[Sequence[int]]) -> int:
    length = min(len(s) for s in sequences)
    for position in range(length):
        token = sequences[0][position]
        if any(s[position] != token for s in sequences[1:]):
            return position
    return length


def run_frequency_bias(config: FrequencyBiasConfig, scorer: ActionScorer | None = None,
                       show_progress: bool = True) -> dict[str, Any]:
    """Builds the contexts, scores them (the configured model unless ``scorer`` is given),
    writes the run directory and returns metrics.json's content."""
    from rlft.analysis.playing import load_policy

    prepare_run_dir(config)
    started = time.perf_counter()
    if scorer is None and config.samples:
        scorer = SamplingScorer(*load_policy(config), samples=config.samples,
                                temperature=config.temperature,
                                max_new_tokens=config.max_new_tokens,
                                batch_size=config.batch_size, seed=config.seed)
    elif scorer is None:
        scorer = TeacherForcingScorer(*load_policy(config))
    labels = mab_labels(config.prompt.variant, config.arms)
    contexts = build_contexts(config)
    horizon = config.max_history + config.max_repetitions + 1  # a step is always left
    log_probs = []
    per_pair = len(config.repetitions())
    for start in range(0, len(contexts), per_pair):  # one (history, target) at a time
        chunk = contexts[start:start + per_pair]
        queries = [ScoringQuery(render_context(config, c, horizon), labels, c.actions, c.rewards)
                   for c in chunk]
        log_probs.append(np.asarray(scorer.log_probs(queries), dtype=np.float64))
        if show_progress:
            print(f"[frequency-bias] history {chunk[0].history} target {chunk[0].target}: "
                  f"{start + len(chunk)}/{len(contexts)} contexts, "
                  f"{time.perf_counter() - started:.0f} s", flush=True)
    probs = normalise(np.concatenate(log_probs))
    extra: dict[str, Any] = {"wall_time_s": time.perf_counter() - started}
    if isinstance(scorer, TeacherForcingScorer):
        extra["forward_tokens"] = int(scorer.forward_tokens)
    if isinstance(scorer, SamplingScorer):
        extra.update(sampled_answers=scorer.answers, unparsed_answers=scorer.unparsed)
    return write_frequency_bias(config, contexts, probs, extra)


def write_frequency_bias(config: FrequencyBiasConfig, contexts: Sequence[Context],
                         probs: np.ndarray, extra: dict[str, Any] | None = None
                         ) -> dict[str, Any]:
    """Metrics, figures and summary of scored contexts into ``config.out``. Also rebuilds a
    run's outputs from its saved ``context_probs`` without scoring again."""
    from rlft.analysis.plots import plot_entropy_vs_repetitions, plot_frequency_fractions
    from rlft.analysis.summary import frequency_bias_summary

    out = prepare_run_dir(config)
    metrics = frequency_bias_metrics(contexts, probs, config.bucket_ranges())
    metrics.update(analysis="frequency-bias", model=config.model,
                   forward_passes=len(contexts) * config.arms, **(extra or {}))
    metrics["context_history"] = [c.history for c in contexts]
    metrics["context_target"] = [c.target for c in contexts]
    metrics["context_repetitions"] = [c.repetitions for c in contexts]
    metrics["context_probs"] = np.asarray(probs).tolist()
    write_json(out / "metrics.json", metrics)
    entropy_grid = np.array(metrics["context_entropy"]).reshape(-1, len(config.repetitions()))
    groups = {"all": metrics["overall"], **metrics["buckets"]}
    figures = [
        plot_entropy_vs_repetitions(config.repetitions(), entropy_grid,
                                    metrics["entropy_repetition_correlation"], config.arms,
                                    out / "entropy_vs_repetitions.png"),
        plot_frequency_fractions(groups, out / "fractions.png"),
    ]
    (out / "summary.md").write_text(frequency_bias_summary(metrics, [f.name for f in figures]))
    return metrics
