"""Markdown summaries of the analyses, with the paper's Gemma2 numbers beside ours
(the paper; "n/r" = not reported in the paper's text)."""

from __future__ import annotations

import math
from typing import Any, Sequence

# Spec §8.1: coverage at step 50, 64 Gaussian button MABs, ICL, greedy decoding.
PAPER_COVERAGE = {
    "K10_cot": {"Gemma2 2B": "0.40", "Gemma2 9B": "0.65", "Gemma2 27B": "0.65"},
    "K10_no_cot": {"Gemma2 2B": "~0.25", "Gemma2 9B": "~0.25", "Gemma2 27B": "~0.25"},
    "K20_cot": {"Gemma2 2B": "n/r", "Gemma2 9B": "n/r", "Gemma2 27B": "0.45"},
}
# Spec §8.2: 10-arm button MAB, 25K forward passes.
PAPER_FREQUENCY = {
    "Gemma2 2B": {"frequent": "0.96", "correlation": "-0.67"},
    "Gemma2 27B": {"frequent": "0.14", "correlation": "+0.61"},
    "Gemma2 2B + RLFT": {"frequent": "0.67", "correlation": "-0.49"},
}
# Spec §8.3: Gemma2 27B, 64 envs x 50 steps, G = 2048; % of all actions.
PAPER_KNOWING_DOING = [[58.1, 21.6, 10.6], [7.2, 0.6, 2.0]]


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _figures(figures: Sequence[str]) -> str:
    return "".join(f"![{name}]({name})\n" for name in figures)


def greediness_summary(result: dict[str, Any], figures: Sequence[str]) -> str:
    settings = result["settings"]
    rows = []
    for name, m in settings.items():
        paper = PAPER_COVERAGE.get(name, {})
        rows.append([name, m["num_episodes"], m["horizon"], m["coverage_final"],
                     m["coverage_model_final"], m["unexplored_share"], m["final_regret"],
                     m["invalid_rate"], paper.get("Gemma2 2B", "n/r"),
                     paper.get("Gemma2 9B", "n/r"), paper.get("Gemma2 27B", "n/r")])
    header = ["setting", "episodes", "T", "coverage at T", "coverage (model's own actions)",
              "unexplored share", "regret at T", "invalid rate", "paper 2B", "paper 9B",
              "paper 27B"]
    return (f"# Greediness: {result['agent']}\n\n"
            "Coverage = share of arms tried by step T, mean over instances. The paper's "
            "numbers are coverage at step 50 on 64 instances. 'Model's own "
            "actions' leaves out the random actions played for unparsable answers. Answers "
            "read with: " + ", ".join(f"`{p}`" for p in result.get("answer_patterns", []))
            + ".\n\n"
            + _table(header, rows) + "\n" + _figures(figures))


def frequency_bias_summary(metrics: dict[str, Any], figures: Sequence[str]) -> str:
    groups = {"all": metrics["overall"], **metrics["buckets"]}
    rows = [[name, g["contexts"], g["frequent"], g["greedy"], g["other"], g["mass_frequent"],
             g["mass_greedy"], g["mass_other"], g["target"], g["mass_target"]]
            for name, g in groups.items()]
    header = ["repetitions", "contexts", "F_f", "F_g", "F_o", "mass frequent", "mass greedy",
              "mass other", "argmax = target", "p(target)"]
    paper_rows = [[name, numbers["frequent"], numbers["correlation"]]
                  for name, numbers in PAPER_FREQUENCY.items()]
    return (f"# Frequency bias: {metrics['model']}\n\n"
            f"{metrics['num_contexts']} contexts x {metrics['num_actions']} actions "
            f"(= {metrics['forward_passes']} scored answers). Correlation of repetitions and "
            f"action entropy: **{_fmt(metrics['entropy_repetition_correlation'])}**; mean "
            f"entropy {_fmt(metrics['entropy_mean'])} nats.\n\n"
            "F_* are shares of contexts whose most likely action is frequent / greedy / other "
            "(frequent and greedy counts as greedy); mass_* the probability mass on each; "
            "the last two columns follow the repeated (target) action itself.\n\n"
            + _table(header, rows)
            + "\nPaper (the paper; 2B 0-10 bucket before -> after RLFT: F_f 0.70 -> 0.35, "
              "F_o 0.08 -> 0.35):\n\n"
            + _table(["model", "F_f", "corr(repetitions, entropy)"], paper_rows)
            + "\n" + _figures(figures))


def knowing_doing_summary(metrics: dict[str, Any], figures: Sequence[str]) -> str:
    percent = metrics["matrix"]["percent"]
    rows = [[name, *percent[index], sum(percent[index])]
            for index, name in enumerate(metrics["rows"])]
    paper_rows = [[name, *PAPER_KNOWING_DOING[index], sum(PAPER_KNOWING_DOING[index])]
                  for index, name in enumerate(metrics["rows"])]
    header = ["rationale \\ action", *metrics["columns"], "row sum"]
    return (f"# Knowing-doing gap: {metrics['model']}\n\n"
            f"{metrics['num_episodes']} episodes x {metrics['horizon']} steps, "
            f"{metrics['num_actions']} arms, true UCB = {metrics['ucb_formula']} "
            f"(c = {_fmt(metrics['ucb_c'])}). Values parsed in "
            f"{_fmt(metrics['values_parsed_rate'])} of steps; invalid answers (random action "
            f"played) {_fmt(metrics['invalid_rate'])}; the action is the arm of the model's "
            f"own highest value in {_fmt(metrics['follows_own_values_rate'])} of parsed "
            "steps.\n\n% of all actions:\n\n" + _table(header, rows)
            + "\nPaper, Gemma2 27B:\n\n" + _table(header, paper_rows)
            + "\n" + _figures(figures))
