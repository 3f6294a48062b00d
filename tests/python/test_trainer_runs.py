"""End-to-end runs of the trainer as users launch it: `python python/rlft/train.py` (one rank)
and `deepspeed --num_gpus 2 python/rlft/train.py` (two CPU ranks over gloo)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rank_checks import assert_ranks_agreed

REPO = Path(__file__).resolve().parents[2]
TRAIN = str(REPO / "python" / "rlft" / "train.py")
# Small enough for CI: 4 env slots x 3 steps, 6-token answers.
TINY = ["rollout.num_envs=4", "env.horizon=3", "rollout.max_new_tokens=6",
        "optim.batch_size=4", "optim.micro_batch_size=2", "warm_start.steps=0",
        "eval.episodes=4", "eval.seeds=1", "run.progress=false", "optim.warmup_steps=1",
        "eval.analyses=[]"]


def _env(threads: int = 2) -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1", DS_ACCELERATOR="cpu",
               OMP_NUM_THREADS=str(threads), PYTHONUNBUFFERED="1")
    env.pop("RANK", None)
    env.pop("WORLD_SIZE", None)
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _train(args, timeout=600, deepspeed_ranks=0, env=None):
    if deepspeed_ranks:
        command = ["deepspeed", "--num_gpus", str(deepspeed_ranks), "--master_port",
                   str(_free_port()), TRAIN, *args]
    else:
        command = [sys.executable, TRAIN, *args]
    result = subprocess.run(command, cwd=REPO, env=env or _env(1 if deepspeed_ranks else 2),
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result


def _metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_single_rank_run_writes_everything(tmp_path):
    out = tmp_path / "run"
    result = _train([*TINY, "run.iterations=2", f"run.out_dir={out}",
                     "eval.analyses=[greediness,knowing_doing,frequency_bias]",
                     "eval.analysis_episodes=2",
                     "algo.group_size=2"])
    assert "| start policy |" in result.stdout and "| final policy |" in result.stdout
    metrics = _metrics(out)
    assert [m["iteration"] for m in metrics] == [0, 1]
    for key in ("rollout/invalid_rate", "rollout/shaped_reward", "env/regret", "policy/kl",
                "policy/clipfrac", "policy/entropy", "perf/generate_tokens_per_s",
                "perf/rollout_s", "perf/update_s", "optim/lr", "rollout/coverage"):
        assert key in metrics[0], key
    assert metrics[0]["rollout/transitions"] == 12
    # The sampler and the trainer's first pass give the same log-probs of the same tokens.
    for row in metrics:
        gap_mean, gap_max = (row[f"rollout/sampler_logprob_gap_{s}"] for s in ("mean", "max"))
        assert 0 <= gap_mean <= gap_max < 1e-4
    results = json.loads((out / "results.json").read_text())
    assert set(results["policies"]) == {"start policy", "final policy", "random", "greedy",
                                        "ucb"}
    # Every policy's regret and coverage curves, and the analyses of the start and final
    # policies, linked from results.md.
    report = (out / "results.md").read_text()
    for figure in ("regret.png", "coverage.png", "analysis/start/greediness/coverage_by_step.png",
                   "analysis/final/greediness/coverage_by_step.png",
                   "analysis/final/knowing_doing/matrix.png",
                   "analysis/start/frequency_bias/fractions.png"):
        assert (out / figure).stat().st_size > 0 and f"({figure})" in report, figure
    for label in ("start", "final"):
        analysis = results["analyses"][label]
        assert len(analysis["greediness"]["coverage_by_step"]) == 3
        # The tiny-agent writes its greedy rationale, never a <ucb_values> block.
        assert analysis["knowing_doing"]["values_parsed_rate"] == 0.0
        # 5 histories x 5 targets x repetitions 0 and 10, read from sampled CoT answers
        assert analysis["frequency_bias"]["buckets"]["0-10"]["contexts"] == 50
        assert analysis["frequency_bias"]["scoring"] == "sampled"
    assert set(results["paired"]) == {"final_regret", "coverage_final", "shaped_return"}
    assert results["eval"]["episodes"] == 4 and results["eval"]["instances"] == "heldout"
    for policy in results["policies"].values():
        assert len(policy["per_instance"]["final_regret"]) == 4
    assert "Final policy minus starting policy, paired per instance" in result.stdout
    assert (out / "samples.jsonl").is_file() and (out / "tensorboard").is_dir()
    assert (out / "checkpoints" / "latest").read_text() == "iter_000002"
    # The export carries its evaluation: `rlft eval --model` with no other flag reproduces the
    # run's final-policy row exactly (same instances, prompt, sampling and seeds).
    from rlft.cli import main

    again = tmp_path / "eval"
    assert main(["eval", "--agent", "llm", "--model", str(out / "model"), "--out", str(again),
                 "--quiet"]) == 0
    metrics = json.loads((again / "metrics.json").read_text())
    final = results["policies"]["final policy"]
    for key in ("per_instance", "final_regret", "coverage_final", "shaped_return",
                "invalid_rate", "num_episodes"):
        assert metrics[key] == final[key], key
    # Flags still override, and say so.
    assert main(["eval", "--agent", "llm", "--model", str(out / "model"), "--horizon", "2",
                 "--seeds", "1", "--out", str(tmp_path / "eval2"), "--quiet"]) == 0
    assert json.loads((tmp_path / "eval2" / "config.json").read_text())["horizon"] == 2


def test_bad_config_fails_before_work(tmp_path):
    result = subprocess.run([sys.executable, TRAIN, "optim.batch_size=12",
                             f"run.out_dir={tmp_path / 'x'}"], cwd=REPO, env=_env(),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "optim.batch_size (12) must be a multiple" in result.stderr
    assert not (tmp_path / "x").exists()
    missing = subprocess.run([sys.executable, TRAIN, "model.name=/no/such/model",
                              f"run.out_dir={tmp_path / 'y'}"], cwd=REPO, env=_env(),
                             capture_output=True, text=True, timeout=300)
    assert missing.returncode == 2 and "model.name" in missing.stderr


def test_dropout_is_off_so_the_first_ratio_is_exactly_one(tmp_path, tiny_model):
    # A model with attention dropout 0.1: the old log-probs (rollout) and the first update's
    # (training mode) must agree, so the first optimizer step sees pi / pi_old = 1 on every
    # token. One optimizer step per rollout here, so the logged mean covers only that step.
    model, tokenizer = tiny_model
    model_dir = tmp_path / "dropout_model"
    model.config.attention_dropout = 0.1
    try:
        model.save_pretrained(model_dir)
    finally:
        model.config.attention_dropout = 0.0
    tokenizer.save_pretrained(model_dir)
    out = tmp_path / "run"
    _train([*TINY, "run.iterations=1", f"model.name={model_dir}", "algo.update_epochs=1",
            "optim.batch_size=12",
            "optim.micro_batch_size=12", "eval.at_start=false", "eval.baselines=[]",
            "run.export=false", f"run.out_dir={out}"])
    first = _metrics(out)[0]
    assert first["optim/updates"] == 1.0
    assert first["policy/approx_kl_old"] < 1e-12 and first["policy/clipfrac"] == 0.0, first


def _skewed_clock_env(tmp_path: Path, rank: int, factor: float) -> dict:
    """An env whose Python processes of rank `rank` see time.perf_counter run `factor` times
    faster (a sitecustomize module on PYTHONPATH), so that only that rank's time limit fires."""
    hook = tmp_path / "clock_hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import os, time\n"
        f"if os.environ.get('RANK') == '{rank}':\n"
        "    _real = time.perf_counter\n"
        "    _zero = _real()\n"
        f"    time.perf_counter = lambda: _zero + (_real() - _zero) * {factor}\n")
    env = _env(1)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(hook), env.get("PYTHONPATH")]))
    return env


