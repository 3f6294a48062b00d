"""``rlft report RUN_DIR ...``: several evaluation runs side by side (curves and a table)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rlft.analysis.plots import plot_outcomes, plot_regret_and_coverage


def load_run(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / "metrics.json"
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} is not an evaluation run: no metrics.json")
    return json.loads(path.read_text())


def _fmt(value: Any, ci: Any = None) -> str:
    if value is None:
        return "-"
    text = f"{value:.3f}" if isinstance(value, float) else str(value)
    if isinstance(ci, float):
        text += f" ± {ci:.3f}"
    return text


def markdown_table(runs: dict[str, dict[str, Any]]) -> str:
    """One row per run: the headline numbers of its env."""
    tic_tac_toe = all(m.get("env") == "tictactoe" for m in runs.values())
    if tic_tac_toe:
        header = ["run", "episodes", "win", "draw", "loss", "mean return", "invalid"]
        rows = [[name, m["num_episodes"], _fmt(m["win_rate"]), _fmt(m["draw_rate"]),
                 _fmt(m["loss_rate"]), _fmt(m["mean_return"], m.get("mean_return_ci95")),
                 _fmt(m["invalid_rate"])] for name, m in runs.items()]
    else:
        header = ["run", "episodes", "final regret (95% CI)", "coverage", "invalid",
                  "suffix failure (T/2)", "greedy frac"]
        rows = [[name, m["num_episodes"], _fmt(m["final_regret"], m["final_regret_ci95"]),
                 _fmt(m["coverage_final"]), _fmt(m["invalid_rate"]),
                 _fmt(m.get("suffix_failure_half")), _fmt(m.get("greedy_frac"))]
                for name, m in runs.items()]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_report(run_dirs: list[Path], out: Path) -> str:
    """Loads the runs, draws them together into `out` and writes out/report.md."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    runs: dict[str, dict[str, Any]] = {}
    for run_dir in run_dirs:
        metrics = load_run(run_dir)
        name = f"{metrics.get('agent', Path(run_dir).name)} [{Path(run_dir).name}]"
        runs[name] = metrics
    envs = {m.get("env") for m in runs.values()}
    if len(envs) > 1:
        raise ValueError(f"runs of different envs cannot share a report: {sorted(map(str, envs))}")
    if envs == {"tictactoe"}:
        plot_outcomes(runs, out / "outcomes.png")
        figures = ["outcomes.png"]
    else:
        plot_regret_and_coverage(runs, out)
        figures = ["regret.png", "coverage.png"]
    table = markdown_table(runs)
    text = "# rlft report\n\n" + table + "\n" + "".join(f"![{f}]({f})\n" for f in figures)
    (out / "report.md").write_text(text)
    return table
