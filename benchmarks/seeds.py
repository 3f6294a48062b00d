"""One training config over several seeds, run by hand: does the held-out gain hold in each?

Trains one run per seed (each in its own run directory, --jobs of them at a time), then
tabulates for every seed the starting policy (after any warm start), the final policy and the
config's baselines on the same held-out instances: every per-instance metric of the env (for
bandits coverage at T and final regret, for tic-tac-toe the return and the illegal-move rate)
and their paired per-instance differences (final minus start) with 95% CIs, and the run's
end-of-run analyses of both policies, if it ran any.

    PYTHONPATH=python python benchmarks/seeds.py --config configs/cpu_regret.yaml \
        --seeds 0 1 2 --jobs 2 --name regret_seeds [section.key=value ...]

Every run records what trained it in its provenance.json: the commit of the rlft source, a
digest of the rlft code it imported (sources and compiled core), its command line (config and
overrides) and when it started, was resumed and finished. A seed's run is reused only when
that record says it finished, on code with the digest of the rlft this sweep trains with
(computed by the same interpreter and environment as a training run), from the same command
line; a run that stopped early on the same code and command is continued from its
checkpoint; any other run directory is removed and trained afresh, with the reason printed.
--retrain trains every seed afresh.

Each row carries its run's own commit, code digest and wall time (first start to finish, as
the run recorded them: for a resumed run, the time it was stopped counts too). The seconds of
the RL phases come from metrics.jsonl and count every iteration, resumed or not. Writes
benchmarks/results/<name>.json with the config, the overrides, the rows, "commit": the one
commit all rows were trained on (a sweep whose rows disagree stops with an error: re-run it
with --retrain), "settings", "code": the runs' own per-file code records (each run's
provenance.json; benchmarks/provenance.py: stamp) with this script's, and "assembled_by": the
checkout's commit when the table was written.
--smoke runs a toy-size sweep into a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from provenance import commit, stamp

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT / "python" / "rlft" / "train.py"
PHASES = ("perf/rollout_s", "perf/logprob_s", "perf/update_s")
SMOKE = ["rollout.num_envs=4", "env.horizon=3", "rollout.max_new_tokens=6",
         "optim.batch_size=4", "optim.micro_batch_size=2", "warm_start.steps=0",
         "eval.episodes=4", "eval.seeds=1", "run.iterations=1", "optim.warmup_steps=1",
         "run.export=false", "eval.analyses=[]"]


def run_argv(config: str, seed: int, out_dir: Path, overrides: list[str]) -> list[str]:
    """The training command line (after the interpreter) for one seed: what its run records
    as argv, so a reused run is known to have been trained with this config and overrides."""
    return [str(TRAIN), "--config", config, f"run.seed={seed}", f"run.out_dir={out_dir}",
            "run.progress=false", *overrides]


def train_env() -> dict[str, str]:
    return {**os.environ, "DS_ACCELERATOR": "cpu"}


def train_seed(argv: list[str]) -> None:
    """Runs python/rlft/train.py for one seed; the run records its own provenance."""
    subprocess.run([sys.executable, *argv], check=True, env=train_env())


def training_digest() -> str:
    """The code digest of the rlft that train.py imports: the same interpreter, environment
    and first sys.path entry (the script's folder) as a training run."""
    program = (f"import sys; sys.path[0] = {str(TRAIN.parent)!r}; "
               "from rlft.trainer.provenance import code_digest; print(code_digest())")
    return subprocess.run([sys.executable, "-c", program], check=True, env=train_env(),
                          capture_output=True, text=True).stdout.strip()


def read_provenance(out_dir: Path) -> dict[str, Any] | None:
    """What the run recorded about the code and command that trained it, if anything."""
    try:
        return json.loads((out_dir / "provenance.json").read_text())
    except (OSError, ValueError):
        return None


UNFINISHED = "unfinished"


def reuse_reason(provenance: dict[str, Any] | None, digest: str, argv: list[str]
                 ) -> str | None:
    """None when the run this provenance describes can stand for a run trained now (same
    code, same command, finished); else why not. UNFINISHED alone means the run may be
    continued from its checkpoint."""
    if provenance is None:
        return "no provenance.json (not trained by code that records it)"
    if provenance.get("code_digest") != digest:
        return (f"trained by other code (digest {str(provenance.get('code_digest'))[:12]}, "
                f"now {digest[:12]})")
    if provenance.get("argv") != argv:
        return f"trained with another command line: {provenance.get('argv')}"
    if "finished_unix" not in provenance:
        return UNFINISHED
    if not isinstance(provenance.get("code"), dict):
        return "no per-file code record (recorded by older code)"
    return None


def shared_commit(rows: list[dict[str, Any]]) -> str:
    """The one commit every row was trained on: a table that names one commit must not mix
    runs of several."""
    commits = sorted({r["commit"] for r in rows})
    if len(commits) != 1:
        raise SystemExit(f"the runs were trained on different commits ({', '.join(commits)}): "
                         "re-run with --retrain so that one commit trains every seed")
    return commits[0]


def training_log(out_dir: Path) -> dict[str, float]:
    """From metrics.jsonl: iterations and the seconds of the RL phases summed over iterations
    (the same whether or not the run was resumed)."""
    rows = [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]
    return {"iterations": len(rows),
            "rl_s": sum(r.get(key, 0.0) for r in rows for key in PHASES)}


# Per-instance metrics where a lower value is better; every other one is better higher.
LOWER_IS_BETTER = ("final_regret", "loss_rate", "illegal_rate")
# The metrics a seed's row tabulates, per env (the evaluation's per-instance metrics).
HEADLINE = {"mab": ("coverage_final", "final_regret"),
            "contextual_bandit": ("final_regret",),
            "tictactoe": ("return", "illegal_rate")}
LABELS = {"coverage_final": "coverage", "final_regret": "regret", "return": "return",
          "illegal_rate": "illegal moves"}


def gain(metric: str, paired: dict[str, Any]) -> bool:
    """Whether final minus start moved the metric the good way with a 95% CI excluding 0."""
    return paired["ci_high"] < 0 if metric in LOWER_IS_BETTER else paired["ci_low"] > 0


def row(seed: int, results: dict[str, Any], provenance: dict[str, Any],
        log: dict[str, float]) -> dict[str, Any]:
    """One seed: every policy's per-instance means with 95% CIs, and the paired final-minus-
    start difference of every per-instance metric, with whether it is a gain."""
    paired = results["paired"]
    out: dict[str, Any] = {
        "seed": seed, **{key: provenance[key] for key in ("commit", "code_digest", "wall_s")},
        **log,
        "instances": results["eval"]["episodes"] * results["eval"]["seeds"],
        "paired": paired,
        "gains": {metric: gain(metric, d) for metric, d in paired.items()},
    }
    if "analyses" in results:   # the end-of-run analyses of the start and final policies
        out["analyses"] = results["analyses"]
    for name, entry in results["policies"].items():
        out[name] = {key: entry[key] for metric in entry["per_instance"]
                     for key in (metric, f"{metric}_ci95")}
        out[name]["invalid_rate"] = entry["invalid_rate"]
    return out


def markdown(env: str, rows: list[dict[str, Any]]) -> str:
    """Per seed and headline metric: start, final, the paired difference, and every baseline
    on the same instances."""
    def cell(entry: dict[str, Any], key: str) -> str:
        return f"{entry[key]:.2f} ± {entry[f'{key}_ci95']:.2f}"

    def diff(entry: dict[str, Any]) -> str:
        return f"{entry['mean']:+.2f} [{entry['ci_low']:+.2f}, {entry['ci_high']:+.2f}]"

    metrics = HEADLINE[env]
    baselines = [name for name, value in rows[0].items() if isinstance(value, dict)
                 and name not in ("start policy", "final policy", "paired", "gains", "analyses")]
    header = ["seed"]
    for metric in metrics:
        label = LABELS[metric]
        header += [f"{label} start", f"{label} final", f"{label} paired diff [95% CI]",
                   *(f"{label} {b}" for b in baselines)]
    lines = ["| " + " | ".join([*header, "iterations", "wall (min)"]) + " |",
             "|" + "---|" * (len(header) + 2)]
    for r in rows:
        cells = [str(r["seed"])]
        for metric in metrics:
            cells += [cell(r["start policy"], metric), cell(r["final policy"], metric),
                      diff(r["paired"][metric]), *(cell(r[b], metric) for b in baselines)]
        lines.append("| " + " | ".join([*cells, str(r["iterations"]),
                                        f"{r['wall_s'] / 60:.1f}"]) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/cpu_default.yaml")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--name", default="default_seeds",
                        help="writes benchmarks/results/NAME.json; runs go to runs/NAME/seedN")
    parser.add_argument("--retrain", action="store_true", help="train every seed afresh, even a reusable run")
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
    argvs = {seed: run_argv(args.config, seed, out_dir, overrides)
             for seed, out_dir in out_dirs.items()}
    digest = training_digest()
    to_train = []
    for seed, out_dir in out_dirs.items():
        reason = ("--retrain" if args.retrain else
                  reuse_reason(read_provenance(out_dir), digest, argvs[seed]))
        if reason == UNFINISHED:
            print(f"seed {seed}: continuing {out_dir} (unfinished, same code and command)")
        elif reason is not None:
            print(f"seed {seed}: training afresh: {reason}")
            if out_dir.exists():   # its checkpoints would otherwise be resumed
                print(f"seed {seed}: removing the stale run directory {out_dir}")
                shutil.rmtree(out_dir)
        else:
            print(f"seed {seed}: reusing {out_dir} (finished, same code and command)")
            continue
        to_train.append(seed)
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        list(pool.map(lambda seed: train_seed(argvs[seed]), to_train))
    rows, runs_code, env = [], [], ""
    for seed, out_dir in out_dirs.items():
        provenance = read_provenance(out_dir)
        reason = reuse_reason(provenance, digest, argvs[seed])
        if reason is not None:   # e.g. a digest that changed while the sweep ran
            raise SystemExit(f"seed {seed}: {out_dir} cannot be tabulated: {reason}")
        results = json.loads((out_dir / "results.json").read_text())
        env = results["eval"]["env"]
        rows.append(row(seed, results, provenance, training_log(out_dir)))
        runs_code.append(provenance["code"])
    table = markdown(env, rows)
    print(table, end="")
    out = (root / "results" if scratch else ROOT / "benchmarks" / "results") / f"{args.name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    settings = {"config": args.config, "overrides": overrides, "seeds": args.seeds,
                "name": args.name}
    # The runs' commit and code: what trained them, not what the checkout holds now.
    provenance = {**stamp(settings, runs_code=runs_code), "commit": shared_commit(rows)}
    out.write_text(json.dumps({**provenance, "assembled_by": commit(), "config": args.config,
                               "env": env,
                               "overrides": overrides, "rows": rows, "table": table},
                              indent=2) + "\n")
    print(f"wrote {out}")
    if scratch:
        scratch.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
