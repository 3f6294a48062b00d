"""The SFT trainer: loss on target tokens only, data order and splits, config checks, and
end-to-end runs (`python train.py --config configs/sft_bc.yaml`) whose export starts RLFT and
is evaluated by the harness."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from rlft.sft import encode_examples, make_dataset
from rlft.text.prompts import PromptConfig
from rlft.trainer.config import ConfigError, load_config
from rlft.trainer.policy import PolicyWithValue, collate
from rlft.trainer.sft_loop import (load_sft_records, split_by_episode, step_indices,
                                   target_nll)
from rank_checks import assert_ranks_agreed
from sft_helpers import data_config

REPO = Path(__file__).resolve().parents[2]
TRAIN = str(REPO / "python" / "rlft" / "train.py")
SUMMARY_ONLY = dict(history_window=0, summary=True)


def _records(**options) -> list[dict]:
    from rlft.sft.generate import generate_examples

    return [r for _, r in generate_examples(data_config(**options))]


# ----------------------------------------------------------------------------- the loss

def test_loss_is_the_mean_nll_of_target_tokens_only(tiny_model):
    model, tokenizer = tiny_model
    records = _records(kind="ucb", target="tc", cot=True, horizon=6, episodes=2, num_envs=2,
                       **SUMMARY_ONLY)[3:7]
    prompts, answers = encode_examples(records, tokenizer, max_prompt_tokens=4096)
    assert all(a[-1] == tokenizer.eos_token_id for a in answers)
    assert all(tokenizer.decode(p).endswith("<|im_start|>assistant\n") for p in prompts)
    policy = PolicyWithValue(model, value_head=False).eval()
    with torch.no_grad():
        loss = float(target_nll(policy, collate(prompts, answers, tokenizer.pad_token_id,
                                                torch.device("cpu"))))
        # by hand, one unpadded sequence at a time: -log p of each target token
        target_terms, prompt_terms = [], []
        for prompt, answer in zip(prompts, answers):
            ids = torch.tensor([prompt + answer])
            logp = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), -1)
            token_logp = logp.gather(-1, ids[0, 1:, None])[:, 0]
            target_terms.append(-token_logp[len(prompt) - 1:])
            prompt_terms.append(-token_logp[:len(prompt) - 1])
    by_hand = float(torch.cat(target_terms).mean())
    assert loss == pytest.approx(by_hand, rel=1e-4)
    with_prompt = float(torch.cat(target_terms + prompt_terms).mean())
    assert abs(with_prompt - by_hand) > 1e-2  # the check above would see prompt tokens


def test_no_gradient_reaches_prompt_token_predictions(tiny_model):
    """Perturbing what the model predicts at prompt positions cannot change the loss: the
    gradient with respect to those logits is zero, and non-zero at target positions."""
    model, tokenizer = tiny_model
    records = _records(kind="ucb", target="bc", horizon=4, episodes=1, num_envs=2)[:2]
    prompts, answers = encode_examples(records, tokenizer, max_prompt_tokens=4096)
    batch = collate(prompts, answers, tokenizer.pad_token_id, torch.device("cpu"))
    captured = {}

    class Spy(torch.nn.Module):
        """Logits of every position of each whole row (prefix + own tokens), of which the
        answer-predicting ones are returned, as the policy's forward returns them."""

        def forward(self, prefix_ids, input_ids, attention_mask, logit_columns, value_columns):
            rows, prefix = input_ids.shape[0], prefix_ids.shape[1]
            whole = torch.cat([prefix_ids.expand(rows, -1), input_ids], dim=1)
            mask = torch.cat([attention_mask.new_ones(rows, prefix), attention_mask], dim=1)
            logits = model(input_ids=whole, attention_mask=mask).logits
            captured["logits"] = logits.detach().requires_grad_(True)
            index = (prefix + logit_columns)[..., None].expand(-1, -1, logits.shape[-1])
            return torch.gather(captured["logits"], 1, index), None

    target_nll(Spy(), batch).backward()
    grad = captured["logits"].grad.abs().sum(-1)           # [N, K + W]
    prefix = batch.prefix_ids.shape[1]
    predicting = torch.zeros_like(grad, dtype=torch.bool)
    for row in range(grad.shape[0]):
        columns = prefix + batch.logit_columns[row][batch.answer_mask[row].bool()]
        predicting[row, columns] = True
    first = [int(prefix + batch.logit_columns[row, 0]) for row in range(grad.shape[0])]
    assert all(torch.all(grad[row, :start] == 0) for row, start in enumerate(first))
    assert torch.all(grad[predicting] > 0) and torch.all(grad[~predicting] == 0)