def test_time_limit_on_one_rank_stops_every_rank_together(tmp_path):
    # Rank 1's clock runs 1000x fast: its time limit fires after the first iteration, rank 0's
    # would not. Both must stop there and write one consistent checkpoint, which resumes.
    out = tmp_path / "limited"
    args = [*TINY, "run.iterations=3", "eval.at_start=false", "eval.baselines=[]",
            "run.export=false", f"run.out_dir={out}"]
    _train([*args, "run.time_limit_s=60"], deepspeed_ranks=2, timeout=300,
           env=_skewed_clock_env(tmp_path, rank=1, factor=1000.0))
    assert [m["iteration"] for m in _metrics(out)] == [0]
    assert (out / "checkpoints" / "latest").read_text() == "iter_000001"
    resumed = _train(args, deepspeed_ranks=2, timeout=300)
    assert "resumed from" in resumed.stdout
    assert [m["iteration"] for m in _metrics(out)] == [0, 1, 2]


def test_contextual_bandit_run(tmp_path):
    out = tmp_path / "cb"
    result = _train(["--config", "configs/cb_cpu.yaml", *TINY, "run.iterations=1",
                     "eval.baselines=[random,linucb]", f"run.out_dir={out}"])
    metrics = _metrics(out)
    assert metrics[0]["rollout/transitions"] == 12 and "env/regret" in metrics[0]
    results = json.loads((out / "results.json").read_text())
    assert set(results["policies"]) == {"start policy", "final policy", "random", "linucb"}
    assert set(results["paired"]) == {"final_regret", "shaped_return"}
    sample = json.loads((out / "samples.jsonl").read_text().splitlines()[0])
    assert "This person is a" in sample["prompt"]  # the MovieLens user description
    assert "| linucb |" in result.stdout


