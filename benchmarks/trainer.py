"""Trainer overheads on CPU (issue 5, "Benchmark"), measured in one run:

(a) rollout: wall time of collect_rollout vs the generate() calls inside it; the rest
    (prompting, chat template, parsing, env stepping, bookkeeping) is framework overhead
    -> ``rollout_overhead_frac`` (target <= 0.10). Also reported against the bare
    ``model.generate`` calls alone (tokenising and decoding counted as overhead).
(b) update: tokens/s of loop.ppo_update (DeepSpeed engine, PPO + KL loss) over a real rollout
    vs a bare forward + backward + torch AdamW loop on a copy of the same PolicyWithValue with
    the same micro-batches (pre-collated) -> ``update_vs_bare`` (target >= 0.90).
    The two are interleaved, repeat by repeat, so that load from other processes hits both.
(c) peak RSS per rank at ZeRO 0, 2 and 3 on 2 CPU ranks for a ~115M-parameter tiny-preset
    model (benchmarks/zero_rss.py under the deepspeed launcher, OMP_NUM_THREADS=1).

Setup for (a) and (b): configs/cpu_default.yaml (tiny model, 5-arm bandits, summary prompts)
with 32 envs x 10 steps, one update epoch, no warm start.

    RLFT_CORE_DIR=build/<dir> PYTHONPATH=python python benchmarks/trainer.py [--repeats 2] [--skip-rss]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("DS_ACCELERATOR", "cpu")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "trainer.json"
STAGES = (0, 2, 3)
# cpu_default.yaml with one update epoch, no warm start, 32 envs (320 transitions per rollout).
SETUP_OVERRIDES = ("algo.update_epochs=1", "warm_start.steps=0", "rollout.num_envs=32")
DIST_VARS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
             "LOCAL_WORLD_SIZE", "CROSS_RANK", "CROSS_SIZE")


# ----------------------------------------------------------------------------- set-up

def build_trainer(overrides: list[str]) -> dict[str, Any]:
    """The objects train() builds, in the same way (1 rank)."""
    from rlft.agents.generation import SamplingConfig
    from rlft.agents.llm_agent import ExplorationConfig, LLMAgent
    from rlft.trainer.config import load_config
    from rlft.trainer.engine import Reference, build_engine, find_config_file, init_world
    from rlft.trainer.evaluate import make_env, prompt_config
    from rlft.trainer.loop import estimated_optimizer_steps, load_policy_model

    config = load_config(find_config_file("cpu_default.yaml"), overrides)
    world = init_world(config.engine.threads)
    lm, tokenizer = load_policy_model(config, world)
    reference = Reference(config, lm, world)
    engine, _ = build_engine(config, lm, world, estimated_optimizer_steps(config, world))
    reference.attach(engine)
    env = make_env(config, config.rollout.num_envs, 1234, "train")
    sampling = SamplingConfig(temperature=config.rollout.temperature, top_p=config.rollout.top_p,
                              max_new_tokens=config.rollout.max_new_tokens,
                              batch_size=config.rollout.generation_batch_size,
                              max_prompt_tokens=config.rollout.max_prompt_tokens)
    agent = LLMAgent(engine.module.lm, tokenizer, env, prompt_config(config), sampling,
                     ExplorationConfig(), config.algo.invalid_penalty, keep_transcript=True,
                     record_tokens=True)
    return {"config": config, "world": world, "engine": engine, "reference": reference,
            "env": env, "agent": agent, "pad_id": tokenizer.pad_token_id}


class GenerateTimer:
    """Wraps model.generate to add up the time of the bare Hugging Face calls."""

    def __init__(self, model: Any) -> None:
        self.seconds = 0.0
        self._inner = model.generate

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return self._inner(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        model.generate = timed


# ----------------------------------------------------------------------------- (a) rollout

def bench_rollout(setup: dict[str, Any], repeats: int) -> tuple[dict[str, Any], Any]:
    from rlft.trainer.rollout import collect_rollout

    timer = GenerateTimer(setup["engine"].module.lm)
    collect_rollout(setup["env"], setup["agent"], seed=0)  # warm-up
    totals, generates, bare = [], [], []
    rollout = None
    for repeat in range(repeats):
        before = timer.seconds
        rollout = collect_rollout(setup["env"], setup["agent"], seed=1 + repeat)
        totals.append(rollout.total_seconds)
        generates.append(rollout.generate_seconds)
        bare.append(timer.seconds - before)
    total = sum(totals)
    return {
        "rollout_overhead_frac": 1.0 - sum(generates) / total,
        "rollout_overhead_frac_vs_model_generate": 1.0 - sum(bare) / total,
        "rollout_seconds": totals, "generate_seconds": generates,
        "model_generate_seconds": bare,
        "rollout_transitions": len(rollout.transitions),
        "rollout_new_tokens": rollout.new_tokens,
    }, rollout


# ----------------------------------------------------------------------------- (b) update

def _micro_batches(setup: dict[str, Any], rollout: Any, iteration: int) -> list[list[int]]:
    """The transition indices of each micro-batch ppo_update takes in its one epoch."""
    config, world = setup["config"], setup["world"]
    micro = config.optim.micro_batch_size
    accumulation = config.optim.batch_size // (micro * world.size)
    usable = len(rollout.transitions) // (micro * accumulation) * accumulation
    order = np.random.default_rng([config.run.seed, iteration, world.rank]).permutation(
        len(rollout.transitions))
    return [order[i * micro:(i + 1) * micro].tolist() for i in range(usable)]


def bare_update(policy: Any, optimizer: Any, batches: list[Any], advantages: list[Any],
                accumulation: int) -> float:
    """Forward + backward + AdamW over pre-collated micro-batches; returns seconds."""
    import torch

    started = time.perf_counter()
    for index, (batch, advantage) in enumerate(zip(batches, advantages)):
        length = batch.answer_ids.shape[1]
        logits, _ = policy(batch.input_ids, batch.attention_mask, batch.position_ids,
                           logits_to_keep=length + 1)
        logp = torch.log_softmax(logits[:, :length].float(), dim=-1)
        logp = logp.gather(-1, batch.answer_ids.unsqueeze(-1)).squeeze(-1)
        mask = batch.answer_mask.float()
        loss = -(logp * advantage[:, None] * mask).sum() / mask.sum()
        loss.backward()
        if (index + 1) % accumulation == 0:
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - started


def bench_update(setup: dict[str, Any], rollout: Any, repeats: int) -> dict[str, Any]:
    import torch

    from rlft.trainer.loop import compute_advantages, ppo_update, rollout_logprobs
    from rlft.trainer.policy import collate
    from rlft.trainer.rewards import RunningMeanStd

    config, world, engine = setup["config"], setup["world"], setup["engine"]
    device, pad_id = world.device, setup["pad_id"]
    old, ref, old_values = rollout_logprobs(config, engine, setup["reference"], rollout, pad_id,
                                            device)
    _, advantage, returns = compute_advantages(config, rollout, RunningMeanStd(), old_values)
    bare_policy = copy.deepcopy(engine.module).train()
    optimizer = torch.optim.AdamW(bare_policy.parameters(), lr=config.optim.lr)
    accumulation = config.optim.batch_size // (config.optim.micro_batch_size * world.size)
    update_s, bare_s, tokens = [], [], 0
    for repeat in range(1 + repeats):  # the first pair warms both up and is not counted
        started = time.perf_counter()
        ppo_update(config, engine, rollout, old, ref, advantage, returns, old_values, pad_id,
                   device, repeat, world)
        update_seconds = time.perf_counter() - started
        picks = _micro_batches(setup, rollout, repeat)
        chunks = [[rollout.transitions[i] for i in pick] for pick in picks]
        batches = [collate([t.prompt_ids for t in c], [t.answer_ids for t in c], pad_id, device)
                   for c in chunks]
        advantages = [torch.tensor(advantage[pick], dtype=torch.float32) for pick in picks]
        bare_seconds = bare_update(bare_policy, optimizer, batches, advantages, accumulation)
        if repeat:
            update_s.append(update_seconds)
            bare_s.append(bare_seconds)
            tokens = int(sum(int(b.attention_mask.sum()) for b in batches))
    return {
        "update_vs_bare": sum(bare_s) / sum(update_s),
        "update_tokens_per_s": tokens * len(update_s) / sum(update_s),
        "bare_tokens_per_s": tokens * len(bare_s) / sum(bare_s),
        "update_seconds": update_s, "bare_seconds": bare_s,
        "update_tokens_per_pass": tokens,
        "update_micro_batches": len(_micro_batches(setup, rollout, 0)),
    }


# ----------------------------------------------------------------------------- (c) memory

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bench_zero_rss(timeout_s: int) -> dict[str, Any]:
    from rlft.models.tiny import TinyModelConfig, tiny_model_path

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from zero_rss import MODEL_OPTIONS

    tiny_model_path(TinyModelConfig(**MODEL_OPTIONS))  # build the preset once, not per rank
    env = {k: v for k, v in os.environ.items() if k not in DIST_VARS}
    env.update(OMP_NUM_THREADS="1", DS_ACCELERATOR="cpu",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "python"),
                                                        env.get("PYTHONPATH", "")])))
    out: dict[str, Any] = {}
    for stage in STAGES:
        with tempfile.TemporaryDirectory() as tmp:
            command = ["deepspeed", "--num_gpus", "2", "--master_port", str(_free_port()),
                       str(ROOT / "benchmarks" / "zero_rss.py"), "--stage", str(stage),
                       "--out", tmp]
            started = time.perf_counter()
            done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True,
                                  timeout=timeout_s)
            ranks = sorted(Path(tmp).glob("rank*.json"))
            if done.returncode != 0 or len(ranks) != 2:
                raise RuntimeError(f"ZeRO-{stage} launch failed (rc {done.returncode}):\n"
                                   f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
            out[f"zero{stage}"] = {"launch_seconds": time.perf_counter() - started,
                                   "ranks": [json.loads(p.read_text()) for p in ranks]}
    return out


# ----------------------------------------------------------------------------- report

def table(results: dict[str, Any]) -> str:
    lines = ["| measure | value | target |", "|---|---|---|",
             f"| rollout_overhead_frac (vs generate()) | {results['rollout_overhead_frac']:.3f} "
             "| <= 0.10 |",
             f"| rollout overhead (vs model.generate only) | "
             f"{results['rollout_overhead_frac_vs_model_generate']:.3f} | |",
             f"| update_vs_bare | {results['update_vs_bare']:.3f} | >= 0.90 |",
             f"| update tokens/s (ppo_update) | {results['update_tokens_per_s']:.0f} | |",
             f"| bare tokens/s | {results['bare_tokens_per_s']:.0f} | |"]
    for name, stage in results.get("zero_rss", {}).items():
        peaks = ", ".join(f"{r['peak_rss_mb']:.0f}" for r in stage["ranks"])
        after = ", ".join(f"{r['rss_after_steps_mb']:.0f}" for r in stage["ranks"])
        lines.append(f"| {name} peak RSS per rank (MiB) / RSS after steps | {peaks} / {after} "
                     "| |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=2, help="measured rollouts/updates")
    parser.add_argument("--skip-rss", action="store_true", help="skip (c), the ZeRO launches")
    parser.add_argument("--launch-timeout", type=int, default=300)
    args = parser.parse_args()

    results: dict[str, Any] = {"machine": platform.machine(), "cpus": os.cpu_count(),
                               "python": platform.python_version(), "repeats": args.repeats,
                               "config": "configs/cpu_default.yaml " + " ".join(SETUP_OVERRIDES)}
    if not args.skip_rss:
        results["zero_rss"] = bench_zero_rss(args.launch_timeout)
    setup = build_trainer(list(SETUP_OVERRIDES))
    results["threads"] = __import__("torch").get_num_threads()
    rollout_results, rollout = bench_rollout(setup, args.repeats)
    results.update(rollout_results)
    results.update(bench_update(setup, rollout, args.repeats))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"written: {RESULTS}")


if __name__ == "__main__":
    main()
