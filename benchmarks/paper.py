"""The paper's RL fine-tuning results beside rlft's miniatures, in one report.

Each row of the paper's RLFT results (multi-armed bandits, greediness, frequency bias,
tic-tac-toe against random and MCTS, contextual bandits) comes from a results file that a
benchmark script wrote, with its commit:

  default_seeds.json        seeds.py on configs/cpu_default.yaml (the main command): regret,
                            coverage, and the greediness and frequency-bias analyses of the
                            start and final policies
  tictactoe_seeds.json      seeds.py on configs/tictactoe_cpu.yaml
  tictactoe_opponents.json  tictactoe_opponents.py on those runs (the MCTS opponent)
  cb_seeds.json             seeds.py on configs/cb_cpu.yaml

With --run, the stages whose results file is missing (or named by --rerun) are run first, in
that order (about an hour and a half on a 2-core CPU); otherwise the report is assembled from
the files as they are, and a missing one is named with the command that writes it. Writes
benchmarks/results/paper.md and its figures in benchmarks/results/paper/.

    RLFT_CORE_DIR=build/dev PYTHONPATH=python python benchmarks/paper.py [--run] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SEEDS = ("0", "1", "2")


def seeds_stage(config: str, name: str) -> list[str]:
    return ["seeds.py", "--config", config, "--name", name, "--seeds", *SEEDS]


# name -> the command (a script in benchmarks/ and its arguments) that writes RESULTS/name.json
STAGES: dict[str, list[str]] = {
    "default_seeds": seeds_stage("configs/cpu_default.yaml", "default_seeds"),
    "tictactoe_seeds": seeds_stage("configs/tictactoe_cpu.yaml", "tictactoe_seeds"),
    "tictactoe_opponents": ["tictactoe_opponents.py", "--runs",
                            *(f"runs/tictactoe_seeds/seed{s}" for s in SEEDS)],
    "cb_seeds": seeds_stage("configs/cb_cpu.yaml", "cb_seeds"),
}


def run_stage(name: str, jobs: int) -> None:
    script, *args = STAGES[name]
    if name == "tictactoe_opponents" and not all(
            (ROOT / run / "model").exists() for run in args[1:]):
        run_stage("tictactoe_seeds", jobs)   # its runs, retrained (they are not kept in git)
    if script == "seeds.py":   # seeds side by side share the cores: one torch thread each
        args += ["--jobs", str(jobs), *(["engine.threads=1"] if jobs > 1 else [])]
    print(f"paper: running {name}: {script} {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], check=True,
                   cwd=ROOT)


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def source(name: str, data: dict[str, Any]) -> str:
    return f"`benchmarks/results/{name}.json` (commit {data['commit'][:7]})"


def missing(name: str) -> str:
    script, *args = STAGES[name]
    return (f"not measured: `benchmarks/results/{name}.json` is missing; "
            f"`python benchmarks/{script} {' '.join(args)}` writes it.")


def ci(entry: dict[str, Any], key: str) -> str:
    return f"{entry[key]:.2f} ± {entry[f'{key}_ci95']:.2f}"


def paired(d: dict[str, Any]) -> str:
    return f"{d['mean']:+.2f} [{d['ci_low']:+.2f}, {d['ci_high']:+.2f}]"


def per_seed_rows(data: dict[str, Any], metric: str, extra: tuple[str, ...] = ()) -> list[str]:
    """Markdown rows: seed, start, final, paired diff, then `extra` policies' means."""
    return ["| " + " | ".join([str(r["seed"]), ci(r["start policy"], metric),
                               ci(r["final policy"], metric), paired(r["paired"][metric]),
                               *(ci(r[name], metric) for name in extra)]) + " |"
            for r in data["rows"]]


def seed_table(data: dict[str, Any], metric: str, label: str,
               extra: tuple[str, ...] = ()) -> list[str]:
    """A markdown table: per seed, the metric's start, final and paired difference, then the
    `extra` policies' means on the same instances."""
    header = ["seed", f"{label} start", f"{label} final", "paired diff [95% CI]", *extra]
    return ["| " + " | ".join(header) + " |",
            "|---|---|---|---|" + "---|" * len(extra), *per_seed_rows(data, metric, extra)]


