"""The evaluation harness and the `rlft eval` / `rlft report` commands."""

import json

import numpy as np
import pytest

from rlft.cli import main
from rlft.evaluation import EvalConfig, run_evaluation


def read_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_ucb_run_directory(tmp_path):
    out = tmp_path / "ucb"
    metrics = run_evaluation(EvalConfig(agent="ucb", episodes=16, seeds=2, arms=5, horizon=20,
                                        out=str(out)), show_progress=False)
    for name in ("config.json", "metrics.json", "trajectories.jsonl", "regret.png",
                 "coverage.png"):
        assert (out / name).is_file(), name
    saved = json.loads((out / "metrics.json").read_text())
    for key in ("final_regret", "final_regret_ci95", "coverage_final", "invalid_rate"):
        assert saved[key] == metrics[key]
    assert saved["num_episodes"] == 32
    assert saved["coverage_final"] == 1.0  # UCB tries every arm
    lines = read_lines(out / "trajectories.jsonl")
    assert len(lines) == 2 * 16 * 20
    last = [line["regret"] for line in lines if line["step"] == 19]
    assert np.mean(last) == pytest.approx(saved["final_regret"], rel=1e-5)


def test_same_instances_for_every_agent(tmp_path):
    """Two agents evaluated with the same seeds face the same arm means: the first-step
    regret of a fixed arm choice is a function of the instance only."""
    runs = {}
    for agent in ("random", "ucb"):
        out = tmp_path / agent
        run_evaluation(EvalConfig(agent=agent, episodes=8, seeds=1, arms=5, horizon=5,
                                  out=str(out)), show_progress=False)
        runs[agent] = read_lines(out / "trajectories.jsonl")
    # Regret increments identify (instance, arm): equal actions give equal increments.
    same = [(a["regret"], b["regret"]) for a, b in zip(runs["random"], runs["ucb"])
            if a["step"] == 0 and a["action"] == b["action"]]
    assert same, "no row chose the same first arm; pick other seeds"
    for regret_a, regret_b in same:
        assert regret_a == pytest.approx(regret_b)


def test_heldout_instances_differ_from_seeded(tmp_path):
    seeded = run_evaluation(EvalConfig(agent="random", episodes=8, seeds=1, arms=5, horizon=5,
                                       out=str(tmp_path / "a")), show_progress=False)
    heldout = run_evaluation(EvalConfig(agent="random", episodes=8, seeds=1, arms=5, horizon=5,
                                        instances="heldout", out=str(tmp_path / "b")),
                             show_progress=False)
    assert seeded["final_regret"] != heldout["final_regret"]


def test_tic_tac_toe_minimax_never_loses(tmp_path):
    metrics = run_evaluation(EvalConfig(agent="minimax", env="tictactoe", episodes=32, seeds=2,
                                        opponent="random", out=str(tmp_path / "ttt")),
                             show_progress=False)
    assert metrics["loss_rate"] == 0.0
    assert metrics["win_rate"] + metrics["draw_rate"] == pytest.approx(1.0)
    assert (tmp_path / "ttt" / "outcomes.png").is_file()


def test_llm_agent_eval_with_tiny_model(tmp_path, tiny_model, monkeypatch):
    import rlft.models

    monkeypatch.setattr(rlft.models, "load_model_and_tokenizer",
                        lambda name, **kwargs: tiny_model)
    out = tmp_path / "llm"
    metrics = run_evaluation(EvalConfig(agent="llm", model="tiny", episodes=4, seeds=1, arms=5,
                                        horizon=3, max_new_tokens=8, out=str(out)),
                             show_progress=False)
    lines = read_lines(out / "trajectories.jsonl")
    assert len(lines) == 12
    assert {"prompt", "generation", "status", "parsed_action"} <= set(lines[0])
    invalid = np.mean([line["invalid"] for line in lines])
    assert metrics["invalid_rate"] == pytest.approx(invalid)
    assert metrics["generated_tokens"] > 0


def test_cli_eval_loads_the_llm_in_the_dtype_and_on_the_device_asked(tmp_path, tiny_model,
                                                                      monkeypatch, capsys):
    # A bf16 GPU run's evaluation is reproduced in bf16 on the GPU, not in fp32 on the CPU.
    import rlft.models

    asked: dict = {}
    monkeypatch.setattr(rlft.models, "load_model_and_tokenizer",
                        lambda name, **kwargs: (asked.update(kwargs), tiny_model)[1])
    assert main(["eval", "--agent", "llm", "--model", "tiny", "--dtype", "bfloat16",
                 "--device", "cpu", "--episodes", "2", "--seeds", "1", "--horizon", "1",
                 "--max-new-tokens", "4", "--out", str(tmp_path / "bf16"), "--quiet"]) == 0
    assert asked == {"dtype": "bfloat16", "device": "cpu"}
    assert main(["eval", "--agent", "llm", "--dtype", "float16", "--out",
                 str(tmp_path / "x"), "--quiet"]) == 2
    assert "dtype must be one of" in capsys.readouterr().err


def test_cli_eval_and_report(tmp_path, capsys):
    for agent in ("random", "thompson"):
        assert main(["eval", "--agent", agent, "--episodes", "8", "--seeds", "1", "--arms", "5",
                     "--horizon", "10", "--out", str(tmp_path / agent), "--quiet"]) == 0
    assert main(["report", str(tmp_path / "random"), str(tmp_path / "thompson"),
                 "--out", str(tmp_path / "report")]) == 0
    report = (tmp_path / "report" / "report.md").read_text()
    assert "random [random]" in report and "thompson [thompson]" in report
    assert (tmp_path / "report" / "regret.png").is_file()


def test_cli_errors_name_the_problem(tmp_path, capsys):
    assert main(["eval", "--agent", "nope", "--out", str(tmp_path / "x"), "--quiet"]) == 2
    assert "unknown agent 'nope'" in capsys.readouterr().err
    assert main(["eval", "--env", "chess", "--out", str(tmp_path / "y"), "--quiet"]) == 2
    assert "env must be one of" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "no metrics.json" in capsys.readouterr().err


@pytest.mark.slow
def test_smollm2_eval_runs_end_to_end(tmp_path):
    """The real pretrained preset through the whole harness (converted into the default cache
    on first use: about half a minute on a fresh machine)."""
    out = tmp_path / "smollm2"
    metrics = run_evaluation(EvalConfig(agent="llm", model="smollm2-135m", episodes=2, seeds=1,
                                        arms=5, horizon=2, max_new_tokens=24, out=str(out)),
                             show_progress=False)
    lines = read_lines(out / "trajectories.jsonl")
    assert len(lines) == 4
    assert all(line["generation"].strip() for line in lines)  # a pretrained model says something
    # The share of steps whose answer was invalid, step by step as the trajectories record it.
    assert metrics["invalid_rate"] == sum(line["invalid"] for line in lines) / len(lines)


def test_heldout_seeds_play_distinct_instances():
    from rlft.evaluation.runner import build_env

    config = EvalConfig(agent="random", episodes=8, seeds=3, arms=5, horizon=5,
                        instances="heldout", out="unused")
    ids = [build_env(config, seed)[1]["task_ids"] for seed in range(3)]
    assert all(len(i) == 8 for i in ids)
    assert len(set(np.concatenate(ids).tolist())) == 24