def test_two_cpu_ranks_with_deepspeed_launcher(tmp_path):
    # With LoRA: each rank draws its adapters' initial weights, and under ZeRO-2 DeepSpeed's
    # start-up broadcast would hide a difference from the policy but not from the reference.
    out = tmp_path / "ds"
    result = _train([*TINY, "run.iterations=1", "engine.zero_stage=2", "eval.at_start=false",
                     "model.lora=true", "model.lora_rank=4",
                     "eval.baselines=[]", "run.export=false", f"run.out_dir={out}"],
                    deepspeed_ranks=2)
    metrics = _metrics(out)
    assert len(metrics) == 1 and metrics[0]["optim/updates"] >= 1
    assert_ranks_agreed(result.stdout, int(metrics[0]["optim/updates"]), zero_stage=2)
    # Metrics cover both ranks' rollouts: 2 ranks x 4 env slots x 3 steps.
    assert metrics[0]["rollout/transitions"] == 24


@pytest.mark.parametrize("stage", ["2", "3", "3-lockstep"])
def test_two_ranks_agree_on_the_reference_the_reward_scale_and_the_evaluation(
        stage, tmp_path, tiny_model):
    sys.path.insert(0, str(REPO / "tests" / "python" / "scripts"))
    from ranks_agree import OVERRIDES, transitions

    import numpy as np

    from rlft.models import load_model_and_tokenizer
    from rlft.trainer.config import load_config
    from rlft.trainer.evaluate import evaluate_baseline, evaluate_policy
    from rlft.trainer.rewards import RewardScaler
    from rlft.trainer.rollout import step_grid

    env = _env(1)
    env["RLFT_CACHE_DIR"] = os.environ.get("RLFT_CACHE_DIR", "") or str(tmp_path / "cache")
    command = ["deepspeed", "--num_gpus", "2", "--master_port", str(_free_port()),
               str(REPO / "tests" / "python" / "scripts" / "ranks_agree.py"),
               "--out", str(tmp_path), "--stage", stage[0],
               *(["--lockstep"] if stage.endswith("lockstep") else [])]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-5000:]
    ranks = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    # The warm start ended differently on each rank, yet each reference is the policy.
    assert [r["kl_max"] for r in ranks] == [0.0, 0.0]
    # One reward scale from both ranks' rewards, on both (so rank 0's checkpoint resumes it).
    _, tokenizer = tiny_model
    steps = [transitions(tokenizer, rank) for rank in (0, 1)]
    grids = [step_grid(s, [t.env_reward for t in s], 2) for s in steps]
    expected = RewardScaler(1.0)
    expected.scale(np.concatenate(grids), np.ones((4, 2), dtype=bool))
    assert ranks[0]["scaler"] == ranks[1]["scaler"] == expected.state_dict()
    # Each seed played once, on one rank (in lock-step rank 1 also repeats seed 2 and drops
    # it); every rank has the table one process gives.
    repeat = [2] if stage.endswith("lockstep") else []
    assert ranks[0]["played"] == [0, 2, 0, 2] and ranks[1]["played"] == [1, *repeat, 1]
    config = load_config(None, OVERRIDES)
    model, tokenizer = load_model_and_tokenizer(str(tmp_path / "warm_start"))
    alone = evaluate_policy(config, model, tokenizer)["per_instance"]
    ucb = evaluate_baseline(config, "ucb")["per_instance"]
    for rank in ranks:
        assert rank["policy"] == alone and rank["ucb"] == ucb


