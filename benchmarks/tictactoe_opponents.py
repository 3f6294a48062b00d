"""Tic-tac-toe runs against more than their training opponent: the paper reports the return of
RL fine-tuning against a random opponent and against MCTS.

For each run directory (a seed of a tic-tac-toe config trained from a preset with no warm
start, e.g. by ``benchmarks/seeds.py``), plays on the run's own held-out game seeds, against
each opponent: the starting policy (the preset), the final policy (RUN/model), and the classic
players (random, MCTS, minimax) on the same games. Everything goes through the one evaluation
(``rlft.evaluation``) with the run's prompt and sampling; only the opponent changes.

Per opponent and policy: the return (P(win) - P(loss)), win, draw and loss rates and the
illegal-move rate with 95% CIs over distinct games, and final minus start paired per game
seed. Writes benchmarks/results/<name>.json with each run's commit and the wall time.

    RLFT_CORE_DIR=build/dev PYTHONPATH=python python benchmarks/tictactoe_opponents.py \\
        --runs runs/tictactoe_seeds/seed0 runs/tictactoe_seeds/seed1 runs/tictactoe_seeds/seed2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from provenance import stamp

ROOT = Path(__file__).resolve().parents[1]
OPPONENTS = ("random", "mcts")
PLAYERS = ("random", "mcts", "minimax")
METRICS = ("return", "win_rate", "draw_rate", "loss_rate", "illegal_rate")
SMOKE = ["run.iterations=1", "eval.episodes=4", "eval.seeds=1", "rollout.num_envs=4",
         "optim.batch_size=4", "optim.micro_batch_size=2", "optim.warmup_steps=1",
         "rollout.generation_batch_size=4", "run.progress=false"]


def run_policies(run: Path) -> tuple[Any, dict[str, str]]:
    """The run's held-out evaluation and its two policies: label -> preset or model dir."""
    from rlft.evaluation.config import EvalConfig

    config = json.loads((run / "config.json").read_text())
    results = json.loads((run / "results.json").read_text())
    if config["env"]["name"] != "tictactoe":
        raise SystemExit(f"{run}: a {config['env']['name']} run, not tic-tac-toe")
    if config["warm_start"]["steps"]:
        raise SystemExit(f"{run}: starts with a warm start, so its starting policy was never "
                         "saved; evaluate runs that start from a preset")
    return (EvalConfig.from_dict(results["eval"]),
            {"start policy": config["model"]["name"], "final policy": str(run / "model")})


def summary_row(summary: dict[str, Any]) -> dict[str, Any]:
    return {key: summary[key] for metric in METRICS for key in (metric, f"{metric}_ci95")}


def evaluate_run(run: Path, opponents: list[str], players: list[str]) -> dict[str, Any]:
    """{opponent: {policy: metrics}, paired: {opponent: {metric: final - start}}}."""
    from rlft.agents import make_agent
    from rlft.analysis.stats import paired_difference
    from rlft.evaluation.runner import llm_agent, play_evaluation
    from rlft.models import load_model_and_tokenizer

    evaluation, policies = run_policies(run)
    models = {label: load_model_and_tokenizer(path) for label, path in policies.items()}
    for lm, _ in models.values():
        lm.eval()
    out: dict[str, Any] = {"run": str(run), "eval": evaluation.to_dict(), "opponents": {},
                           "paired": {}}
    for opponent in opponents:
        config = dataclasses.replace(evaluation, opponent=opponent)
        rows, values = {}, {}
        for label, (lm, tokenizer) in models.items():
            summary, _ = play_evaluation(
                config, lambda env: llm_agent(config, env, lm, tokenizer))
            rows[label], values[label] = summary_row(summary), summary["per_instance"]
        for player in players:
            summary, _ = play_evaluation(
                dataclasses.replace(config, agent=player), lambda env: make_agent(player))
            rows[player] = summary_row(summary)
        out["opponents"][opponent] = rows
        out["paired"][opponent] = {
            metric: paired_difference(values["final policy"][metric],
                                      values["start policy"][metric]).to_dict()
            for metric in METRICS}
    return out


def markdown(runs: list[dict[str, Any]]) -> str:
    lines = ["| run | opponent | policy | return | win | draw | loss | illegal moves |",
             "|---|---|---|---|---|---|---|---|"]
    for entry in runs:
        for opponent, rows in entry["opponents"].items():
            for policy, r in rows.items():
                cells = [f"{r[m]:.2f} ± {r[f'{m}_ci95']:.2f}" for m in METRICS]
                lines.append(f"| {Path(entry['run']).name} | {opponent} | {policy} | "
                             + " | ".join(cells) + " |")
            d = entry["paired"][opponent]["return"]
            lines.append(f"| {Path(entry['run']).name} | {opponent} | final - start (paired) | "
                         f"{d['mean']:+.2f} [{d['ci_low']:+.2f}, {d['ci_high']:+.2f}] "
                         "| | | | |")
    return "\n".join(lines) + "\n"


def play_and_write(runs: list[Path], opponents: list[str], players: list[str],
                   out: Path) -> None:
    for run in runs:   # before any work
        for needed in ("config.json", "results.json", "provenance.json", "model"):
            if not (run / needed).exists():
                raise SystemExit(f"{run}: no {needed}: not a finished run directory")
    started = time.perf_counter()
    entries = []
    for run in runs:
        entry = evaluate_run(run, opponents, players)
        entry["run_commit"] = json.loads((run / "provenance.json").read_text())["commit"]
        entries.append(entry)
    table = markdown(entries)
    print(table, end="")
    out.parent.mkdir(parents=True, exist_ok=True)
    # The players' code is this process's; the models are the runs' exports (their own
    # provenance.json, whose commit each entry names).
    settings = {"runs": [str(run) for run in runs], "opponents": opponents, "players": players}
    out.write_text(json.dumps({**stamp(settings), "opponents": opponents, "players": players,
                               "runs": entries, "table": table,
                               "wall_s": time.perf_counter() - started}, indent=2) + "\n")
    print(f"wrote {out}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", type=Path, default=[],
                        help="tic-tac-toe run directories")
    parser.add_argument("--opponents", nargs="+", default=list(OPPONENTS), choices=OPPONENTS)
    parser.add_argument("--players", nargs="+", default=list(PLAYERS), choices=PLAYERS)
    parser.add_argument("--name", default="tictactoe_opponents",
                        help="writes benchmarks/results/NAME.json")
    parser.add_argument("--smoke", action="store_true",
                        help="a toy run trained and played into a temporary directory (a test)")
    args = parser.parse_args()
    if args.smoke:
        with tempfile.TemporaryDirectory() as scratch:
            run = Path(scratch) / "run"
            subprocess.run([sys.executable, str(ROOT / "python" / "rlft" / "train.py"),
                            "--config", "configs/tictactoe_cpu.yaml", *SMOKE,
                            f"run.out_dir={run}"], check=True, cwd=ROOT)
            play_and_write([run], args.opponents, args.players,
                           Path(scratch) / "opponents.json")
        return 0
    if not args.runs:
        parser.error("--runs: name the run directories to play (or --smoke)")
    play_and_write(args.runs, args.opponents, args.players,
                   ROOT / "benchmarks" / "results" / f"{args.name}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
