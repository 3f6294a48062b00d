"""The paper's loop on a real pretrained model on one GPU (scripts/gpu_real_model.sh): the
SmolLM2-135M-Instruct GGUF arrives in two halves, one per device call, then is joined,
checked (sha256), converted through the smollm2-135m preset's GGUF recipe, and RL fine-tuned
with chain-of-thought on the paper's button bandits (configs/smollm2_gpu.yaml) for a fixed
time; the trainer's held-out evaluation compares the start and final policies.

    gpu_real_model.py stash     # call 1: check half 1 and keep it outside the repository copy
    gpu_real_model.py run       # call 2 (within ~30 s): join, convert, train, report
    gpu_real_model.py --cpu     # both, at toy size on the CPU, on a GGUF of the tiny preset

Results: benchmarks/results/gpu_real_model.json on the GPU; with --cpu a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import model_halves  # noqa: E402
from gpu_check import Budget, commit, run_capped, source_fingerprint, versions  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "gpu_real_model.json"
HALVES = ROOT / ".gpu_model"                  # carried, ignored by git
STASH = Path("/tmp/rlft-gpu-model")           # outlives a call while the machine stays warm
CONFIG = "configs/smollm2_gpu.yaml"
# One device call of at most 600 s (timeout_s 600): the whole run, install included, within
# CALL_BUDGET_S counted from the script's first line ($RLFT_CHECK_STARTED). About: install
# 40-150 s, join + conversion 30 s, model load and the start evaluation 60 s, TRAIN_S of
# training (the trainer stops before an iteration that would overrun it), the final
# evaluation, baselines and export 70 s.
CALL_BUDGET_S = 560
TRAIN_S = 150                                 # the training loop's run.time_limit_s
MARGIN_S = 10                                 # to write the results after the run's cap
# --cpu: the same run at toy size.
CPU_TRAIN = ["rollout.num_envs=2", "env.horizon=2", "rollout.max_new_tokens=8",
             "rollout.generation_batch_size=2", "optim.batch_size=4",
             "optim.micro_batch_size=2", "optim.warmup_steps=1", "eval.episodes=2",
             "run.iterations=1", "run.time_limit_s=0"]
PER_ITERATION = ("iteration", "rollout/invalid_rate", "rollout/shaped_reward", "env/regret",
                 "policy/kl", "rollout/sampler_logprob_gap_mean",
                 "rollout/sampler_logprob_gap_max", "perf/generate_tokens_per_s")
HELD_OUT = ("invalid_rate", "coverage_final", "coverage_final_ci95", "final_regret",
            "final_regret_ci95", "shaped_return", "shaped_return_ci95", "num_episodes")


def convert(gguf_file: Path, preset: Any, cache: Path) -> Path:
    """The preset's GGUF recipe (dequantise, rebuild, save a plain HF directory), cached under
    the file's sha256 in `cache`."""
    os.environ["RLFT_CACHE_DIR"] = str(cache)
    from rlft.models.gguf_conversion import converted_model_path

    preset.require_packages()
    settings = {"gguf_file": gguf_file.name, "gguf_sha256": model_halves.sha256(gguf_file)}
    return converted_model_path(preset, settings, lambda scratch: gguf_file)


def smollm2_preset() -> Any:
    from rlft.models.gguf_conversion import GgufPreset
    from rlft.models.smollm2 import PRESET

    # The GGUF file is carried, not installed: only the reader package is needed here.
    return GgufPreset(name=PRESET.name, model=PRESET.model, quantization=PRESET.quantization,
                      packages=(("gguf", "gguf"),),
                      chat_template_required=PRESET.chat_template_required)


