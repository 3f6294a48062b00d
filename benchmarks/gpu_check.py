"""The GPU check: one prepared run on a machine with one CUDA GPU (scripts/gpu_check.sh), or
its CPU twin at toy sizes (--cpu), which CI runs so that the check cannot rot.

(a) the pytest tests marked `gpu`;
(b) throughput of rlft's rollout and PPO update for three random-init model shapes
    (benchmarks/gpu_throughput.py, one process per shape on the GPU), with the update's model
    FLOP rate against the GPU's bf16 dense peak and against a matrix product timed here;
(c) a short end-to-end `deepspeed python/rlft/train.py` run of the embedded default config.

Every part runs under its own time cap and the whole under --budget-s (counted from
$RLFT_CHECK_STARTED, which the shell script sets before it installs anything). A part that
fails or runs out of time is recorded as such and the others still run; the exit status is 1
if any part did not pass. Results: benchmarks/results/gpu.json on the GPU; with --cpu a
temporary folder (never benchmarks/results).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "gpu.json"
sys.path.insert(0, str(ROOT / "benchmarks"))
from gpu_throughput import SHAPES  # noqa: E402

# NVIDIA's H100/H200 SXM datasheet: 1,979 TFLOP/s bf16 tensor-core with 2:4 sparsity, so
# about 989 TFLOP/s dense. The same run also times a large bf16 matrix product (below).
H200_BF16_DENSE_PEAK = 989e12
# Seconds per part on one H200 (caps, not expectations); the whole check stays under 8 min.
GPU_CAPS = {"tests": 120, "tiny": 40, "smollm2-135m-shape": 60, "gemma2-2b-shape": 110,
            "train": 90}
CPU_CAPS = {"tests": 180, "shapes": 240, "train": 240}
# (c) at toy size on the CPU: 4 env slots x 3 steps, 6-token answers, 4 held-out instances.
CPU_TRAIN = ["rollout.num_envs=4", "env.horizon=3", "rollout.max_new_tokens=6",
             "rollout.generation_batch_size=4", "optim.batch_size=4",
             "optim.micro_batch_size=2", "optim.warmup_steps=1", "warm_start.steps=2",
             "eval.episodes=4", "eval.seeds=1", "run.iterations=1"]
GPU_TRAIN = ["run.iterations=3", "engine.zero_stage=1"]  # bf16: fp32 gradient accumulation


class Budget:
    def __init__(self, total_s: float) -> None:
        self.started = float(os.environ.get("RLFT_CHECK_STARTED", time.time()))
        self.total_s = total_s

    def left(self) -> float:
        return self.total_s - (time.time() - self.started)

    def cap(self, part_s: float) -> float:
        return max(0.0, min(part_s, self.left()))


def run_capped(command: list[str], cap_s: float, log: Path, env: dict[str, str],
               tick: Callable[[], None] | None = None, every_s: float = 15.0
               ) -> dict[str, Any]:
    """Runs `command` (its own process group, so a launcher's children die with it) for at
    most cap_s seconds, output to `log`; tick() every every_s seconds meanwhile (to save what
    has been measured so far)."""
    if cap_s <= 0:
        return {"status": "skipped", "reason": "the check's time budget was spent"}
    started = time.perf_counter()
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        code: int | None = None
        while True:
            left = cap_s - (time.perf_counter() - started)
            try:
                code = process.wait(timeout=max(0.0, min(every_s, left)))
                break
            except subprocess.TimeoutExpired:
                if left <= every_s:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
                    break
                if tick is not None:
                    tick()
    seconds = time.perf_counter() - started
    if code is None:
        return {"status": "timed out", "cap_s": cap_s, "seconds": seconds, "log": log.name}
    return {"status": "passed" if code == 0 else "failed", "returncode": code,
            "seconds": seconds, "log": log.name}


def _tail(log: Path, lines: int = 25) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.is_file() \
        else ""


# ----------------------------------------------------------------------------- (a) tests

def junit_summary(path: Path) -> dict[str, Any]:
    """Counts and the non-passing tests (with their messages) of a pytest JUnit XML file."""
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    problems: list[dict[str, str]] = []
    skip_reasons: set[str] = set()
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        outcome = next((child for child in case if child.tag in ("failure", "error",
                                                                 "skipped")), None)
        if outcome is None:
            counts["passed"] += 1
        elif outcome.tag == "skipped":
            counts["skipped"] += 1
            skip_reasons.add(outcome.get("message") or "")
        else:
            counts["failed"] += 1
            problems.append({"test": name, "message": (outcome.get("message") or "")[:800]})
    return {**counts, "problems": problems, "skip_reasons": sorted(skip_reasons)}


def gpu_test_files() -> list[str]:
    """The test files that hold gpu-marked tests: those naming the marker or the conftest's
    torch_device fixture. Only these are collected: other files import packages that the
    GPU machine lacks (pyspiel, for one)."""
    return [str(path.relative_to(ROOT)) for path in sorted((ROOT / "tests" / "python")
                                                           .glob("test_*.py"))
            if "mark.gpu" in (text := path.read_text()) or "torch_device" in text]


def run_tests(work: Path, cap_s: float, env: dict[str, str], cpu: bool) -> dict[str, Any]:
    junit = work / "pytest_gpu.xml"
    files = gpu_test_files()
    result = run_capped([sys.executable, "-m", "pytest", "-m", "gpu", *files, "-q", "-rs",
                         "-p", "no:cacheprovider", f"--junitxml={junit}"],
                        cap_s, work / "pytest_gpu.log", env)
    result["files"] = files
    if junit.is_file():
        result.update(junit_summary(junit))
    # On the GPU every gpu-marked test must run; on the CPU each must be skipped.
    ran = result.get("skipped" if cpu else "passed", 0)
    if result["status"] == "passed" and not ran:
        result["status"] = "failed"
        result["problems"] = [{"test": "-", "message": "no gpu-marked test " +
                               ("was collected" if cpu else "ran on the GPU")}]
    return result


# ----------------------------------------------------------------------------- (b) throughput

def matmul_rate(cpu: bool) -> dict[str, Any]:
    """The rate of one large matrix product on random data, timed with device events: the
    ceiling the update's rate is read against (bf16 on the GPU; fp32 at a small size on the
    CPU, where bf16 is not used)."""
    import torch

    device = torch.device("cpu" if cpu else "cuda")
    dtype, size, repeats = (torch.float32, 512, 5) if cpu else (torch.bfloat16, 8192, 20)
    a, b = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))
    for _ in range(2):
        a @ b
    if cpu:
        started = time.perf_counter()
        for _ in range(repeats):
            a @ b
        seconds = (time.perf_counter() - started) / repeats
    else:
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        begin.record()
        for _ in range(repeats):
            a @ b
        end.record()
        torch.cuda.synchronize()
        seconds = begin.elapsed_time(end) / 1e3 / repeats
    del a, b
    if not cpu:
        torch.cuda.empty_cache()  # the shapes' processes need the memory, not this one
    return {"dtype": str(dtype).removeprefix("torch."), "size": size,
            "flops_per_s": 2 * size**3 / seconds}


def run_throughput(work: Path, cpu: bool, budget: Budget, env: dict[str, str]
                   ) -> dict[str, Any]:
    script = str(ROOT / "benchmarks" / "gpu_throughput.py")
    out = work / "shapes"
    groups = [list(SHAPES)] if cpu else [[shape] for shape in SHAPES]
    runs: dict[str, Any] = {}
    for group in groups:
        name = "shapes" if cpu else group[0]
        cap = budget.cap((CPU_CAPS if cpu else GPU_CAPS)[name])
        command = [sys.executable, script, "--out", str(out)] + \
            [arg for shape in group for arg in ("--shape", shape)] + (["--toy"] if cpu else [])
        runs[name] = run_capped(command, cap, work / f"throughput_{name}.log", env)
    shapes: dict[str, Any] = {}
    for shape in SHAPES:
        file = out / f"{shape}.json"
        measured = json.loads(file.read_text()) if file.is_file() else {"phases_done": []}
        run = runs["shapes" if cpu else shape]
        complete = measured["phases_done"] == ["build", "rollout", "bare_generate", "update"]
        if run["status"] != "passed":
            measured["status"] = run["status"]
        else:  # exit status 0 but a phase missing would be a bug in the script
            measured["status"] = "passed" if complete else "failed"
        measured["run"] = run
        shapes[shape] = measured
    return shapes


def add_peak_fractions(shapes: dict[str, Any], ceiling: dict[str, Any],
                       device_name: str) -> None:
    peak = H200_BF16_DENSE_PEAK if "H200" in device_name or "H100" in device_name else None
    for measured in shapes.values():
        rate = measured.get("update_flops_per_s")
        if rate is None:
            continue
        measured["update_fraction_of_measured_matmul"] = rate / ceiling["flops_per_s"]
        measured["update_fraction_of_bf16_dense_peak"] = rate / peak if peak else None


# ----------------------------------------------------------------------------- (c) train.py

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def check_run_directory(out: Path, iterations: int) -> list[str]:
    """What is wrong with a finished run directory (empty when nothing is)."""
    import math

    problems = []
    metrics_file = out / "metrics.jsonl"
    rows = [json.loads(line) for line in metrics_file.read_text().splitlines()] \
        if metrics_file.is_file() else []
    if [row.get("iteration") for row in rows] != list(range(iterations)):
        problems.append(f"metrics.jsonl iterations {[r.get('iteration') for r in rows]}, "
                        f"expected 0..{iterations - 1}")
    bad = sorted({key for row in rows for key, value in row.items()
                  if isinstance(value, float) and not math.isfinite(value)})
    if bad:
        problems.append(f"non-finite metrics: {bad}")
    results = out / "results.json"
    if not results.is_file() or "final policy" not in json.loads(results.read_text())["policies"]:
        problems.append("results.json lacks the final policy's evaluation")
    if not (out / "model" / "config.json").is_file():
        problems.append("no exported model in model/")
    return problems


def run_train(work: Path, cpu: bool, cap_s: float, env: dict[str, str]) -> dict[str, Any]:
    out = work / "train_run"
    overrides = CPU_TRAIN if cpu else GPU_TRAIN
    iterations = int(next(o for o in overrides if o.startswith("run.iterations=")).split("=")[1])
    command = [sys.executable, "-m", "deepspeed.launcher.runner", "--num_gpus", "1",
               "--master_port", str(_free_port()), "python/rlft/train.py", *overrides,
               f"run.out_dir={out}", "run.progress=false"]
    result = run_capped(command, cap_s, work / "train.log", env)
    result["command"] = " ".join(command[2:]).replace(sys.executable, "python")
    if result["status"] == "passed":
        result["problems"] = check_run_directory(out, iterations)
        result["status"] = "failed" if result["problems"] else "passed"
        last = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
        result["last_iteration"] = {k: last[k] for k in (
            "rollout/invalid_rate", "perf/generate_tokens_per_s", "perf/update_tokens_per_s",
            "perf/rollout_s", "perf/update_s") if k in last}
    return result


# ----------------------------------------------------------------------------- report

def source_fingerprint() -> str:
    """sha256 over the files that decide what the check runs: comparable with a checkout's
    (`python benchmarks/gpu_check.py --fingerprint`) where the GPU machine has no git."""
    digest = hashlib.sha256()
    patterns = ("python/rlft/**/*.py", "configs/**/*", "benchmarks/*.py", "tests/python/**/*.py",
                "scripts/*.sh", "cpp/**/*", "bindings/*")
    files = sorted({p for pattern in patterns for p in ROOT.glob(pattern) if p.is_file()
                    and "__pycache__" not in p.parts})
    for path in files:
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def commit() -> dict[str, Any]:
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain"], cwd=ROOT,
                                    capture_output=True, text=True).stdout.strip())
        return {"commit": head, "dirty": dirty}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": os.environ.get("RLFT_COMMIT", "unknown"), "dirty": None}


def versions() -> dict[str, Any]:
    import importlib.metadata as metadata

    import torch

    out: dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__,
                           "cuda": torch.version.cuda}
    for name in ("transformers", "deepspeed", "peft", "accelerate"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _fmt(value: Any, scale: float = 1.0, digits: int = 0) -> str:
    return "-" if value is None else f"{value / scale:,.{digits}f}"


def table(report: dict[str, Any]) -> str:
    lines = [f"GPU check ({report['mode']}, {report['device_name']}), commit "
             f"{report['commit']['commit'][:12]}, {report['seconds']:.0f} s",
             "", "| part | status | detail |", "|---|---|---|"]
    tests = report["tests"]
    lines.append(f"| gpu-marked tests | {tests['status']} | {tests.get('passed', 0)} passed, "
                 f"{tests.get('failed', 0)} failed, {tests.get('skipped', 0)} skipped |")
    for problem in tests.get("problems", []):
        lines.append(f"| | | FAILED {problem['test']} |")
    train = report["train"]
    lines.append(f"| deepspeed train.py | {train['status']} | "
                 f"{_fmt(train.get('seconds'))} s {'; '.join(train.get('problems', []))} |")
    ceiling = report["matmul"]
    lines += ["", f"Matrix product timed here: {ceiling['dtype']} {ceiling['size']}^3 at "
              f"{ceiling['flops_per_s'] / 1e12:.1f} TFLOP/s; bf16 dense peak used: "
              f"{_fmt(report['bf16_dense_peak_flops'], 1e12)} TFLOP/s (datasheet).", "",
              "| shape | params (M) | status | rollout new tok/s (rlft) | bare generate new "
              "tok/s | rlft / bare | update tok/s | update TFLOP/s | of bf16 peak | of "
              "matmul | peak GiB |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for shape, m in report["throughput"].items():
        lines.append(
            f"| {shape} | {_fmt(m.get('parameters'), 1e6, 1)} | {m['status']} | "
            f"{_fmt(m.get('rollout_tokens_per_s'))} | {_fmt(m.get('bare_tokens_per_s'))} | "
            f"{_fmt(m.get('rollout_vs_bare'), digits=2)} | "
            f"{_fmt(m.get('update_tokens_per_s'))} | "
            f"{_fmt(m.get('update_flops_per_s'), 1e12, 1)} | "
            f"{_fmt(m.get('update_fraction_of_bf16_dense_peak'), digits=3)} | "
            f"{_fmt(m.get('update_fraction_of_measured_matmul'), digits=3)} | "
            f"{_fmt(m.get('peak_memory_gib'), digits=1)} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu", action="store_true",
                        help="the same steps at toy sizes on the CPU (what CI runs)")
    parser.add_argument("--work", type=Path, default=None,
                        help="folder for logs and run directories (default: a new temp dir)")
    parser.add_argument("--budget-s", type=float, default=None,
                        help="the whole check's time budget (default 470 on the GPU, 900 "
                             "with --cpu)")
    parser.add_argument("--fingerprint", action="store_true",
                        help="print the source fingerprint that gpu.json records and exit")
    args = parser.parse_args()
    if args.fingerprint:
        print(source_fingerprint())
        return 0
    import torch

    if not args.cpu and not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; use --cpu for the CPU twin", file=sys.stderr)
        return 2
    budget = Budget(args.budget_s or (900.0 if args.cpu else 470.0))
    work = args.work or Path(tempfile.mkdtemp(prefix="rlft-gpu-check-"))
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1",
               DS_ACCELERATOR="cpu" if args.cpu else "cuda",
               RLFT_CACHE_DIR=str(work / "model_cache"))
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    if args.cpu:
        env["OMP_NUM_THREADS"] = env.get("OMP_NUM_THREADS", "2")
    device_name = "cpu" if args.cpu else torch.cuda.get_device_name(0)
    caps = CPU_CAPS if args.cpu else GPU_CAPS

    report: dict[str, Any] = {
        "mode": "cpu" if args.cpu else "gpu", "device_name": device_name,
        "commit": commit(), "source_sha256": source_fingerprint(), "versions": versions(),
        "budget_s": budget.total_s, "caps_s": caps,
        "bf16_dense_peak_flops": None if args.cpu else H200_BF16_DENSE_PEAK,
        "bf16_dense_peak_source": "NVIDIA H100/H200 SXM datasheet: 1,979 TFLOP/s bf16 with "
                                  "2:4 sparsity, half of it dense"}
    results = work / "gpu.json" if args.cpu else RESULTS
    # Rewritten after every part (into the device tool's $OUT too, where set), so that a call
    # stopped from outside still returns what was measured.
    copies = [results] + ([Path(os.environ["OUT"]) / "gpu.json"]
                          if os.environ.get("OUT") and not args.cpu else [])

    def save() -> None:
        report["seconds"] = time.time() - budget.started
        for path in copies:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(report, indent=2) + "\n")
        if os.environ.get("OUT") and not args.cpu:  # the logs so far, for a call cut short
            for log in [*work.glob("*.log"), *work.glob("*.xml")]:
                shutil.copy(log, os.environ["OUT"])

    report["work"] = str(work)
    report["tests"] = run_tests(work, budget.cap(caps["tests"]), env, args.cpu)
    save()
    report["matmul"] = matmul_rate(args.cpu)
    report["throughput"] = run_throughput(work, args.cpu, budget, env)
    add_peak_fractions(report["throughput"], report["matmul"], device_name)
    save()
    report["train"] = run_train(work, args.cpu, budget.cap(caps["train"]), env)
    save()
    print(table(report))
    for part in (report["tests"], report["train"], *report["throughput"].values()):
        run = part.get("run", part)
        if part["status"] != "passed" and run.get("log"):
            print(f"\n--- {run['log']} (last lines)\n{_tail(work / run['log'])}")
    print(f"\nwritten: {results}")
    statuses = [report["tests"]["status"], report["train"]["status"],
                *(m["status"] for m in report["throughput"].values())]
    return 0 if all(status == "passed" for status in statuses) else 1


if __name__ == "__main__":
    sys.exit(main())