# ----------------------------------------------------------------------------- data order

def test_validation_split_holds_out_whole_episodes():
    records = _records(kind="ucb", horizon=5, episodes=20, num_envs=5)
    train, val = split_by_episode(records, 0.2, seed=0)
    assert len(val) == 4 * 5 and len(train) + len(val) == len(records)
    episodes = lambda rs: {r["episode"] for r in rs}  # noqa: E731
    assert not episodes(train) & episodes(val)
    assert split_by_episode(records, 0.2, seed=0) == (train, val)
    assert split_by_episode(records, 0.0, seed=0) == (records, [])


def test_step_indices_cover_each_epoch_and_resume_exactly():
    seen = np.concatenate([step_indices(10, 4, step, seed=3) for step in range(5)])
    assert sorted(seen[:10]) == list(range(10)) and sorted(seen[10:20]) == list(range(10))
    assert np.array_equal(step_indices(10, 4, 3, seed=3), seen[12:16])
    assert not np.array_equal(step_indices(10, 4, 0, seed=4), seen[:4])


# ----------------------------------------------------------------------------- config

def test_sft_mode_needs_a_matching_dataset(tmp_path):
    with pytest.raises(ConfigError, match="sft.dataset must name"):
        load_config(None, ["run.mode=sft"])
    with pytest.raises(ConfigError, match="run.mode"):
        load_config(None, ["run.mode=bc"])
    data = tmp_path / "bc"
    make_dataset(data_config(kind="ucb", horizon=3, episodes=2, num_envs=2, out=str(data),
                            **SUMMARY_ONLY))
    base = ["run.mode=sft", f"sft.dataset={data}", "prompt.history_window=0",
            "prompt.summary=true", "prompt.cot=false"]
    load_sft_records(load_config(None, base))
    with pytest.raises(ConfigError, match="prompt.cot is True here but False in sft.dataset"):
        load_sft_records(load_config(None, base + ["prompt.cot=true"]))
    with pytest.raises(ConfigError, match="env.name"):
        load_sft_records(load_config(None, base[:2] + ["env.name=tictactoe", "prompt.cot=false",
                                                       "algo.advantage=gae"]))
    with pytest.raises(ConfigError, match="sft.dataset: .*manifest.json does not exist"):
        load_sft_records(load_config(None, ["run.mode=sft", f"sft.dataset={tmp_path}"]))


# ----------------------------------------------------------------------------- runs

def _env() -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1", DS_ACCELERATOR="cpu", OMP_NUM_THREADS="1",
               PYTHONUNBUFFERED="1")
    env.pop("RANK", None)
    env.pop("WORLD_SIZE", None)
    return env


