"""One training config over several seeds, run by hand: does the held-out gain hold in each?

Trains one run per seed (each in its own run directory, --jobs of them at a time), then
tabulates for every seed the starting policy (after any warm start) and the final policy on
the same held-out instances: coverage at T, final regret, and their paired per-instance
differences (final minus start) with 95% CIs. Writes benchmarks/results/<name>.json with the
commit, the config and the overrides.

    PYTHONPATH=python python benchmarks/seeds.py --config configs/cpu_regret.yaml \
        --seeds 0 1 2 --jobs 2 --name regret_seeds [section.key=value ...]

A seed whose run directory already holds results.json is not trained again (--retrain to
force), so an interrupted sweep continues where it stopped; its wall time is then read from
the run directory (config.json written at the start, results.json at the end: for a resumed
run, the last start only). The seconds of the RL phases come from metrics.jsonl and count
every iteration, resumed or not. --smoke runs a toy-size sweep into a temporary directory.
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

from provenance import commit

ROOT = Path(__file__).resolve().parents[1]
PHASES = ("perf/rollout_s", "perf/logprob_s", "perf/update_s")
SMOKE = ["rollout.num_envs=4", "env.horizon=3", "rollout.max_new_tokens=6",
         "optim.batch_size=4", "optim.micro_batch_size=2", "warm_start.steps=0",
         "eval.episodes=4", "eval.seeds=1", "run.iterations=1", "optim.warmup_steps=1",
         "run.export=false", "eval.analyses=[]"]


def train_seed(config: str, seed: int, out_dir: Path, overrides: list[str]) -> float:
    """Runs python/rlft/train.py for one seed; returns its wall time in seconds."""
    command = [sys.executable, str(ROOT / "python" / "rlft" / "train.py"), "--config", config,
               f"run.seed={seed}", f"run.out_dir={out_dir}", "run.progress=false", *overrides]
    started = time.perf_counter()
    subprocess.run(command, check=True, env={**os.environ, "DS_ACCELERATOR": "cpu"})
    return time.perf_counter() - started


def training_log(out_dir: Path) -> dict[str, float]:
    """From metrics.jsonl: iterations and the seconds of the RL phases summed over iterations
    (the same whether or not the run was resumed)."""
    rows = [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]
    return {"iterations": len(rows),
            "rl_s": sum(r.get(key, 0.0) for r in rows for key in PHASES)}


def row(seed: int, results: dict[str, Any], seconds: float, log: dict[str, float]
        ) -> dict[str, Any]:
    paired = results["paired"]
    out: dict[str, Any] = {
        "seed": seed, "wall_s": seconds, **log,
        "instances": results["eval"]["episodes"] * results["eval"]["seeds"],
        "paired": {name: paired[name] for name in ("final_regret", "coverage_final")},
        # Lower regret and higher coverage, each with a paired 95% CI that excludes 0.
        "regret_gain": paired["final_regret"]["ci_high"] < 0,
        "coverage_gain": paired["coverage_final"]["ci_low"] > 0,
    }
    for name, entry in results["policies"].items():
        out[name] = {key: entry[key] for key in ("final_regret", "final_regret_ci95",
                                                 "coverage_final", "coverage_final_ci95",
                                                 "invalid_rate", "shaped_return",
                                                 "shaped_return_ci95")}
    return out


def markdown(rows: list[dict[str, Any]]) -> str:
    def cell(entry: dict[str, Any], key: str) -> str:
        return f"{entry[key]:.2f} ± {entry[f'{key}_ci95']:.2f}"

    def diff(entry: dict[str, Any]) -> str:
        return f"{entry['mean']:+.2f} [{entry['ci_low']:+.2f}, {entry['ci_high']:+.2f}]"

    baselines = [name for name in rows[0]
                 if isinstance(rows[0][name], dict) and "final_regret" in rows[0][name]
                 and name not in ("start policy", "final policy", "paired")]
    lines = ["| seed | coverage start → final | paired diff [95% CI] | regret start | "
             "regret final | paired diff [95% CI] | "
             + " | ".join(f"regret {b}" for b in baselines)
             + " | iterations | wall (min) |",
             "|" + "---|" * (8 + len(baselines))]
    for r in rows:
        start, final = r["start policy"], r["final policy"]
        lines.append(
            f"| {r['seed']} | {start['coverage_final']:.2f} → {final['coverage_final']:.2f} | "
            f"{diff(r['paired']['coverage_final'])} | {cell(start, 'final_regret')} | "
            f"{cell(final, 'final_regret')} | {diff(r['paired']['final_regret'])} | "
            + " | ".join(cell(r[b], "final_regret") for b in baselines)
            + f" | {r['iterations']} | {r['wall_s'] / 60:.1f} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/cpu_default.yaml")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--name", default="default_seeds",
                        help="writes benchmarks/results/NAME.json; runs go to runs/NAME/seedN")
    parser.add_argument("--retrain", action="store_true", help="train even if results exist")
    parser.add_argument("--jobs", type=int, default=1,
                        help="seeds trained at the same time (on a 2-core machine: 2 with "
                             "engine.threads=1)")
    parser.add_argument("--smoke", action="store_true",
                        help="toy sizes, one seed, into a temporary directory (a test)")
    parser.add_argument("overrides", nargs="*", help="section.key=value passed to every run")
    args = parser.parse_args()

    overrides = [*SMOKE, *args.overrides] if args.smoke else args.overrides
    scratch = tempfile.TemporaryDirectory() if args.smoke else None
    root = Path(scratch.name) if scratch else ROOT
    out_dirs = {seed: root / "runs" / args.name / f"seed{seed}" for seed in args.seeds}
    to_train = [seed for seed, out_dir in out_dirs.items()
                if args.retrain or not (out_dir / "results.json").is_file()]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        trained = dict(zip(to_train, pool.map(
            lambda seed: train_seed(args.config, seed, out_dirs[seed], overrides), to_train)))
    rows = []
    for seed, out_dir in out_dirs.items():
        results_file = out_dir / "results.json"
        seconds = trained.get(seed, results_file.stat().st_mtime
                              - (out_dir / "config.json").stat().st_mtime)
        rows.append(row(seed, json.loads(results_file.read_text()), seconds,
                        training_log(out_dir)))
    table = markdown(rows)
    print(table, end="")
    out = (root / "results" if scratch else ROOT / "benchmarks" / "results") / f"{args.name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"commit": commit(), "config": args.config,
                               "overrides": overrides, "rows": rows, "table": table},
                              indent=2) + "\n")
    print(f"wrote {out}")
    if scratch:
        scratch.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
