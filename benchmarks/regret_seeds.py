"""RL's own regret gain across seeds (issue 5, configs/cpu_regret.yaml), run by hand.

Trains one run per seed with the given config (each in its own run directory, --jobs of them
at a time), then tabulates, for every seed, the held-out final regret of the starting policy
(after the warm start) and of the final policy with 95% CIs, and whether the two intervals are
disjoint. Writes benchmarks/results/regret_seeds.json.

    RLFT_CORE_DIR=build/<dir> PYTHONPATH=python python benchmarks/regret_seeds.py \
        --config configs/cpu_regret.yaml --seeds 0 1 2 --jobs 2 [overrides ...]

A seed whose run directory already holds results.json is not trained again (--retrain to
force), so an interrupted sweep continues where it stopped; its wall time is then read from
the run directory (config.json written at the start, results.json at the end: for a resumed
run, the last start only). The seconds of the RL phases come from metrics.jsonl and count
every iteration, resumed or not.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SMOKE_OVERRIDES = ("rollout.num_envs=4", "env.horizon=3", "optim.batch_size=4",
                   "optim.micro_batch_size=2", "warm_start.steps=2", "warm_start.batch_size=4",
                   "run.iterations=1", "eval.episodes=4", "eval.seeds=1", "run.export=false")


def train_seed(config: str, seed: int, out_dir: Path, overrides: list[str]) -> float:
    """Runs python/rlft/train.py for one seed; returns its wall time in seconds."""
    command = [sys.executable, str(ROOT / "python" / "rlft" / "train.py"), "--config", config,
               f"run.seed={seed}", f"run.out_dir={out_dir}", "run.progress=false", *overrides]
    started = time.perf_counter()
    subprocess.run(command, check=True, env={**os.environ, "DS_ACCELERATOR": "cpu"})
    return time.perf_counter() - started


def disjoint_below(final: dict[str, Any], start: dict[str, Any]) -> bool:
    """True when the final policy's regret CI lies entirely below the starting policy's."""
    return (final["final_regret"] + final["final_regret_ci95"]
            < start["final_regret"] - start["final_regret_ci95"])


PHASES = ("perf/rollout_s", "perf/logprob_s", "perf/update_s", "perf/guard_s")


def training_log(out_dir: Path) -> dict[str, float]:
    """From metrics.jsonl: iterations, updates the guard undid, and the seconds of the RL
    phases summed over iterations (the same whether or not the run was resumed)."""
    rows = [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]
    return {"iterations": len(rows),
            "updates_undone": sum(int(r.get("optim/rolled_back", 0)) for r in rows),
            "rl_s": sum(r.get(key, 0.0) for r in rows for key in PHASES)}


def row(seed: int, results: dict[str, Any], seconds: float, log: dict[str, float]
        ) -> dict[str, Any]:
    start, final = results["start policy"], results["final policy"]
    out = {"seed": seed, "wall_s": seconds, **log, "clear_gain": disjoint_below(final, start)}
    for name, entry in results.items():
        out[name] = {key: entry[key] for key in ("final_regret", "final_regret_ci95",
                                                 "invalid_rate", "shaped_return",
                                                 "shaped_return_ci95")}
    return out


def markdown(rows: list[dict[str, Any]]) -> str:
    def cell(entry: dict[str, Any]) -> str:
        return f"{entry['final_regret']:.2f} ± {entry['final_regret_ci95']:.2f}"

    lines = ["| seed | start policy | final policy | random | ucb | disjoint, final below | "
             "iterations | updates undone | RL phases (min) | wall of the last start (min) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['seed']} | {cell(r['start policy'])} | {cell(r['final policy'])} | "
                     f"{cell(r['random'])} | {cell(r['ucb'])} | "
                     f"{'yes' if r['clear_gain'] else 'no'} | {r['iterations']} | "
                     f"{r['updates_undone']} | {r['rl_s'] / 60:.1f} | {r['wall_s'] / 60:.1f} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/cpu_regret.yaml")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out-root", default="runs/regret_seeds",
                        help="seed N trains in OUT_ROOT/seedN")
    parser.add_argument("--retrain", action="store_true", help="train even if results exist")
    parser.add_argument("--jobs", type=int, default=1,
                        help="seeds trained at the same time (2 on a 2-core machine with "
                             "engine.threads=1, as configs/cpu_regret.yaml sets)")
    parser.add_argument("overrides", nargs="*", help="section.key=value passed to every run")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results"
                        / "regret_seeds.json")
    parser.add_argument("--smoke", action="store_true",
                        help="one seed at toy sizes in a temporary directory (the test suite)")
    args = parser.parse_args()
    if args.smoke:
        scratch = Path(tempfile.mkdtemp())
        args.seeds, args.out_root, args.out = [0], str(scratch / "runs"), scratch / "out.json"
        args.overrides = [*SMOKE_OVERRIDES, *args.overrides]

    out_dirs = {seed: Path(args.out_root) / f"seed{seed}" for seed in args.seeds}
    to_train = [seed for seed, out_dir in out_dirs.items()
                if args.retrain or not (out_dir / "results.json").is_file()]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        trained = dict(zip(to_train, pool.map(
            lambda seed: train_seed(args.config, seed, out_dirs[seed], args.overrides),
            to_train)))
    rows = []
    for seed, out_dir in out_dirs.items():
        results_file = out_dir / "results.json"
        # An earlier run: from its first file (config.json) to its last (results.json).
        seconds = trained.get(seed, results_file.stat().st_mtime
                              - (out_dir / "config.json").stat().st_mtime)
        rows.append(row(seed, json.loads(results_file.read_text()), seconds,
                        training_log(out_dir)))
    table = markdown(rows)
    print(table, end="")
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"config": args.config, "overrides": args.overrides,
                               "rows": rows, "table": table}, indent=2) + "\n")
    print(f"wrote {out}")
    return 0 if args.smoke or all(r["clear_gain"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