def _run(args: list[str], launcher: list[str] | None = None) -> subprocess.CompletedProcess:
    command = (launcher or [sys.executable]) + [TRAIN, *args]
    result = subprocess.run(command, cwd=REPO, env=_env(), capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result


# Shared by the SFT and the RLFT run so that their held-out evaluations are the same.
EVAL = ["env.num_arms=5", "env.horizon=4", "env.noise=medium", "env.eval_pool_size=6",
        "eval.episodes=6", "eval.seeds=1", "eval.temperature=1.0", "rollout.max_new_tokens=6",
        "run.progress=false", "engine.threads=1", "model.tiny_layers=2", "model.tiny_hidden=128",
        "eval.analyses=[]"]


@pytest.fixture(scope="module")
def sft_run(tmp_path_factory):
    """A tiny BC run from configs/sft_bc.yaml on a small UCB dataset."""
    base = tmp_path_factory.mktemp("sft")
    data = base / "data"
    make_dataset(data_config(kind="ucb", target="bc", horizon=4, episodes=24, num_envs=8,
                            out=str(data), style="compact", **SUMMARY_ONLY))
    out = base / "run"
    result = _run(["--config", str(REPO / "configs" / "sft_bc.yaml"), f"sft.dataset={data}",
                   f"run.out_dir={out}", "sft.steps=30", "sft.log_every=5",
                   "sft.val_fraction=0.1", "optim.batch_size=16", "optim.micro_batch_size=8",
                   "optim.lr=0.003", "optim.warmup_steps=2", "run.checkpoint_every=0", *EVAL,
                   "eval.analyses=[greediness]", "eval.analysis_episodes=2"])
    return out, result


def test_tiny_sft_run_lowers_the_loss_and_writes_everything(sft_run):
    out, result = sft_run
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [4, 9, 14, 19, 24, 29]
    assert rows[-1]["sft/loss"] < 0.5 * rows[0]["sft/loss"]
    assert rows[-1]["sft/val_loss"] < 0.5 * rows[0]["sft/val_loss"]
    results = json.loads((out / "results.json").read_text())["policies"]
    assert set(results) == {"start policy", "final policy", "random", "greedy", "ucb"}
    assert results["final policy"]["invalid_rate"] < results["start policy"]["invalid_rate"]
    assert "| final policy |" in result.stdout
    assert (out / "checkpoints" / "latest").read_text() == "iter_000030"
    assert (out / "training.png").is_file() and (out / "dataset_manifest.json").is_file()
    # The analyses of the model SFT started from and of its export, linked from results.md.
    report = (out / "results.md").read_text()
    for label in ("start", "final"):
        figure = f"analysis/{label}/greediness/coverage_by_step.png"
        assert (out / figure).is_file() and f"({figure})" in report, figure


def test_rlft_starts_from_the_sft_export(sft_run, tmp_path):
    """The export is RLFT's starting policy and reference: RLFT's start-of-run evaluation
    (same held-out instances and sampling seeds) reproduces the SFT run's final one."""
    sft_out, _ = sft_run
    rl_out = tmp_path / "rl"
    _run([f"model.name={sft_out / 'model'}", f"run.out_dir={rl_out}", "run.iterations=1",
          "rollout.num_envs=4", "optim.batch_size=4", "optim.micro_batch_size=2",
          "warm_start.steps=0", "prompt.cot=false", "prompt.history_window=0",
          "prompt.summary=true", "prompt.style=compact", "prompt.reward_decimals=2",
          "eval.baselines=[]", "run.export=false", "optim.warmup_steps=1", *EVAL])
    sft_final = json.loads((sft_out / "results.json").read_text())["policies"]["final policy"]
    rl_start = json.loads((rl_out / "results.json").read_text())["policies"]["start policy"]
    assert rl_start == sft_final


def test_harness_evaluates_the_sft_export(sft_run, tmp_path):
    from rlft.evaluation import EvalConfig, run_evaluation

    sft_out, _ = sft_run
    metrics = run_evaluation(EvalConfig(agent="llm", model=str(sft_out / "model"), episodes=4,
                                        seeds=1, arms=5, horizon=3, max_new_tokens=6,
                                        prompt=PromptConfig(style="compact", cot=False,
                                                            history_window=0, summary=True),
                                        out=str(tmp_path / "eval")),
                             show_progress=False)
    assert 0.0 <= metrics["invalid_rate"] < 1.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_sft_on_two_ranks_with_the_deepspeed_launcher(tmp_path):
    data = tmp_path / "data"
    make_dataset(data_config(kind="minimax", env="tictactoe", episodes=16, num_envs=8,
                            out=str(data)))
    out = tmp_path / "ttt"
    result = _run(["--config", str(REPO / "configs" / "sft_tictactoe.yaml"),
                   f"sft.dataset={data}",
                   f"run.out_dir={out}", "sft.steps=3", "sft.log_every=1",
                   "optim.batch_size=8", "optim.micro_batch_size=2", "engine.zero_stage=2",
                   "eval.at_start=false", "eval.episodes=4", "eval.baselines=[]",
                   "run.export=false", "run.progress=false", "model.tiny_layers=2",
                   "model.tiny_hidden=128"],
                  launcher=["deepspeed", "--num_gpus", "2", "--master_port", str(_free_port())])
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [0, 1, 2]
    assert_ranks_agreed(result.stdout, 3, zero_stage=2)