def test_zero3_tictactoe_two_ranks_stay_in_step(tmp_path):
    # Each rank plays its own games, so their rollouts differ in length; under ZeRO-3 every
    # forward gathers shards from both ranks, and a rank that stopped early hung the other
    # (seen before the fix).
    out = tmp_path / "ttt"
    result = _train(["--config", "configs/tictactoe_cpu.yaml", "engine.zero_stage=3",
            "engine.threads=1", "rollout.num_envs=5", "optim.batch_size=4",
            "optim.micro_batch_size=2", "warm_start.steps=40", "warm_start.batch_size=16",
            "run.iterations=2",
            "eval.episodes=4", "eval.at_start=false", "eval.baselines=[]", "run.export=false",
            "run.progress=false", f"run.out_dir={out}"],
           timeout=300, deepspeed_ranks=2)
    metrics = _metrics(out)
    assert len(metrics) == 2 and all(m["optim/updates"] >= 1 for m in metrics)
    # Each rank ran its own warm start: the same one, or the sharded model would be a mix.
    assert_ranks_agreed(result.stdout, int(sum(m["optim/updates"] for m in metrics)), 3)


def test_zero3_first_loss_matches_unsharded_model(tmp_path, tiny_model):
    """ZeRO-3 must start from the loaded weights, not a silent re-init."""
    sys.path.insert(0, str(REPO / "tests" / "python" / "scripts"))
    from zero_first_loss import fixed_batch, mean_nll

    from rlft.trainer.policy import PolicyWithValue

    model, tokenizer = tiny_model
    import torch

    with torch.no_grad():
        expected = float(mean_nll(PolicyWithValue(model, False),
                                  fixed_batch(tokenizer, torch.device("cpu"))))
    out = tmp_path / "loss.json"
    env = _env(1)
    env["RLFT_CACHE_DIR"] = os.environ.get("RLFT_CACHE_DIR", "") or str(tmp_path / "cache")
    command = ["deepspeed", "--num_gpus", "2", "--master_port", str(_free_port()),
               str(REPO / "tests" / "python" / "scripts" / "zero_first_loss.py"),
               "--stage", "3", "--out", str(out)]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-5000:]
    sharded = json.loads(out.read_text())
    assert sharded["world_size"] == 2
    assert sharded["loss"] == pytest.approx(expected, rel=1e-5)
    assert 3.0 < expected < 9.0  # a random-init model over a 1024-token vocabulary: ~ln(1024)


def test_zero3_lockstep_rollouts_with_epsilon_finish(tmp_path):
    # Epsilon-greedy leaves each rank a different number of rows for the model, hence of
    # generate() chunks; in lock-step (every token gathering the shards) a rank that made fewer
    # calls left the other waiting for ever (seen before the fix: killed at the timeout).
    out = tmp_path / "eps"
    _train([*TINY, "rollout.num_envs=6", "algo.group_size=2", "rollout.generation_batch_size=2",
            "algo.epsilon=0.5",
            "engine.zero_stage=3", "engine.zero3_gather_for_generation=false",
            "engine.threads=1", "run.iterations=1", "eval.at_start=false", "eval.baselines=[]",
            "run.export=false", f"run.out_dir={out}"], timeout=300, deepspeed_ranks=2)
    metrics = _metrics(out)
    assert len(metrics) == 1 and metrics[0]["rollout/transitions"] == 2 * 18  # both ranks