def tiny_preset() -> Any:
    from rlft.models.gguf_conversion import GgufPreset

    return GgufPreset(name="tiny-gguf", model="rlft tiny (random init)", quantization="F32",
                      packages=(("gguf", "gguf"),), chat_template_required=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def read_run(out: Path) -> dict[str, Any]:
    """What a run directory holds so far: each logged iteration, and the held-out evaluations
    (results.json, written after the start evaluation and again at the end)."""
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()] \
        if (out / "metrics.jsonl").is_file() else []
    part: dict[str, Any] = {
        "iterations": len(rows),
        "train_loop_s": sum(r["perf/rollout_s"] + r["perf/logprob_s"] + r["perf/update_s"]
                            for r in rows),
        "per_iteration": [{k: r.get(k) for k in PER_ITERATION} for r in rows]}
    if (out / "results.json").is_file():
        results = json.loads((out / "results.json").read_text())
        policies = results["policies"]
        for key, name in (("start", "start policy"), ("final", "final policy")):
            if name in policies:
                part[key] = {k: policies[name].get(k) for k in HELD_OUT}
        part.update(baselines={name: {k: p.get(k) for k in HELD_OUT}
                               for name, p in policies.items()
                               if name not in ("start policy", "final policy")},
                    paired=results["paired"], eval=results["eval"])
    return part


def train(model_dir: Path, work: Path, cpu: bool, train_s: float, cap_s: float,
          save: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """The RL run, capped at cap_s; save(result so far) every 15 s and at the end, so that a
    call cut short still returns the iterations and evaluations done."""
    out = work / "run"
    overrides = CPU_TRAIN if cpu else [f"run.time_limit_s={train_s}"]
    command = [sys.executable, "-m", "deepspeed.launcher.runner", "--num_gpus", "1",
               "--master_port", str(_free_port()), "python/rlft/train.py", "--config", CONFIG,
               f"model.name={model_dir}", *overrides, f"run.out_dir={out}",
               "run.progress=false"]
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1",
               DS_ACCELERATOR="cpu" if cpu else "cuda")
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    result: dict[str, Any] = {"status": "running", "command": " ".join(command[2:]),
                              "cap_s": cap_s}

    def tick() -> None:
        result.update(read_run(out))
        save(result)

    result.update(run_capped(command, cap_s, work / "train.log", env, tick=tick))
    result.update(read_run(out))
    missing = [key for key in ("start", "final") if key not in result]
    if result["status"] == "passed" and (missing or not result["iterations"]):
        result.update(status="failed", problems=[f"no evaluation of the {missing} policy"
                                                 if missing else "no iteration logged"])
    save(result)
    return result


def table(report: dict[str, Any]) -> str:
    train = report.get("train", {})
    lines = [f"Real model ({report['mode']}): {report['model'].get('gguf')} -> "
             f"{train.get('status', 'not run')}, {train.get('iterations', 0)} iterations "
             f"in {train.get('seconds', 0):.0f} s"]
    rows = [(name, train[name]) for name in ("start", "final") if name in train]
    rows += list(train.get("baselines", {}).items())
    if not rows:
        return "\n".join(lines)
    lines += ["", "| policy | invalid rate | coverage | final regret (95% CI) |",
              "|---|---|---|---|"]
    for name, p in rows:
        lines.append(f"| {name} | {p['invalid_rate']:.3f} | {p['coverage_final']:.2f} | "
                     f"{p['final_regret']:.2f} ± {p['final_regret_ci95']:.2f} |")
    if train.get("paired"):
        lines += ["", "| final - start, paired | mean | 95% CI |", "|---|---|---|"]
        for metric, d in train["paired"].items():
            lines.append(f"| {metric} | {d['mean']:+.3f} | {d['ci_low']:+.3f} to "
                         f"{d['ci_high']:+.3f} |")
    return "\n".join(lines)


