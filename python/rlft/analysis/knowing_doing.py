"""Knowing-doing gap (paper Fig. 5): the policy can compute UCB but does it act on it?

The policy plays bandit episodes with the UCB-instructed prompt (``PromptConfig.ucb_instructed``)
and writes its UCB value per arm inside ``<ucb_values>...</ucb_values>``. At each step:

* knowing: the rationale is correct when the arm(s) with the highest value the model wrote
  are among the arms with the highest true UCB value, recomputed from the history (untried
  arms: +inf). Only the argmax must match, not the numbers. No readable value -> incorrect.
* doing: the executed action is optimal (an argmax of the true UCB), else greedy (an argmax of
  the true UCB among arms tried so far), else other. Greedy = optimal counts as optimal; at
  step 0, with nothing tried, every action is optimal.

The 2x3 matrix (correct / incorrect x greedy / optimal / other) is in % of all actions.
Executed actions include the random ones the harness plays for unparsable answers (the paper's
rule); ``matrix_valid_only`` leaves those steps out, ``matrix_values_parsed`` keeps only the
steps whose values were read.

Any agent works (``run_knowing_doing(agent_factory=...)``): the analysis reads the executed
actions and the texts from the rollout (a text agent's ``Decision`` records, ``StepRecord``),
so scripted agents that write known rationales stand in for the LLM in tests.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import time
from typing import Any, Sequence

import numpy as np

from rlft.analysis.config import KnowingDoingConfig
from rlft.analysis.playing import (AgentFactory, generation_grid, llm_agent, load_policy, play,
                                   prepare_run_dir, write_json)
from rlft.text.prompts import mab_labels
from rlft.text.templates import UCB_VALUES_CLOSE, UCB_VALUES_OPEN

ACTION_CLASSES = ("greedy", "optimal", "other")  # the paper's column order
RATIONALE_ROWS = ("correct", "incorrect")

_BLOCK = re.compile(re.escape(UCB_VALUES_OPEN) + r"(.*?)(?:" + re.escape(UCB_VALUES_CLOSE)
                    + r"|$)", re.IGNORECASE | re.DOTALL)
_VALUE = re.compile(r"(?P<inf>[-+]?(?:infinity|inf|∞))|"
                    r"(?P<num>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)", re.IGNORECASE)


def true_ucb_values(counts: Any, reward_sums: Any, formula: str = "ucb1",
                    c: float = math.sqrt(2.0)) -> np.ndarray:
    """float64[K] UCB value per arm from the history's counts and reward sums; +inf for
    untried arms. ucb1: mean + c sqrt(ln t / n) with t = total pulls; inverse_sqrt:
    mean + c sqrt(1 / n)."""
    counts = np.asarray(counts, dtype=np.float64)
    sums = np.asarray(reward_sums, dtype=np.float64)
    tried = counts > 0
    safe = np.maximum(counts, 1.0)
    if formula == "ucb1":
        bonus = c * np.sqrt(np.log(max(counts.sum(), 1.0)) / safe)
    elif formula == "inverse_sqrt":
        bonus = c * np.sqrt(1.0 / safe)
    else:
        raise ValueError(f"ucb_formula must be 'ucb1' or 'inverse_sqrt', got {formula!r}")
    return np.where(tried, sums / safe + bonus, np.inf)


def _label_marker(labels: Sequence[str]) -> re.Pattern[str]:
    """A label that starts a 'label: value' pair (optionally in quotes, bold or UCB(...))."""
    names = "|".join(re.escape(label) for label in sorted(labels, key=len, reverse=True))
    return re.compile(r"(?<![\w.])[*\"'`]*(" + names + r")[*\"'`)\]]*\s*[:=]", re.IGNORECASE)


def parse_ucb_values(text: str, labels: Sequence[str]) -> dict[int, float]:
    """The model's UCB value per label index, read from its last <ucb_values> block.

    The block is split at each 'label:' / 'label =' and each piece gives one value: the
    number after its last '=' (the result when the model shows its working), else its first
    number; 'inf', 'infinity' and '∞' are +inf. Labels without a number (e.g. 'NaN') and
    unknown labels are left out; a label given twice keeps its last value. An unclosed block
    runs to the end of the text.
    """
    blocks = _BLOCK.findall(text or "")
    if not blocks:
        return {}
    block = blocks[-1]
    index_of = {label.lower(): index for index, label in enumerate(labels)}
    markers = list(_label_marker(labels).finditer(block))
    values: dict[int, float] = {}
    for position, marker in enumerate(markers):
        end = markers[position + 1].start() if position + 1 < len(markers) else len(block)
        piece = block[marker.end():end]
        after_equals = piece.rsplit("=", 1)[1] if "=" in piece else None
        found = (_VALUE.search(after_equals) if after_equals is not None else None) \
            or _VALUE.search(piece)
        if found is None:
            continue
        value = math.inf if found.group("inf") else float(found.group("num"))
        if found.group("inf") and found.group("inf").startswith("-"):
            value = -math.inf
        values[index_of[marker.group(1).lower()]] = value
    return values


def rationale_correct(model_values: dict[int, float], true_ucb: np.ndarray) -> bool:
    """Whether the model's highest value(s) all sit on arms of highest true UCB."""
    if not model_values:
        return False
    best = max(model_values.values())
    model_top = {arm for arm, value in model_values.items() if value == best}
    true_top = set(np.flatnonzero(true_ucb == true_ucb.max()).tolist())
    return model_top <= true_top