def test_zero3_gathered_generation_matches_lockstep_and_unsharded(tmp_path, tiny_model):
    """Greedy answers under ZeRO-3 on 2 ranks: the same with the weights gathered once as with
    every token gathering the shards, and the same as the unsharded model's."""
    sys.path.insert(0, str(REPO / "tests" / "python" / "scripts"))
    from zero3_generation import SAMPLING, rank_prompts

    from rlft.agents.generation import generate

    model, tokenizer = tiny_model
    env = _env(1)
    env["RLFT_CACHE_DIR"] = os.environ.get("RLFT_CACHE_DIR", "") or str(tmp_path / "cache")
    command = ["deepspeed", "--num_gpus", "2", "--master_port", str(_free_port()),
               str(REPO / "tests" / "python" / "scripts" / "zero3_generation.py"),
               "--out", str(tmp_path)]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-5000:]
    for rank in (0, 1):
        got = json.loads((tmp_path / f"rank{rank}.json").read_text())
        _, prompts = rank_prompts(tokenizer, rank)
        expected = generate(model, tokenizer, prompts, SAMPLING).token_ids
        assert got["lockstep"] == got["gathered"] == expected
        assert got["again"] == expected[:1]


def _checkpoint_counting_env(tmp_path: Path) -> dict:
    """An env whose processes count torch.utils.checkpoint.checkpoint calls (a sitecustomize
    module on PYTHONPATH, loaded before transformers binds the function) and write the count
    to RLFT_CHECKPOINT_CALLS at exit."""
    hook = tmp_path / "checkpoint_hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import atexit, os, torch.utils.checkpoint as ckpt\n"
        "_calls = [0]\n"
        "_real = ckpt.checkpoint\n"
        "def _counted(*args, **kwargs):\n"
        "    _calls[0] += 1\n"
        "    return _real(*args, **kwargs)\n"
        "ckpt.checkpoint = _counted\n"
        "atexit.register(lambda: open(os.environ['RLFT_CHECKPOINT_CALLS'], 'w')"
        ".write(str(_calls[0])))\n")
    env = _env()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(hook), env.get("PYTHONPATH")]))
    return env


def _comparable(metrics: list[dict]) -> list[dict]:
    """Everything but the timings and the sampler-trainer log-prob gap, which measures the
    rounding of two computations (of the order of 1e-7 on the CPU) and so moves with the
    thread count."""
    return [{k: v for k, v in m.items()
             if not k.startswith(("perf/", "rollout/sampler_logprob_gap"))} for m in metrics]


def test_gradient_checkpointing_run(tmp_path):
    """With checkpointing the layers do recompute (checkpoint() is called), and an iteration
    logs what it logs without it: the same losses after each of its optimizer steps, hence
    the same gradients."""
    env = _checkpoint_counting_env(tmp_path)
    runs = {}
    for flag in ("true", "false"):
        out = tmp_path / flag
        env["RLFT_CHECKPOINT_CALLS"] = str(tmp_path / f"calls_{flag}")
        _train([*TINY, "run.iterations=1", f"engine.gradient_checkpointing={flag}",
                "eval.at_start=false", "eval.baselines=[]", "run.export=false",
                "eval.episodes=1", f"run.out_dir={out}"], env=env)
        runs[flag] = int((tmp_path / f"calls_{flag}").read_text())
        assert _metrics(out)[0]["optim/updates"] >= 1
    assert runs["false"] == 0 and runs["true"] > 0, runs
    assert _comparable(_metrics(tmp_path / "true")) == _comparable(_metrics(tmp_path / "false"))


def test_thread_count_changes_nothing(tmp_path):
    """The determinism promise (docs/results.md): same commit, machine kind and config give
    the same run whatever the thread count; two iterations, so that the second rollout samples
    from weights the first update computed."""
    runs = []
    for threads in (1, 2):
        out = tmp_path / f"threads{threads}"
        _train([*TINY, "run.iterations=2", f"engine.threads={threads}", "eval.at_start=false",
                "eval.baselines=[]", "run.export=false", "rollout.max_new_tokens=24",
                f"run.out_dir={out}"], env=_env(threads))
        runs.append((_comparable(_metrics(out)),
                     json.loads((out / "results.json").read_text())["policies"]))
    assert runs[0] == runs[1]
    assert runs[0][0][0]["rollout/invalid_rate"] < 1  # valid answers: rewards that differ


