"""Every script in benchmarks/ runs at toy size (``--smoke``), writing into a temporary
directory, so that none can rot between the runs by hand that write benchmarks/results/."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import rlft

REPO = Path(__file__).resolve().parents[2]
BENCHMARKS = REPO / "benchmarks"
# Imported by the others, or launched by trainer.py: covered by those runs.
HELPERS = {"provenance.py", "zero_rss.py"}


def _run(script: str, *args: str, timeout: int = 1200) -> subprocess.CompletedProcess:
    # The scripts import the rlft these tests import (installed, or a source tree).
    rlft_parent = str(Path(rlft.__file__).resolve().parents[1])
    env = dict(os.environ, HF_HUB_OFFLINE="1", DS_ACCELERATOR="cpu",
               PYTHONPATH=os.pathsep.join(filter(None, [rlft_parent,
                                                        os.environ.get("PYTHONPATH", "")])))
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    result = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], cwd=REPO,
                            env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result


# Run by tests/python/test_gpu_scripts.py (the GPU check's CPU twins and their pieces).
GPU_SCRIPTS = {"gpu_check.py", "gpu_real_model.py", "gpu_throughput.py", "model_halves.py",
               "tiny_gguf.py"}


def test_every_benchmark_script_has_a_smoke_test():
    """Each script is named by a test in this directory that runs it (every _run here passes
    --smoke): found in the test files, not listed by hand, so deleting a smoke test fails
    this one."""
    tests = "\n".join(path.read_text() for path in Path(__file__).parent.glob("test_*.py"))
    untested = [p.name for p in sorted(BENCHMARKS.glob("*.py"))
                if p.name not in HELPERS | GPU_SCRIPTS and f'"{p.name}"' not in tests]
    assert not untested, f"benchmark scripts without a smoke test: {untested}"


@pytest.mark.parametrize("script", ["bench_bandits.py", "bench_tic_tac_toe.py"])
def test_env_benchmarks_smoke(script):
    assert "rlft" in _run(script, "--smoke").stdout


def test_envs_and_parser_smoke(tmp_path):
    _run("envs.py", "--smoke", "--out", str(tmp_path / "envs.json"))
    assert "mab_vs_numpy_b64" in json.loads((tmp_path / "envs.json").read_text())
    _run("parser.py", "--smoke", "--out", str(tmp_path / "parser.json"))
    assert json.loads((tmp_path / "parser.json").read_text())["num_texts"] == 100


def test_gguf_quantisation_smoke(tmp_path):
    out = tmp_path / "gguf.json"
    _run("gguf_quantisation.py", "--smoke", "--out", str(out))
    smollm2 = json.loads(out.read_text())["smollm2-135m"]
    assert sum(smollm2["type_share"].values()) == pytest.approx(1.0)
    assert smollm2["fp32_bytes"] == 4 * smollm2["parameters"]
    assert smollm2["role_type_share"]["token_embd"] == {"Q8_0": 1.0}


def test_seeds_smoke():
    result = _run("seeds.py", "--smoke")
    assert "| 0 |" in result.stdout and "wrote" in result.stdout


def test_exploit_probe_smoke():
    result = _run("exploit_probe.py", "--smoke", timeout=300)
    path = Path(result.stdout.strip().splitlines()[-1].removeprefix("wrote "))
    assert REPO / "benchmarks" / "results" not in path.parents
    report = json.loads(path.read_text())
    assert report["commit"] and report["models"] == {"tiny": "tiny"}
    result = report["results"]["tiny"]
    table = result["by_tried_arms"]
    assert sum(row["states"] for row in table.values()) == report["states"] == 64
    assert len(table) >= 2  # the states are shuffled: not only the first steps
    # A random-init model writes no valid answer, so it names no best arm.
    assert result["invalid_share"] == 1.0 and result["two_or_more"]["correct"] == 0
    for tried, row in table.items():
        assert row["chance"] == 1 / int(tried) and row["accuracy"] == 0.0


def test_tiny_agent_benchmark_smoke():
    result = _run("tiny_agent.py", "--smoke", timeout=300)
    path = Path(result.stdout.strip().splitlines()[-1].removeprefix("wrote "))
    report = json.loads(path.read_text())
    assert report["commit"] and set(report["envs"]) == {"mab", "tictactoe", "contextual_bandit"}
    assert set(report["envs"]["mab"]) >= {"agent", "random", "greedy", "ucb",
                                          "agent_minus_greedy"}
    # The random-init smoke model fails the bar it is checked against.
    assert not report["checks"]["mab_invalid_at_most_0.02"]


def test_analyses_smoke(tmp_path):
    out = tmp_path / "analysis_tiny.json"
    _run("analyses.py", "--smoke", "--out", str(out), timeout=300)
    results = json.loads(out.read_text())
    assert results["model"] == "tiny" and results["commit"]
    assert results["sizes"]["arms"] == [10, 20]
    for part in ("frequency_bias", "greediness_prefix", "greediness_cot", "knowing_doing"):
        assert results["cost"][part]["wall_s"] > 0, part
    assert set(results["greediness_prefix"]) == {"K10_no_cot_prefix", "K20_no_cot_prefix"}
    for name, entry in results["greediness_prefix"].items():
        assert len(entry["coverage_model_by_step"]) == results["sizes"]["prefix_horizon"], name
    # Shares of the scored contexts: whole counts of them, the three classes partitioning them.
    bias = results["frequency_bias"]
    assert bias["F_f"] + bias["F_g"] + bias["F_o"] == pytest.approx(1.0)
    for share in ("F_f", "F_g", "F_o"):
        count = bias[share] * bias["contexts"]
        assert count == pytest.approx(round(count)), share
    assert "values_parsed_rate" in results["knowing_doing"]
    # The random-init model writes nothing readable: each part says so.
    assert any("knowing-doing" in line for line in results["cannot"])
    assert (tmp_path / "runs" / "greediness_cot" / "generations.jsonl").is_file()
    with pytest.raises(AssertionError):
        _run("analyses.py", "--smoke", "--out",
             str(REPO / "benchmarks" / "results" / "analysis_x.json"), timeout=120)


def test_trainer_benchmark_smoke(tmp_path):
    out = tmp_path / "trainer.json"
    _run("trainer.py", "--smoke", "--out", str(out), timeout=900)
    results = json.loads(out.read_text())
    for key in ("rollout_overhead_frac", "update_vs_bare", "zero_rss",
                "iteration_speedup_cpu_default", "smollm2_rollout_vs_hf_generate",
                "update_fraction_of_peak", "smollm2_work_ratio_bound", "commit"):
        assert key in results, key
    for name in ("cpu_default", "full_prompt"):
        old, new = (results[f"iteration_{name}_{p}"] for p in ("old_path", "prefix_path"))
        # Same rollouts (seeds, weights), fewer token positions on the prefix path.
        assert old["transitions"] == new["transitions"]
        for phase in ("rollout", "logprobs", "update"):  # each path really ran
            assert new["positions_per_transition"][phase] < old["positions_per_transition"][phase]
        # No path computes less than each unique token once per pass.
        assert 1 < results[f"iteration_work_ratio_{name}"] \
            <= results[f"iteration_work_ratio_bound_{name}"]
    with pytest.raises(AssertionError):
        _run("trainer.py", "--smoke", "--out", str(REPO / "benchmarks" / "results" / "x.json"),
             timeout=120)


def test_tictactoe_opponents_smoke():
    result = _run("tictactoe_opponents.py", "--smoke")
    for row in ("| random | start policy |", "| mcts | final policy |", "| mcts | minimax |",
                "| mcts | final - start (paired) |"):
        assert row in result.stdout, row


def test_paper_report_smoke():
    """The report from the committed results files: the paper's numbers beside rlft's, read
    from the file it names with that file's commit."""
    report = _run("paper.py", "--smoke").stdout
    default = json.loads((BENCHMARKS / "results" / "default_seeds.json").read_text())
    diff = default["rows"][0]["paired"]["final_regret"]
    assert (f"| 0 | {default['rows'][0]['start policy']['final_regret']:.2f} ± "
            f"{default['rows'][0]['start policy']['final_regret_ci95']:.2f} |") in report
    assert f"{diff['mean']:+.2f} [{diff['ci_low']:+.2f}, {diff['ci_high']:+.2f}]" in report
    assert f"default_seeds.json` (commit {default['commit'][:7]})" in report
    assert "0.15 before RLFT and 0.75 after" in report


def test_cb_signal_smoke():
    """The reward table's facts: random's regret per step is above the train-best movie's on
    the train users (that movie is best there on average), and both are positive."""
    report = json.loads(_run("cb_signal.py", "--smoke").stdout)
    train = report["splits"]["train"]
    assert 0 < train["regret_per_step_train_best_movie"] <= train["regret_per_step_random"]
    assert report["splits"]["eval"]["users"] > 0