def classify_action(action: int, counts: Any, true_ucb: np.ndarray) -> str:
    """'optimal', 'greedy' or 'other' by the paper's rules (greedy = optimal is optimal)."""
    tried = np.asarray(counts) > 0
    if not tried.any() or true_ucb[action] == true_ucb.max():
        return "optimal"
    if tried[action] and true_ucb[action] == true_ucb[tried].max():
        return "greedy"
    return "other"


def _matrix(correct: np.ndarray, classes: np.ndarray, mask: np.ndarray) -> dict[str, Any]:
    counts = np.zeros((2, 3), dtype=np.int64)
    for row, is_correct in enumerate((True, False)):
        for col in range(3):
            counts[row, col] = int(np.sum(mask & (correct == is_correct) & (classes == col)))
    total = int(counts.sum())
    percent = 100.0 * counts / total if total else np.full((2, 3), np.nan)
    return {"counts": counts.tolist(), "percent": percent.tolist(), "total": total}


def knowing_doing_metrics(actions: Any, rewards: Any, texts: Sequence[Sequence[str | None]],
                          labels: Sequence[str], formula: str = "ucb1",
                          c: float = math.sqrt(2.0), invalid: Any = None) -> dict[str, Any]:
    """The knowing-doing matrix of N episodes of T steps.

    actions int[N, T] executed; rewards float[N, T]; texts[n][t] the model's answer (None when
    there is none: an incorrect rationale); invalid bool[N, T] marks random fallback actions.
    """
    actions = np.asarray(actions, dtype=np.int64)
    rewards = np.asarray(rewards, dtype=np.float64)
    num_episodes, horizon = actions.shape
    num_actions = len(labels)
    invalid = np.zeros(actions.shape, bool) if invalid is None else np.asarray(invalid, bool)
    correct = np.zeros(actions.shape, dtype=bool)
    parsed = np.zeros(actions.shape, dtype=bool)
    follows = np.zeros(actions.shape, dtype=bool)
    classes = np.zeros(actions.shape, dtype=np.int64)
    for episode in range(num_episodes):
        counts = np.zeros(num_actions)
        sums = np.zeros(num_actions)
        for step in range(horizon):
            ucb = true_ucb_values(counts, sums, formula, c)
            values = parse_ucb_values(texts[episode][step] or "", labels)
            parsed[episode, step] = bool(values)
            correct[episode, step] = rationale_correct(values, ucb)
            action = int(actions[episode, step])
            if values:
                best = max(values.values())
                follows[episode, step] = values.get(action, -math.inf) == best
            classes[episode, step] = ACTION_CLASSES.index(classify_action(action, counts, ucb))
            counts[action] += 1
            sums[action] += rewards[episode, step]
    everything = np.ones(actions.shape, dtype=bool)
    overall = _matrix(correct, classes, everything)
    percent = np.asarray(overall["percent"])
    row_sums = percent.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        conditional = 100.0 * percent / row_sums[:, None]
    return {
        "num_episodes": int(num_episodes),
        "horizon": int(horizon),
        "num_actions": int(num_actions),
        "rows": list(RATIONALE_ROWS),
        "columns": list(ACTION_CLASSES),
        "matrix": overall,
        "matrix_given_rationale_percent": conditional.tolist(),
        "matrix_valid_only": _matrix(correct, classes, ~invalid),
        # Only the steps whose <ucb_values> were read: the knowing-doing gap of a model that
        # writes its values only sometimes, without the steps where it wrote none.
        "matrix_values_parsed": _matrix(correct, classes, parsed),
        "correct_rationale_rate": float(correct.mean()),
        "values_parsed_rate": float(parsed.mean()),
        "invalid_rate": float(invalid.mean()),
        "action_shares": {name: float(np.mean(classes == index))
                          for index, name in enumerate(ACTION_CLASSES)},
        "follows_own_values_rate": float(follows[parsed].mean()) if parsed.any() else None,
        "correct_by_step": correct.mean(axis=0).tolist(),
        "step_correct": correct.tolist(),
        "step_class": classes.tolist(),
    }