def figure(path: Path, draw: Callable[[Any], None], caption: str, width: float = 7) -> str:
    fig, axes = plt.subplots(1, 2, figsize=(width, 3.4))
    draw(axes)
    fig.suptitle(caption, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"![{path.stem}](paper/{path.name})"


def start_final_bars(ax: Any, rows: list[dict[str, Any]], metric: str, label: str,
                     references: tuple[str, ...] = ()) -> None:
    """Per seed: start and final bars with 95% CIs, then reference policies of seed 0's run."""
    names = [f"seed {r['seed']}\n{p}" for r in rows for p in ("start", "final")]
    means = [r[p][metric] for r in rows for p in ("start policy", "final policy")]
    errors = [r[p][f"{metric}_ci95"] for r in rows for p in ("start policy", "final policy")]
    colors = ["tab:gray", "tab:blue"] * len(rows)
    for name in references:
        names.append(name)
        means.append(rows[0][name][metric])
        errors.append(rows[0][name][f"{metric}_ci95"])
        colors.append("tab:orange")
    ax.bar(range(len(names)), means, yerr=errors, color=colors, capsize=3)
    ax.set_xticks(range(len(names)), names, fontsize=6)
    ax.set_ylabel(label)


def bandit_section(out: Path) -> list[str]:
    data = load("default_seeds")
    lines = ["## Multi-armed bandits: regret and coverage", "",
             "Paper (Gemma2 2B, 10 arms, T = 50): RL fine-tuning lowers regret and raises action "
             "coverage by 12%.", ""]
    if data is None:
        return lines + [missing("default_seeds"), ""]
    rows = data["rows"]
    references = tuple(name for name in ("random", "greedy", "ucb") if name in rows[0])
    lines += [f"rlft ({source('default_seeds', data)}; {rows[0]['instances']} held-out "
              f"instances per seed, 5 arms, T = 10, the tiny-agent preset):", "",
              *seed_table(data, "coverage_final", "coverage"), "",
              *seed_table(data, "final_regret", "regret", references), ""]
    caption = f"default_seeds.json, commit {data['commit'][:7]}"
    lines.append(figure(out / "bandits.png", lambda axes: (
        start_final_bars(axes[0], rows, "coverage_final", "coverage at T"),
        start_final_bars(axes[1], rows, "final_regret", "final regret", references)), caption,
        width=10))
    return lines + [""] + analyses_section(data, out)


def analyses_section(data: dict[str, Any], out: Path) -> list[str]:
    rows = [r for r in data["rows"] if "analyses" in r]
    lines = ["## Greediness and frequency bias, before and after RL fine-tuning", "",
             "Paper: before RLFT the 2B model covers few arms (greediness) and picks the most "
             "frequent action in 70% of contexts at 0-10 repetitions (frequency bias); after "
             "RLFT, 35%.", ""]
    if not rows:
        return lines + ["not measured: the runs of `default_seeds.json` ran no end-of-run "
                        "analyses (eval.analyses).", ""]
    lines += ["| seed | coverage by step, start | coverage by step, final | frequent at 0-10 "
              "reps, start | final | greedy at 0-10 reps, start | final |",
              "|---|---|---|---|---|---|---|"]
    share = "mass_{}"   # sampled answers: the share of answers; teacher-forced: of probability
    for r in rows:
        start, final = r["analyses"]["start"], r["analyses"]["final"]
        cells = [" ".join(f"{c:.2f}" for c in p["greediness"]["coverage_by_step"])
                 for p in (start, final)]
        for kind in ("frequent", "greedy"):
            cells += [f"{p['frequency_bias']['buckets']['0-10'][share.format(kind)]:.2f}"
                      for p in (start, final)]
        lines.append(f"| {r['seed']} | " + " | ".join(cells) + " |")
    scoring = rows[0]["analyses"]["start"]["frequency_bias"]["scoring"]
    lines += ["", f"Frequency bias scored by {scoring} answers (shares of answers that choose "
              "the most frequent, non-greedy arm, and a greedy arm); coverage by step on the "
              "run's own env.", ""]

    def draw(axes: Any) -> None:
        for r in rows:
            for policy, style in (("start", "--"), ("final", "-")):
                curve = r["analyses"][policy]["greediness"]["coverage_by_step"]
                axes[0].plot(range(1, len(curve) + 1), curve, style,
                             label=f"seed {r['seed']} {policy}")
        axes[0].set_xlabel("step")
        axes[0].set_ylabel("coverage")
        axes[0].legend(fontsize=6)
        buckets = list(rows[0]["analyses"]["start"]["frequency_bias"]["buckets"])
        for offset, policy in ((-0.2, "start"), (0.2, "final")):
            values = [np.mean([r["analyses"][policy]["frequency_bias"]["buckets"][b][
                share.format("frequent")] for r in rows]) for b in buckets]
            axes[1].bar(np.arange(len(buckets)) + offset, values, width=0.4, label=policy)
        axes[1].set_xticks(range(len(buckets)), buckets)
        axes[1].set_xlabel("repetitions")
        axes[1].set_ylabel("frequent (mean over seeds)")
        axes[1].legend(fontsize=6)

    lines.append(figure(out / "analyses.png", draw,
                        f"default_seeds.json, commit {data['commit'][:7]}", width=9))
    return lines + [""]


def tictactoe_section(out: Path) -> list[str]:
    data, opponents = load("tictactoe_seeds"), load("tictactoe_opponents")
    lines = ["## Tic-tac-toe", "",
             "Paper (Gemma2 2B, return = P(win) - P(loss)): against a random opponent 0.15 "
             "before RLFT and 0.75 after; against MCTS -0.95 before and 0.0 after.", ""]
    if data is None:
        return lines + [missing("tictactoe_seeds"), ""]
    rows = data["rows"]
    references = tuple(name for name in ("random", "mcts", "minimax") if name in rows[0])
    lines += [f"rlft against the random opponent ({source('tictactoe_seeds', data)}; "
              f"{rows[0]['instances']} held-out games per seed, the tiny-agent preset):", "",
              *seed_table(data, "return", "return", references), "",
              *seed_table(data, "illegal_rate", "illegal moves"), ""]
    if opponents is None:
        lines += [missing("tictactoe_opponents"), ""]
    else:
        lines += [f"Against MCTS ({source('tictactoe_opponents', opponents)}, on the same runs):",
                  "", "| run | return start | return final | paired diff [95% CI] | "
                  + " | ".join(opponents["players"]) + " |",
                  "|---|---|---|---|" + "---|" * len(opponents["players"])]
        for run in opponents["runs"]:
            table = run["opponents"].get("mcts")
            if table is None:
                continue
            lines.append(f"| {Path(run['run']).name} | {ci(table['start policy'], 'return')} | "
                         f"{ci(table['final policy'], 'return')} | "
                         f"{paired(run['paired']['mcts']['return'])} | "
                         + " | ".join(ci(table[p], "return") for p in opponents["players"])
                         + " |")
        lines.append("")
    caption = f"tictactoe_seeds.json, commit {data['commit'][:7]}"
    lines.append(figure(out / "tictactoe.png", lambda axes: (
        start_final_bars(axes[0], rows, "return", "return vs random", references),
        start_final_bars(axes[1], rows, "illegal_rate", "illegal moves")), caption, width=10))
    return lines + [""]


def contextual_bandit_section(out: Path) -> list[str]:
    data = load("cb_seeds")
    lines = ["## Contextual bandits (MovieLens)", "",
             "Paper (Gemma2 2B): before RLFT about as good as random; after RLFT similar to "
             "LinUCB (no numbers given).", ""]
    if data is None:
        return lines + [missing("cb_seeds"), ""]
    rows = data["rows"]
    references = tuple(name for name in ("random", "linucb") if name in rows[0])
    lines += [f"rlft ({source('cb_seeds', data)}; {rows[0]['instances']} held-out episodes per "
              "seed, the tiny-agent preset):", "",
              *seed_table(data, "final_regret", "regret", references), ""]
    caption = f"cb_seeds.json, commit {data['commit'][:7]}"
    lines.append(figure(out / "contextual_bandit.png", lambda axes: (
        start_final_bars(axes[0], rows, "final_regret", "final regret", references),
        axes[1].axis("off")), caption, width=10))
    return lines + [""]


def report(destination: Path) -> Path:
    """Writes destination/paper.md and its figures in destination/paper/."""
    out = destination / "paper"
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# The paper's RL fine-tuning results and rlft's miniatures", "",
             "Written by `benchmarks/paper.py` from the results files it names; each figure's "
             "title names its file and commit. The paper's numbers are Gemma2 2B on TPUs; "
             "rlft's are a 0.66M-parameter preset on a 2-core CPU, so the comparison is of "
             "direction and shape, not of size.", ""]
    for section in (bandit_section, tictactoe_section, contextual_bandit_section):
        lines += section(out)
    path = destination / "paper.md"
    path.write_text("\n".join(lines))
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="store_true",
                        help="run the stages whose results file is missing, then report")
    parser.add_argument("--rerun", nargs="*", default=[], choices=list(STAGES),
                        help="stages to run again even if their results file exists")
    parser.add_argument("--jobs", type=int, default=1, help="seeds trained at the same time")
    parser.add_argument("--smoke", action="store_true",
                        help="only the report, from the results files as they are, into a "
                             "temporary directory (a test)")
    args = parser.parse_args()
    if args.smoke:
        with tempfile.TemporaryDirectory() as scratch:
            path = report(Path(scratch))
            print(path.read_text())
        return 0
    for name in STAGES:
        if name in args.rerun or (args.run and load(name) is None):
            run_stage(name, args.jobs)
    path = report(RESULTS)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
