"""Figures of the evaluation harness: regret and coverage curves with 95% CI bands, and
tic-tac-toe outcome bars. Matplotlib's non-interactive backend; one PNG per figure."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402



def _save(fig: Any, path: Path | str) -> Path:
    """Lays out, writes (PNG, 120 dpi) and closes a figure."""
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)

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
    return _save(fig, path)


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


# --- failure-mode analyses (rlft analyze) ------------------------------------------------

def plot_coverage_by_step(settings: Mapping[str, Mapping[str, Any]], path: Path) -> Path:
    """Greediness: coverage per step (mean, 95% CI) with one panel per arm count, one line per
    prompt setting, and the coverage a uniformly random policy expects (1 - (1 - 1/K)^t)."""
    arm_counts = sorted({int(m["arms"]) for m in settings.values()})
    fig, axes = plt.subplots(1, len(arm_counts), figsize=(4.5 * len(arm_counts), 3.6),
                             squeeze=False)
    for ax, arms in zip(axes[0], arm_counts):
        horizon = 0
        for name, metrics in settings.items():
            if int(metrics["arms"]) != arms:
                continue
            mean = np.asarray(metrics["coverage"], dtype=float)
            ci = np.nan_to_num(np.asarray(metrics["coverage_ci95"], dtype=float))
            steps = np.arange(1, mean.size + 1)
            horizon = max(horizon, mean.size)
            line, = ax.plot(steps, mean, label=str(metrics["cot"]))
            ax.fill_between(steps, mean - ci, mean + ci, alpha=0.2)
            if metrics.get("model_chose_rate", 1.0) < 1.0:  # random fallbacks explored too
                ax.plot(steps, metrics["coverage_model"], ls=":", color=line.get_color(),
                        label=f"{metrics['cot']}, model's own actions")
        steps = np.arange(1, horizon + 1)
        ax.plot(steps, 1 - (1 - 1 / arms) ** steps, "k--", lw=0.8, label="random policy")
        ax.set(xlabel="step", ylabel="action coverage", ylim=(0, 1.05), title=f"{arms} arms")
        ax.legend(fontsize=8)
    return _save(fig, path)


def plot_regret_vs_coverage(settings: Mapping[str, Mapping[str, Any]], path: Path) -> Path:
    """Greediness: final cumulative regret against final coverage, one dot per instance and a
    large marker for each setting's mean (paper Fig. 3c)."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for index, (name, metrics) in enumerate(settings.items()):
        colour = f"C{index % 10}"
        ax.scatter(metrics["episode_final_coverage"], metrics["episode_final_regret"], s=10,
                   alpha=0.35, color=colour)
        ax.scatter([metrics["coverage_final"]], [metrics["final_regret"]], s=90,
                   marker="D", color=colour, edgecolor="k", label=name)
    ax.set(xlabel="action coverage at T", ylabel="cumulative regret at T",
           title="Regret vs coverage")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_entropy_vs_repetitions(repetitions: Any, entropy: Any, correlation: float,
                                num_actions: int, path: Path) -> Path:
    """Frequency bias: action entropy against repetitions of the target action, one thin line
    per (history, target) and their mean (paper Fig. 4 left)."""
    repetitions = np.asarray(repetitions)
    entropy = np.asarray(entropy, dtype=float)  # [pairs, repetitions]
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for row in entropy:
        ax.plot(repetitions, row, color="C0", alpha=0.15, lw=0.8)
    ax.plot(repetitions, entropy.mean(axis=0), color="C0", lw=2, label="mean")
    ax.axhline(np.log(num_actions), color="k", ls="--", lw=0.8, label="uniform")
    ax.set(xlabel="repetitions of the target action", ylabel="action entropy (nats)",
           title=f"Entropy vs repetitions (r = {correlation:.2f})")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_frequency_fractions(groups: Mapping[str, Mapping[str, float]], path: Path) -> Path:
    """Frequency bias: stacked frequent / greedy / other fractions per group (overall and per
    repetition bucket; paper Fig. 4 right)."""
    labels = list(groups)
    fig, ax = plt.subplots(figsize=(max(4, 1.4 * len(labels)), 3.8))
    bottom = np.zeros(len(labels))
    for key, colour in (("frequent", "tab:red"), ("greedy", "tab:blue"), ("other", "tab:gray")):
        values = np.array([groups[label][key] for label in labels], dtype=float)
        ax.bar(labels, values, bottom=bottom, color=colour, label=key)
        bottom += values
    ax.set(ylabel="fraction of chosen actions", ylim=(0, 1), title="Frequent / greedy / other")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_knowing_doing_matrix(percent: Any, path: Path, title: str = "Knowing vs doing") -> Path:
    """Knowing-doing gap: the 2x3 matrix (rationale correct / incorrect x greedy / optimal /
    other) in % of all actions (paper Fig. 5)."""
    percent = np.asarray(percent, dtype=float)
    fig, ax = plt.subplots(figsize=(5, 2.8))
    ax.imshow(percent, cmap="Blues", vmin=0, vmax=max(100.0, float(np.nanmax(percent))))
    ax.set_xticks(range(3), ["greedy", "optimal", "other"])
    ax.set_yticks(range(2), ["correct", "incorrect"])
    ax.set(xlabel="action", ylabel="rationale", title=title)
    for row in range(2):
        for col in range(3):
            ax.text(col, row, f"{percent[row, col]:.1f}", ha="center", va="center",
                    color="white" if percent[row, col] > 50 else "black")
    return _save(fig, path)
