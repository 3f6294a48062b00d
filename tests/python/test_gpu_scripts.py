"""The prepared GPU scripts, kept from rotting on CPU-only CI: their CPU twins run the same
steps at toy sizes (scripts/gpu_check.sh --cpu, scripts/gpu_real_model.sh --cpu), the model
shapes of the throughput table have the published models' parameter counts, and a file split
into halves joins back only when every byte matches."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import CUDA_REASON

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))


def _script(name: str, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
                        "RLFT_CACHE_DIR")}
    env.update(OMP_NUM_THREADS="2", DS_ACCELERATOR="cpu")
    result = subprocess.run(["bash", str(REPO / "scripts" / name), *args], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result


def _digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def test_gpu_check_cpu_twin_runs_every_part(tmp_path):
    committed = REPO / "benchmarks" / "results" / "gpu.json"
    before = _digest(committed)
    result = _script("gpu_check.sh", "--cpu", "--work", str(tmp_path))
    report = json.loads((tmp_path / "gpu.json").read_text())
    assert _digest(committed) == before  # the CPU twin never writes the GPU's results
    assert report["mode"] == "cpu" and report["source_sha256"]
    tests = report["tests"]
    assert tests["status"] == "passed" and tests["failed"] == 0
    assert tests["skipped"] >= 6 and tests["skip_reasons"] == [CUDA_REASON]
    assert "tests/python/test_gpu.py" in tests["files"]
    assert set(report["throughput"]) == {"tiny", "smollm2-135m-shape", "gemma2-2b-shape"}
    for shape, measured in report["throughput"].items():
        assert measured["status"] == "passed", (shape, measured)
        assert measured["rollout_new_tokens"] == measured["bare_new_tokens"] == 4 * 2 * 8
        for key in ("rollout_tokens_per_s", "bare_tokens_per_s", "update_tokens_per_s",
                    "update_flops_per_s", "update_fraction_of_measured_matmul"):
            assert measured[key] > 0, (shape, key)
        assert measured["optimizer_steps"] == 2  # 8 transitions, batches of 4
    assert report["train"]["status"] == "passed" and report["train"]["problems"] == []
    assert "| gemma2-2b-shape |" in result.stdout


def test_gpu_real_model_cpu_twin_joins_converts_and_compares(tmp_path):
    committed = REPO / "benchmarks" / "results" / "gpu_real_model.json"
    before = _digest(committed)
    _script("gpu_real_model.sh", "--cpu", "--work", str(tmp_path))
    report = json.loads((tmp_path / "gpu_real_model.json").read_text())
    assert _digest(committed) == before
    manifest = json.loads((tmp_path / "halves" / "manifest.json").read_text())
    assert report["model"]["sha256"] == manifest["sha256"]
    assert not (tmp_path / "halves" / manifest["parts"][0]["file"]).exists()  # came stashed
    train = report["train"]
    assert train["status"] == "passed" and train["iterations"] == 1
    for policy in (train["start"], train["final"]):
        # A random-init model writes no 'ACTION=<label>' in 8 tokens: every step is invalid.
        assert policy["invalid_rate"] == 1.0 and policy["num_episodes"] == 2
    assert set(train["paired"]) == {"final_regret", "coverage_final", "shaped_return"}
    assert set(train["baselines"]) == {"random", "greedy", "ucb"}


def test_model_shapes_have_the_published_parameter_counts(tiny_model):
    import torch
    from transformers import AutoModelForCausalLM

    from gpu_throughput import model_config

    _, tokenizer = tiny_model
    counts = {}
    for shape in ("smollm2-135m-shape", "gemma2-2b-shape"):
        with torch.device("meta"):  # shapes only, no memory
            model = AutoModelForCausalLM.from_config(model_config(shape, False, tokenizer))
        counts[shape] = sum(p.numel() for p in model.parameters())
    # SmolLM2-135M-Instruct converted here has 134,515,008; Gemma2-2B has 2,614,341,888.
    assert counts == {"smollm2-135m-shape": 134_515_008, "gemma2-2b-shape": 2_614_341_888}


def test_halves_join_back_only_when_every_byte_matches(tmp_path):
    import model_halves

    original = tmp_path / "model.gguf"
    original.write_bytes(os.urandom(1001))
    manifest = model_halves.split(original, tmp_path / "halves")
    assert [p["bytes"] for p in manifest["parts"]] == [500, 501]
    stashed = model_halves.stash(manifest, 0, [tmp_path / "halves"], tmp_path / "stash")
    joined = model_halves.join(manifest, [tmp_path / "stash", tmp_path / "halves"],
                               tmp_path / "joined.gguf")
    assert joined.read_bytes() == original.read_bytes()
    second = tmp_path / "halves" / manifest["parts"][1]["file"]
    data = bytearray(second.read_bytes())
    data[-1] ^= 1
    second.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="sha256 differs"):
        model_halves.join(manifest, [tmp_path / "halves"], tmp_path / "bad.gguf")
    stashed.unlink()
    (tmp_path / "halves" / manifest["parts"][0]["file"]).unlink()
    with pytest.raises(FileNotFoundError, match="half 1"):
        model_halves.join(manifest, [tmp_path / "stash", tmp_path / "halves"],
                          tmp_path / "none.gguf")


def test_a_run_cut_short_keeps_what_it_measured(tmp_path):
    # A device call that ends at its time limit must still return the iterations and the
    # start evaluation done so far (it returned nothing before).
    from gpu_check import run_capped
    from gpu_real_model import read_run, table

    ticks: list[float] = []
    result = run_capped(["sleep", "5"], 1.0, tmp_path / "sleep.log", dict(os.environ),
                        tick=lambda: ticks.append(1.0), every_s=0.3)
    assert result["status"] == "timed out" and len(ticks) >= 2
    run = tmp_path / "run"
    run.mkdir()
    row = {"iteration": 0, "perf/rollout_s": 1.0, "perf/logprob_s": 0.5, "perf/update_s": 0.5,
           "rollout/invalid_rate": 0.25, "rollout/sampler_logprob_gap_max": 1e-6}
    (run / "metrics.jsonl").write_text(json.dumps(row) + "\n")
    start = {"invalid_rate": 0.5, "coverage_final": 0.4, "final_regret": 3.0,
             "final_regret_ci95": 0.5, "num_episodes": 2}
    (run / "results.json").write_text(json.dumps(
        {"policies": {"start policy": start}, "paired": {}, "eval": {}}))
    part = read_run(run)
    assert part["iterations"] == 1 and part["train_loop_s"] == 2.0
    assert part["per_iteration"][0]["rollout/sampler_logprob_gap_max"] == 1e-6
    assert part["start"]["final_regret"] == 3.0 and "final" not in part
    report = {"mode": "gpu", "model": {"gguf": "m.gguf"}, "train": {**result, **part}}
    assert "| start | 0.500 | 0.40 | 3.00 ± 0.50 |" in table(report)
