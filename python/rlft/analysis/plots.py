"""Figures of the evaluation harness: regret and coverage curves with 95% CI bands, and
tic-tac-toe outcome bars. Matplotlib's non-interactive backend; one PNG per figure."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_regret_and_coverage(runs: Mapping[str, Mapping[str, Any]], out_dir: Path) -> list[Path]:
    """runs: label -> metrics.json content of a bandit run. Writes regret.png and coverage.png."""
    out_dir = Path(out_dir)
    written = []
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, metrics in runs.items():
        mean = np.asarray(metrics["regret_mean"])
        ci = np.nan_to_num(np.asarray(metrics["regret_ci95"]))
        steps = np.arange(1, mean.size + 1)
        ax.plot(steps, mean, label=label)
        ax.fill_between(steps, mean - ci, mean + ci, alpha=0.2)
    ax.set(xlabel="step", ylabel="cumulative pseudo-regret", title="Regret (mean, 95% CI)")
    ax.legend()
    fig.tight_layout()
    written.append(out_dir / "regret.png")
    fig.savefig(written[-1], dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    for label, metrics in runs.items():
        coverage = np.asarray(metrics["coverage"])
        ax.plot(np.arange(1, coverage.size + 1), coverage, label=label)
    ax.set(xlabel="step", ylabel="action coverage", ylim=(0, 1.05),
           title="Fraction of arms tried")
    ax.legend()
    fig.tight_layout()
    written.append(out_dir / "coverage.png")
    fig.savefig(written[-1], dpi=120)
    plt.close(fig)
    return written


def plot_outcomes(runs: Mapping[str, Mapping[str, Any]], path: Path) -> Path:
    """runs: label -> tic-tac-toe metrics. Stacked win/draw/loss bars per run."""
    labels = list(runs)
    fig, ax = plt.subplots(figsize=(max(4, 1.5 * len(labels)), 4))
    bottom = np.zeros(len(labels))
    for key, colour in (("win_rate", "tab:green"), ("draw_rate", "tab:gray"),
                        ("loss_rate", "tab:red")):
        values = np.array([runs[label][key] for label in labels])
        ax.bar(labels, values, bottom=bottom, color=colour, label=key.replace("_rate", ""))
        bottom += values
    ax.set(ylabel="fraction of games", ylim=(0, 1), title="Tic-tac-toe outcomes")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def plot_training(rows: list[Mapping[str, Any]], path: Path) -> Path:
    """Learning curves of an RLFT run from its metrics.jsonl rows: invalid-action rate,
    mean shaped reward and the env's own measure (regret or win rate) per iteration."""
    keys = [key for key in ("rollout/invalid_rate", "rollout/shaped_reward", "env/regret",
                            "env/win_rate", "policy/kl") if rows and key in rows[0]]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 3))
    iterations = [row["iteration"] for row in rows]
    for ax, key in zip(np.atleast_1d(axes), keys):
        ax.plot(iterations, [row[key] for row in rows])
        ax.set(xlabel="iteration", title=key)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