def _default_factory(config: KnowingDoingConfig) -> AgentFactory:
    policy: list[Any] = []

    def build(env: Any, seed: int) -> Any:
        if not policy:
            policy.extend(load_policy(config))
        prompt = dataclasses.replace(config.prompt, cot=True, ucb_instructed=True)
        return llm_agent(*policy, env, prompt=prompt, max_new_tokens=config.max_new_tokens,
                         temperature=config.temperature, batch_size=config.batch_size)
    return build


def run_knowing_doing(config: KnowingDoingConfig, agent_factory: AgentFactory | None = None,
                      show_progress: bool = True) -> dict[str, Any]:
    """Plays the episodes, writes the run directory and returns metrics.json's content."""
    from rlft.analysis.plots import plot_knowing_doing_matrix
    from rlft.analysis.summary import knowing_doing_summary

    out = prepare_run_dir(config)
    started = time.perf_counter()
    factory = agent_factory or _default_factory(config)
    rollout = play(
        config, factory, config.arms, config.episodes, config.horizon, config.seeds,
        progress=(lambda text: print(f"[knowing-doing] {text}", flush=True))
        if show_progress else None)
    grid = generation_grid(rollout)
    texts = [[record.generation if record is not None else None for record in row]
             for row in grid]
    labels = mab_labels(config.prompt.variant, config.arms)
    metrics = knowing_doing_metrics(rollout.actions, rollout.rewards, texts, labels,
                                    config.ucb_formula, config.ucb_c, rollout.invalid)
    metrics.update(analysis="knowing-doing", model=config.model, ucb_formula=config.ucb_formula,
                   ucb_c=config.ucb_c, wall_time_s=time.perf_counter() - started)
    if config.save_generations:
        _write_generations(out / "generations.jsonl", grid, rollout, texts, labels, metrics,
                           config)
    write_json(out / "metrics.json", metrics)
    figures = [plot_knowing_doing_matrix(metrics["matrix"]["percent"], out / "matrix.png",
                                         f"Knowing vs doing ({config.model})")]
    (out / "summary.md").write_text(knowing_doing_summary(metrics, [f.name for f in figures]))
    return metrics


def _write_generations(path: Any, grid: list[list[Any]], rollout: Any,
                       texts: list[list[str | None]], labels: Sequence[str],
                       metrics: dict[str, Any], config: KnowingDoingConfig) -> None:
    with open(path, "w") as handle:
        for episode, row in enumerate(grid):
            for step, record in enumerate(row):
                values = parse_ucb_values(texts[episode][step] or "", labels)
                handle.write(json.dumps({
                    "episode": episode, "step": step,
                    "prompt": record.prompt if record is not None else None,
                    "generation": texts[episode][step],
                    "model_ucb_values": {labels[arm]: (value if math.isfinite(value)
                                                       else str(value))
                                         for arm, value in values.items()},
                    "action": labels[int(rollout.actions[episode, step])],
                    "invalid": bool(rollout.invalid[episode, step]),
                    "rationale_correct": metrics["step_correct"][episode][step],
                    "action_class": ACTION_CLASSES[metrics["step_class"][episode][step]],
                }) + "\n")