@pytest.mark.slow
def test_killed_run_resumes_with_identical_metrics(tmp_path):
    # Killed after iteration 1 and resumed, the run must log what a straight run logs. With a
    # warm start: the resumed run must rebuild its reference policy from the warm-started
    # weights, not from the model's initial ones (policy/kl would differ). A large learning
    # rate, so that an optimizer or LR-schedule state restored wrong would show too.
    args = [*TINY, "run.iterations=4", "run.checkpoint_every=1", "eval.at_start=false",
            "eval.baselines=[]", "run.export=false", "warm_start.steps=30",
            "warm_start.lr=0.003", "optim.lr=0.003", "optim.min_lr=0.003"]
    straight = tmp_path / "straight"
    _train([*args, f"run.out_dir={straight}"])
    killed = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, TRAIN, *args, f"run.out_dir={killed}"],
                               cwd=REPO, env=_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    latest = killed / "checkpoints" / "latest"
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if latest.is_file() and latest.read_text() == "iter_000001":
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    resumed = _train([*args, f"run.out_dir={killed}"])
    assert "resumed from" in resumed.stdout
    assert _comparable(_metrics(killed)) == _comparable(_metrics(straight))
    assert (killed / "warm_start" / "config.json").is_file()


@pytest.mark.slow
def test_rl_signal_invalid_rate_halves(tmp_path):
    """From a random-init tiny model with a short format-only warm start, PPO with the -5
    penalty must cut the held-out invalid-action rate to under half its starting value."""
    out = tmp_path / "signal"
    # The random-init model and its format warm start, without CoT (the default starts from
    # the pretrained tiny-agent, whose answers are already valid).
    _train(["model.name=tiny", "prompt.cot=false", "prompt.reward_decimals=2",
            "rollout.max_new_tokens=8", "warm_start.steps=30", "optim.warmup_steps=5",
            "rollout.num_envs=32", "env.horizon=5", "run.iterations=8", "eval.episodes=32",
            "eval.seeds=1", "eval.baselines=[]", "eval.analyses=[]", "run.export=false",
            "run.progress=false", "algo.update_epochs=2", "optim.batch_size=32",
            "optim.micro_batch_size=32",
            f"run.out_dir={out}"], timeout=900)
    results = json.loads((out / "results.json").read_text())
    start, final = results["policies"]["start policy"], results["policies"]["final policy"]
    assert start["invalid_rate"] > 0.3, "the warm start left too little to learn"
    assert final["invalid_rate"] < 0.5 * start["invalid_rate"], (start, final)
    assert results["paired"]["shaped_return"]["ci_low"] > 0, results["paired"]


def test_lora_run_exports_a_merged_model(tmp_path):
    """Only the adapted projections move, each by a rank-4 product; every other weight leaves
    the run as it came (a full fine-tune moves the MLPs and norms too)."""
    import torch
    from transformers import AutoModelForCausalLM

    from rlft.models import load_model_and_tokenizer

    out = tmp_path / "lora"
    _train([*TINY, "run.iterations=1", "model.lora=true", "model.lora_rank=4",
            "model.lora_target_modules=[q_proj,v_proj]", "optim.lr=0.01",
            "eval.at_start=false", "eval.baselines=[]", f"run.out_dir={out}"])
    assert _metrics(out)[0]["optim/updates"] >= 1
    config = json.loads((out / "model" / "config.json").read_text())
    assert config["model_type"] == "llama"
    assert not (out / "model" / "adapter_config.json").exists()  # merged, plain HF weights
    start = load_model_and_tokenizer("tiny-agent")[0].state_dict()
    final = AutoModelForCausalLM.from_pretrained(out / "model").state_dict()
    assert final.keys() == start.keys()
    moved = {name for name in start if not torch.equal(start[name], final[name])}
    assert moved == {name for name in start if name.endswith(("q_proj.weight", "v_proj.weight"))}
    for name in moved:
        singular = torch.linalg.svdvals((final[name] - start[name]).double())
        assert singular[4:].max() < 1e-3 * singular[0], name  # fp32 rounding of W + BA only