def run(halves: Path, stash_dir: Path, work: Path, cpu: bool, train_s: float,
        preset: Callable[[], Any], budget: Budget,
        save: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    started = time.time()
    manifest = model_halves.read_manifest(halves)
    gguf = model_halves.join(manifest, [stash_dir, halves], work / manifest["name"])
    report: dict[str, Any] = {
        "mode": "cpu" if cpu else "gpu", "commit": commit(),
        "source_sha256": source_fingerprint(), "versions": versions(), "config": CONFIG,
        "budget_s": budget.total_s,
        "model": {"gguf": manifest["name"], "bytes": manifest["bytes"],
                  "sha256": manifest["sha256"], "joined_s": time.time() - started}}
    begun = time.perf_counter()
    model_dir = convert(gguf, preset(), work / "model_cache")
    report["model"].update(converted=str(model_dir), conversion_s=time.perf_counter() - begun)

    def save_train(result: dict[str, Any]) -> None:
        report["train"] = result
        report["seconds"] = time.time() - budget.started
        save(report)

    save_train({"status": "starting"})
    # What is left of the call, less a margin to write the results.
    train(model_dir, work, cpu, train_s, budget.cap(budget.left() - MARGIN_S), save_train)
    return report


def cpu_twin(work: Path, save: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Both calls at toy size: a GGUF of the tiny preset, split; half 1 stashed and removed
    from the halves' folder (as if it came with the first call); then the second call."""
    os.environ["RLFT_CACHE_DIR"] = str(work / "model_cache")
    from rlft.models import resolve_model_path
    from tiny_gguf import write_tiny_gguf

    gguf = write_tiny_gguf(Path(resolve_model_path("tiny")), work / "rlft-tiny.F32.gguf")
    halves, stash_dir = work / "halves", work / "stash"
    manifest = model_halves.split(gguf, halves)
    gguf.unlink()
    model_halves.stash(manifest, 0, [halves], stash_dir)
    (halves / manifest["parts"][0]["file"]).unlink()
    return run(halves, stash_dir, work / "call2", cpu=True, train_s=0, preset=tiny_preset,
               budget=Budget(900.0), save=save)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stage", nargs="?", choices=("stash", "run"),
                        help="stash: the first call; run: the second")
    parser.add_argument("--cpu", action="store_true", help="both calls at toy size on the CPU")
    parser.add_argument("--work", type=Path, default=None, help="default: a new temp dir")
    parser.add_argument("--train-s", type=float, default=TRAIN_S,
                        help="the training loop's time limit (run.time_limit_s)")
    args = parser.parse_args()
    if args.cpu == bool(args.stage):
        parser.error("give either a stage (stash, run) or --cpu")
    if args.stage == "stash":
        path = model_halves.stash(model_halves.read_manifest(HALVES), 0, [HALVES], STASH)
        print(f"stashed {path} ({path.stat().st_size} bytes, sha256 checked); make the second "
              "call within about 30 s")
        return 0
    work = args.work or Path(tempfile.mkdtemp(prefix="rlft-real-model-"))
    work.mkdir(parents=True, exist_ok=True)
    results = work / "gpu_real_model.json" if args.cpu else RESULTS
    # Into the device tool's $OUT as well, as the run goes: a call cut short keeps it.
    out = Path(os.environ["OUT"]) if os.environ.get("OUT") and not args.cpu else None

    def save(report: dict[str, Any]) -> None:
        results.parent.mkdir(parents=True, exist_ok=True)
        results.write_text(json.dumps(report, indent=2) + "\n")
        if out is not None:
            shutil.copy(results, out)
            log = work / "train.log"
            if log.is_file():
                shutil.copy(log, out)

    if args.cpu:
        report = cpu_twin(work, save)
    else:
        report = run(HALVES, STASH, work, cpu=False, train_s=args.train_s,
                     preset=smollm2_preset, budget=Budget(CALL_BUDGET_S), save=save)
    print(table(report))
    if report["train"]["status"] != "passed":
        log = work / "train.log" if not args.cpu else work / "call2" / "train.log"
        if log.is_file():
            print("\n".join(log.read_text(errors="replace").splitlines()[-30:]))
    print(f"\nwritten: {results}")
    return 0 if report["train"]["status"] == "passed" else 1


if __name__ == "__main__":
    sys.exit(main())
