"""Trainer costs on CPU, measured in one run and written to benchmarks/results/trainer.json:

(a) rollout overhead: wall time of a rollout (rlft.trainer.rollout.collect) vs the generate()
    calls inside it; the rest (prompting, chat template, parsing, env stepping, bookkeeping) is
    framework overhead
    -> ``rollout_overhead_frac`` (target <= 0.10). Also against the bare ``model.generate``
    calls alone (tokenising, decoding and the prefill of each row's own tokens count as
    overhead there).
(b) update: tokens/s of loop.ppo_update (DeepSpeed engine, PPO + KL loss) over a real rollout
    vs a bare forward + backward + torch AdamW loop on a copy of the same PolicyWithValue with
    the same micro-batches (pre-collated) -> ``update_vs_bare`` (target >= 0.90).
    Setup of (a) and (b): configs/cpu_default.yaml with 32 envs, one update epoch, no warm start.
(c) peak RSS per rank at ZeRO 0, 2 and 3 on 2 CPU ranks for a ~115M-parameter tiny-preset
    model (benchmarks/zero_rss.py under the deepspeed launcher, OMP_NUM_THREADS=1).
(d) ``iteration_speedup_cpu_default`` (target >= 3): one training iteration of the embedded
    default (configs/cpu_default.yaml after its warm start) on the path before shared-prefix
    reuse and on today's, from the same weights and optimizer state and with the same seeds,
    interleaved phase by phase; each phase's figure is its fastest of --repeats + 1 repeats
    (the least disturbed by other processes; process CPU time is reported too): wall time of
    rollout / log-probs / update, and the token positions (padding included) each phase runs
    through the model per transition next to the transition's unique tokens (its rollout's
    shared prefix counted once). ``iteration_work_ratio_cpu_default``: old over new in matmul
    work (positions, the update's counted 3 times for its backward); ``..._bound_...``: old
    over the least any exact reuse can compute, each unique token once per pass. The same
    again with the paper's full wording (``..._full_prompt``).
(e) ``smollm2_rollout_vs_hf_generate`` (target >= 2): one rollout step of SmolLM2-135M-Instruct
    with the paper's CoT prompt, 16 rows, 64 sampled tokens each: rlft's generate() (the
    prompts' shared prefix run once, in the step) against bare Hugging Face ``generate`` on the
    same prompt ids, interleaved. ``smollm2_work_ratio_bound``: the positions HF computes over
    those the prefix path computes (prompts whole against the prefix once, then the sampled
    tokens in both), the most that reusing the prefix can gain.
(f) ``update_fraction_of_peak``: the update phase of (d), prefix path, in model FLOP/s (6 x the
    transformer layers' matmul parameters per token position computed, attention scores not
    counted) over the fp32 matmul throughput measured here (2048^3).

The path before shared-prefix reuse (every prompt in full: left-padded prompts and right-padded
answers, plain ``generate`` on whole prompts: `LegacyGenerator`) lives only in this file
(`legacy_path`).

    RLFT_CORE_DIR=build/<dir> PYTHONPATH=python python benchmarks/trainer.py [--repeats 2]
        [--threads 1] [--skip-rss] [--skip-smollm2] [--smoke --out DIR]

On a machine shared with other jobs, --threads 1 gives steadier ratios: with two threads per
process and more runnable threads than cores, every parallel region waits for a descheduled
thread, which penalises code with many small kernels more than code with few large ones.

``--smoke`` runs every part at toy sizes (the tiny preset in place of SmolLM2, one ZeRO launch)
and writes into --out (a temporary directory by default), never into benchmarks/results.
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
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

os.environ.setdefault("DS_ACCELERATOR", "cpu")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from provenance import stamp  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "trainer.json"
STAGES = (0, 2, 3)
# cpu_default.yaml with one update epoch, no warm start, 32 envs (320 transitions per rollout).
OVERHEAD_OVERRIDES = ("algo.update_epochs=1", "warm_start.steps=0", "rollout.num_envs=32")
# Toy sizes of every part for --smoke.
SMOKE_OVERRIDES = ("rollout.num_envs=4", "env.horizon=3", "optim.batch_size=4",
                   "optim.micro_batch_size=2", "warm_start.steps=2", "warm_start.batch_size=4",
                   "rollout.max_new_tokens=4")
# The iterations of (d): the embedded default, and the same with the paper's full wording.
ITERATION_SETUPS: dict[str, tuple[str, ...]] = {"cpu_default": (),
                                                "full_prompt": ("prompt.style=full",)}
DIST_VARS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
             "LOCAL_WORLD_SIZE", "CROSS_RANK", "CROSS_SIZE")


# ----------------------------------------------------------------------------- the old path

@dataclass
class LegacyBatch:
    """A batch of the old path: [pad..pad prompt | answer pad..pad], answers at column P."""

    input_ids: Any
    attention_mask: Any
    position_ids: Any
    answer_ids: Any
    answer_mask: Any
    prompt_length: int
    prefix_ids: Any  # always empty: nothing is shared

    @property
    def computed_tokens(self) -> int:
        return int(self.attention_mask.sum())


def legacy_collate(prompts: Sequence[Sequence[int]], answers: Sequence[Sequence[int]],
                   pad_id: int, device: Any, prefix_length: int | None = None) -> LegacyBatch:
    import torch

    prompt_length = max(len(p) for p in prompts)
    answer_length = max(1, max(len(a) for a in answers))
    n = len(prompts)
    input_ids = torch.full((n, prompt_length + answer_length), pad_id, dtype=torch.long)
    attention = torch.zeros_like(input_ids)
    answer_mask = torch.zeros(n, answer_length, dtype=torch.long)
    for row, (prompt, answer) in enumerate(zip(prompts, answers)):
        start = prompt_length - len(prompt)
        input_ids[row, start:prompt_length] = torch.tensor(list(prompt))
        input_ids[row, prompt_length:prompt_length + len(answer)] = torch.tensor(list(answer),
                                                                                  dtype=torch.long)
        attention[row, start:prompt_length + len(answer)] = 1
        answer_mask[row, :len(answer)] = 1
    positions = (attention.cumsum(dim=1) - 1).clamp(min=0)
    return LegacyBatch(input_ids.to(device), attention.to(device), positions.to(device),
                       input_ids[:, prompt_length:].to(device), answer_mask.to(device),
                       prompt_length, torch.zeros(1, 0, dtype=torch.long))


def legacy_answer_logprobs(module: Any, batch: LegacyBatch, temperature: float = 1.0,
                           with_entropy: bool = False) -> tuple[Any, Any, Any]:
    """The full forward of every row, logits kept for the last L + 1 positions."""
    import torch

    policy = getattr(module, "module", module)  # a DeepSpeed engine or the PolicyWithValue
    length = batch.answer_ids.shape[1]
    out = policy.lm(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                    position_ids=batch.position_ids, use_cache=False,
                    output_hidden_states=policy.value_head is not None,
                    logits_to_keep=length + 1)
    logp_all = torch.log_softmax(out.logits[:, :length].float() / temperature, dim=-1)
    logp = logp_all.gather(-1, batch.answer_ids.unsqueeze(-1)).squeeze(-1)
    entropy = -(logp_all.exp() * logp_all).sum(-1) if with_entropy else None
    values = None
    if policy.value_head is not None:
        hidden = out.hidden_states[-1][:, batch.prompt_length - 1]
        values = policy.value_head(hidden).squeeze(-1).float()
    return logp, entropy, values


def legacy_generate(model: Any, tokenizer: Any, prompts: Sequence[Sequence[int]],
                    sampling: Any, seed: int | None = None, synced_gpus: bool = False,
                    prefix: Any = None) -> Any:
    """Plain `generate` on the whole, left-padded prompts (the prefix is ignored)."""
    import torch

    from rlft.agents.generation import Generations

    device = next(model.parameters()).device
    if seed is not None:
        torch.manual_seed(seed)
    eos = tokenizer.eos_token_id
    texts, token_ids = [], []
    for start in range(0, len(prompts), sampling.batch_size):
        chunk = [list(p) for p in prompts[start:start + sampling.batch_size]]
        width = max(len(p) for p in chunk)
        ids = torch.tensor([[tokenizer.pad_token_id] * (width - len(p)) + p for p in chunk])
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in chunk])
        do_sample = sampling.temperature > 0
        output = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device),
                                max_new_tokens=sampling.max_new_tokens, do_sample=do_sample,
                                temperature=sampling.temperature if do_sample else None,
                                top_p=sampling.top_p if do_sample else None,
                                top_k=0 if do_sample else None,
                                pad_token_id=tokenizer.pad_token_id, synced_gpus=synced_gpus)
        for row in output[:, width:].tolist():
            if eos in row:
                row = row[:row.index(eos) + 1]
            token_ids.append(row)
            texts.append(tokenizer.decode(row, skip_special_tokens=True))
    return Generations(texts, [list(p) for p in prompts], token_ids)


class LegacyGenerator:
    """The old rollout engine, a TokenGenerator: plain `generate` on whole prompts."""

    def __init__(self, model: Any, tokenizer: Any) -> None:
        self.model, self.tokenizer = model, tokenizer

    def start_rollout(self, prefix_ids: Sequence[int]) -> None:
        pass  # nothing is shared

    def generate(self, prompts: Sequence[Sequence[int]], sampling: Any, seed: int | None) -> Any:
        return legacy_generate(self.model, self.tokenizer, prompts, sampling, seed=seed)


@contextmanager
def legacy_path(agent: Any) -> Iterator[None]:
    """Within the context the trainer's teacher-forced passes and `agent` take the old path."""
    import rlft.trainer.loop as loop_module

    saved = (loop_module.collate, loop_module.answer_logprobs, agent.generator)
    loop_module.collate, loop_module.answer_logprobs = legacy_collate, legacy_answer_logprobs
    agent.generator = LegacyGenerator(agent.model, agent.tokenizer)
    try:
        yield
    finally:
        loop_module.collate, loop_module.answer_logprobs, agent.generator = saved


@contextmanager
def path(name: str, agent: Any) -> Iterator[None]:
    if name == "old":
        with legacy_path(agent):
            yield
    else:
        yield


# ----------------------------------------------------------------------------- set-up

def build_trainer(overrides: Sequence[str], warm_start: bool) -> dict[str, Any]:
    """The objects train() builds, in the same way (1 rank), after the config's warm start."""
    from rlft.agents.generation import SamplingConfig
    from rlft.agents.llm_agent import ExplorationConfig, LLMAgent
    from rlft.trainer.config import load_config
    from rlft.trainer.engine import Reference, build_engine, find_config_file, init_world
    from rlft.trainer.evaluate import make_env
    from rlft.trainer.loop import estimated_optimizer_steps, load_policy_model
    from rlft.trainer.warm_start import configured_warm_start

    config = load_config(find_config_file("cpu_default.yaml"), overrides)
    world = init_world(config.engine.threads)
    lm, tokenizer = load_policy_model(config, world)
    if warm_start and config.warm_start.steps:
        env = make_env(config, min(64, config.rollout.num_envs), 7, "train")
        configured_warm_start(config, lm, tokenizer, env, world.device)
    reference = Reference(config, lm, world)
    engine, scheduler = build_engine(config, lm, world,
                                     estimated_optimizer_steps(config, world))
    reference.attach(engine)
    env = make_env(config, config.rollout.num_envs, 1234, "train")
    sampling = SamplingConfig(temperature=config.rollout.temperature, top_p=config.rollout.top_p,
                              max_new_tokens=config.rollout.max_new_tokens,
                              batch_size=config.rollout.generation_batch_size,
                              max_prompt_tokens=config.rollout.max_prompt_tokens)
    agent = LLMAgent(engine.module.lm, tokenizer, env, config.prompt, sampling,
                     ExplorationConfig())
    return {"config": config, "world": world, "engine": engine, "scheduler": scheduler,
            "reference": reference, "env": env, "agent": agent,
            "pad_id": tokenizer.pad_token_id, "overrides": list(overrides)}


class PositionCounter:
    """Token positions (padding included) that forwards of the given modules compute."""

    def __init__(self, modules: Sequence[Any]) -> None:
        self.total = 0
        self._handles = [module.register_forward_pre_hook(self._count, with_kwargs=True)
                         for module in modules]

    def _count(self, module: Any, args: tuple, kwargs: dict) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        self.total += int(ids.numel())

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()


class GenerateTimer:
    """Wraps model.generate to add up the time of the bare Hugging Face calls."""

    def __init__(self, model: Any) -> None:
        self.seconds = 0.0
        self._model = model
        self._inner = model.generate

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return self._inner(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        model.generate = timed

    def close(self) -> None:
        self._model.generate = self._inner


# ----------------------------------------------------------------------------- (a) rollout

def bench_rollout(setup: dict[str, Any], repeats: int) -> tuple[dict[str, Any], Any]:
    from rlft.trainer.rollout import collect

    timer = GenerateTimer(setup["engine"].module.lm)
    agent = setup["agent"]
    collect(setup["env"], agent, seed=0)  # warm-up
    totals, generates, bare = [], [], []
    transitions: list[Any] = []
    for repeat in range(repeats):
        before, generate_before, tokens_before = timer.seconds, agent.generate_seconds, \
            agent.new_tokens
        started = time.perf_counter()
        _, transitions = collect(setup["env"], agent, seed=1 + repeat)
        totals.append(time.perf_counter() - started)
        generates.append(agent.generate_seconds - generate_before)
        bare.append(timer.seconds - before)
        new_tokens = agent.new_tokens - tokens_before
    timer.close()
    total = sum(totals)
    return {
        "rollout_overhead_frac": 1.0 - sum(generates) / total,
        "rollout_overhead_frac_vs_model_generate": 1.0 - sum(bare) / total,
        "rollout_seconds": totals, "generate_seconds": generates,
        "model_generate_seconds": bare,
        "rollout_transitions": len(transitions),
        "rollout_new_tokens": new_tokens,
    }, transitions


# ----------------------------------------------------------------------------- (b) update

def _micro_batches(setup: dict[str, Any], transitions: Any, iteration: int) -> list[list[int]]:
    """The transition indices of each micro-batch ppo_update takes in its one epoch."""
    config, world = setup["config"], setup["world"]
    micro = config.optim.micro_batch_size
    accumulation = config.optim.batch_size // (micro * world.size)
    usable = len(transitions) // (micro * accumulation) * accumulation
    order = np.random.default_rng([config.run.seed, iteration, world.rank]).permutation(
        len(transitions))
    return [order[i * micro:(i + 1) * micro].tolist() for i in range(usable)]


def bare_update(policy: Any, optimizer: Any, batches: list[Any], advantages: list[Any],
                accumulation: int) -> float:
    """Forward + backward + AdamW over pre-collated micro-batches; returns seconds."""
    from rlft.trainer.policy import answer_logprobs

    started = time.perf_counter()
    for index, (batch, advantage) in enumerate(zip(batches, advantages)):
        logp, _, _ = answer_logprobs(policy, batch)
        mask = batch.answer_mask.float()
        loss = -(logp * advantage[:, None] * mask).sum() / mask.sum()
        loss.backward()
        if (index + 1) % accumulation == 0:
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - started


def bench_update(setup: dict[str, Any], transitions: Any, repeats: int) -> dict[str, Any]:
    import torch

    from rlft.trainer.loop import (compute_advantages, ppo_update, rollout_logprobs,
                                   sequence_kl)
    from rlft.trainer.policy import collate
    from rlft.trainer.rewards import RewardScaler

    config, world, engine = setup["config"], setup["world"], setup["engine"]
    device, pad_id = world.device, setup["pad_id"]
    old, ref, old_values = rollout_logprobs(config, engine, setup["reference"], transitions,
                                            pad_id, device, False)
    num_rows = 1 + max(t.row for t in transitions)
    _, advantage, returns = compute_advantages(config, transitions, num_rows,
                                               RewardScaler(config.algo.gamma), old_values,
                                               sequence_kl(old, ref), world)
    bare_policy = copy.deepcopy(engine.module).train()
    optimizer = torch.optim.AdamW(bare_policy.parameters(), lr=config.optim.lr)
    accumulation = config.optim.batch_size // (config.optim.micro_batch_size * world.size)
    update_s, bare_s, tokens = [], [], 0
    for repeat in range(1 + repeats):  # the first pair warms both up and is not counted
        started = time.perf_counter()
        ppo_update(config, engine, transitions, old, ref, advantage, returns, old_values,
                   pad_id, device, repeat, world)
        update_seconds = time.perf_counter() - started
        picks = _micro_batches(setup, transitions, repeat)
        chunks = [[transitions[i] for i in pick] for pick in picks]
        batches = [collate([t.prompt_ids for t in c], [t.answer_ids for t in c], pad_id, device)
                   for c in chunks]
        advantages = [torch.tensor(advantage[pick], dtype=torch.float32) for pick in picks]
        bare_seconds = bare_update(bare_policy, optimizer, batches, advantages, accumulation)
        if repeat:
            update_s.append(update_seconds)
            bare_s.append(bare_seconds)
            tokens = sum(b.computed_tokens for b in batches)
    return {
        "update_vs_bare": sum(bare_s) / sum(update_s),
        "update_tokens_per_s": tokens * len(update_s) / sum(update_s),
        "bare_tokens_per_s": tokens * len(bare_s) / sum(bare_s),
        "update_seconds": update_s, "bare_seconds": bare_s,
        "update_tokens_per_pass": tokens,
        "update_micro_batches": len(_micro_batches(setup, transitions, 0)),
    }


# ----------------------------------------------------------------------------- (c) memory

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bench_zero_rss(timeout_s: int, stages: Sequence[int], smoke: bool) -> dict[str, Any]:
    from rlft.models.tiny import TinyModelConfig, tiny_model_path

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from zero_rss import model_options

    tiny_model_path(TinyModelConfig(**model_options(smoke)))  # build once, not per rank
    import rlft

    env = {k: v for k, v in os.environ.items() if k not in DIST_VARS}
    # The ranks import the rlft this script imports (installed, or a source tree).
    rlft_parent = str(Path(rlft.__file__).resolve().parents[1])
    env.update(OMP_NUM_THREADS="1", DS_ACCELERATOR="cpu",
               PYTHONPATH=os.pathsep.join(filter(None, [rlft_parent,
                                                        env.get("PYTHONPATH", "")])))
    out: dict[str, Any] = {}
    for stage in stages:
        with tempfile.TemporaryDirectory() as tmp:
            command = ["deepspeed", "--num_gpus", "2", "--master_port", str(_free_port()),
                       str(ROOT / "benchmarks" / "zero_rss.py"), "--stage", str(stage),
                       "--out", tmp, *(["--smoke"] if smoke else [])]
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


# ----------------------------------------------------------------------------- (d) iteration

def _snapshot(setup: dict[str, Any]) -> tuple[Any, Any, Any]:
    engine = setup["engine"]
    return (copy.deepcopy(engine.module.state_dict()),
            copy.deepcopy(engine.optimizer.state_dict()),
            copy.deepcopy(setup["scheduler"].state_dict()))


def _restore(setup: dict[str, Any], state: tuple[Any, Any, Any]) -> None:
    engine = setup["engine"]
    engine.module.load_state_dict(state[0])
    engine.optimizer.load_state_dict(state[1])
    setup["scheduler"].load_state_dict(state[2])


def unique_tokens_per_transition(transitions: Any) -> float:
    """Tokens per transition when the rollout's shared prompt prefix counts once."""
    from rlft.models.shared_prefix import longest_common_prefix

    prompts = [t.prompt_ids for t in transitions]
    shared = longest_common_prefix(prompts[0], prompts)
    own = sum(len(t.prompt_ids) - shared + len(t.answer_ids) for t in transitions)
    return (shared + own) / len(prompts)


class Phase:
    """Wall and process CPU seconds and the token positions of one phase."""

    def __init__(self, counter: PositionCounter) -> None:
        self.counter = counter

    def __enter__(self) -> "Phase":
        self.positions = self.counter.total
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu
        self.positions = self.counter.total - self.positions


PHASES = ("rollout", "logprobs", "update")


def iteration_phases(setup: dict[str, Any], state: tuple[Any, Any, Any], seed: int,
                     iteration: int) -> dict[str, dict[str, Any]]:
    """One iteration (rollout, old + reference log-probs, the PPO update, as loop.train runs
    them) on both paths, interleaved phase by phase so that load from other processes hits
    both alike; each path's update starts from the same saved state."""
    from rlft.trainer.loop import (compute_advantages, ppo_update, rollout_logprobs,
                                   sequence_kl)
    from rlft.trainer.rewards import RewardScaler
    from rlft.trainer.rollout import collect

    config, world, engine, agent = setup["config"], setup["world"], setup["engine"], \
        setup["agent"]
    counter = PositionCounter([engine.module.lm, setup["reference"].module.lm])
    names = ("old", "new") if iteration % 2 == 0 else ("new", "old")
    runs: dict[str, dict[str, Any]] = {name: {} for name in names}
    for name in names:
        _restore(setup, state)
        with path(name, agent), Phase(counter) as phase:
            runs[name]["collected"] = collect(setup["env"], agent, seed=seed)
        runs[name]["rollout"] = phase
    for name in names:
        run = runs[name]
        with path(name, agent), Phase(counter) as phase:
            run["logprob_data"] = rollout_logprobs(config, engine, setup["reference"],
                                                   run["collected"][1], setup["pad_id"],
                                                   world.device, False)
        run["logprobs"] = phase
    for name in names:
        run = runs[name]
        rollout, steps = run["collected"]
        old, ref, values = run["logprob_data"]
        _, advantage, returns = compute_advantages(config, steps, rollout.actions.shape[0],
                                                   RewardScaler(config.algo.gamma), values,
                                                   sequence_kl(old, ref), world)
        _restore(setup, state)
        with path(name, agent), Phase(counter) as phase:
            ppo_update(config, engine, steps, old, ref, advantage, returns, values,
                       setup["pad_id"], world.device, iteration, world)
        run["update"] = phase
    counter.close()
    _restore(setup, state)
    out = {}
    for name, run in runs.items():
        rollout, steps = run["collected"]
        out[name] = {
            "wall_seconds": {p: run[p].wall for p in PHASES},
            "cpu_seconds": {p: run[p].cpu for p in PHASES},
            "positions_per_transition": {p: run[p].positions / len(steps) for p in PHASES},
            "update_positions": run["update"].positions,
            "transitions": len(steps),
            "unique_tokens_per_transition": unique_tokens_per_transition(steps),
            "answer_tokens_per_transition": float(np.mean([len(t.answer_ids) for t in steps])),
            "invalid_rate": rollout.invalid_rate}
    return out


def bench_iteration(setup: dict[str, Any], repeats: int, name: str) -> dict[str, Any]:
    """Old and new path, `repeats` iterations each (seeds 100, 101, ...), as keys ending in
    `name`. A phase's figure is its fastest repeat (the least disturbed by other processes).
    The work ratio is old over new in matmul work per transition (`matmul_work`); its bound is
    old over a path that computes each of the rollout's unique tokens once per pass (the
    shared prefix once per rollout): no reuse of exact prefixes can do better."""
    state = _snapshot(setup)
    runs = [iteration_phases(setup, state, seed=100 + repeat, iteration=repeat)
            for repeat in range(repeats)]

    def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
        wall = {p: min(r["wall_seconds"][p] for r in rows) for p in PHASES}
        cpu = {p: min(r["cpu_seconds"][p] for r in rows) for p in PHASES}
        positions = {p: float(np.mean([r["positions_per_transition"][p] for r in rows]))
                     for p in PHASES}
        return {"iteration_seconds": sum(wall.values()), "seconds": wall,
                "iteration_cpu_seconds": sum(cpu.values()), "cpu_seconds": cpu,
                "positions_per_transition": positions,
                "positions_per_transition_all_phases": sum(positions.values()),
                **{key: float(np.mean([r[key] for r in rows]))
                   for key in ("unique_tokens_per_transition", "answer_tokens_per_transition",
                               "invalid_rate", "transitions")},
                "update_positions": float(np.mean([r["update_positions"] for r in rows])),
                "runs": rows}

    old, new = summary([r["old"] for r in runs]), summary([r["new"] for r in runs])
    epochs = setup["config"].algo.update_epochs
    old_flops, new_flops = (matmul_work(run["positions_per_transition"]) for run in (old, new))
    unique = new["unique_tokens_per_transition"]
    floor = matmul_work({"rollout": unique, "logprobs": 2 * unique, "update": epochs * unique})
    return {f"iteration_speedup_{name}": old["iteration_seconds"] / new["iteration_seconds"],
            f"iteration_speedup_{name}_cpu_time": old["iteration_cpu_seconds"]
            / new["iteration_cpu_seconds"],
            f"iteration_work_ratio_{name}": old_flops / new_flops,
            f"iteration_work_ratio_bound_{name}": old_flops / floor,
            f"iteration_{name}_old_path": old, f"iteration_{name}_prefix_path": new,
            f"iteration_{name}_config": "configs/cpu_default.yaml "
                                        + " ".join(setup["overrides"]) + " (after its warm start)"}


def matmul_work(positions: dict[str, float]) -> float:
    """Positions weighted by the matmul work of their pass: a forward counts 1, the update's
    forward + backward 3 (the backward computes the gradients of inputs and of weights)."""
    return positions["rollout"] + positions["logprobs"] + 3 * positions["update"]


# ----------------------------------------------------------------------------- (e) SmolLM2

def smollm2_prompts(tokenizer: Any, rows: int, history: int) -> tuple[list[int], list[list[int]]]:
    """The paper's CoT prompts (5-arm button bandit, horizon 50) after `history` random steps,
    encoded as the LLM agent encodes them: (shared prefix ids, prompt ids)."""
    from rlft.agents.generation import PromptEncoder
    from rlft.agents.llm_agent import make_prompter
    from rlft.envs import make
    from rlft.text.chat import format_chat, shared_chat_prefix
    from rlft.text.prompts import PromptConfig

    env = make("mab", num_envs=rows, seed=3, num_arms=5, horizon=50)
    prompter = make_prompter(env, PromptConfig(), rows, 3)
    obs, info = env.reset(seed=3)
    prompter.reset()
    rng = np.random.default_rng(3)
    for _ in range(history):
        prompter.render(obs, info)
        actions = rng.integers(0, 5, rows).astype(np.int32)
        obs, reward, terminated, truncated, info = env.step(actions)
        prompter.record(actions, reward, terminated, truncated)
    encoder = PromptEncoder(tokenizer, shared_chat_prefix(tokenizer, prompter.shared_text()),
                            1792)
    chats = [format_chat(tokenizer, [{"role": "user", "content": text}])
             for text in prompter.render(obs, info).texts]
    return encoder.prefix_ids, [encoder.encode(chat) for chat in chats]


def bench_smollm2(model_name: str, rows: int, new_tokens: int, repeats: int,
                  history: int) -> dict[str, Any]:
    import torch

    from rlft.agents.generation import SamplingConfig, SharedPrefix, generate
    from rlft.models import load_model_and_tokenizer

    model, tokenizer = load_model_and_tokenizer(model_name)
    model.eval()
    model.generation_config.eos_token_id = None  # every row samples all `new_tokens`
    prefix, prompts = smollm2_prompts(tokenizer, rows, history)
    sampling = SamplingConfig(temperature=1.0, max_new_tokens=new_tokens, batch_size=rows)
    eos = tokenizer.eos_token_id
    tokenizer.eos_token_id = None
    timings: dict[str, list[float]] = {"prefix_path": [], "hf_generate": []}

    def prefix_path() -> None:
        generate(model, tokenizer, prompts, sampling, seed=0, prefix=SharedPrefix(prefix))

    def hf_generate() -> None:
        legacy_generate(model, tokenizer, prompts, sampling, seed=0)

    try:
        with torch.no_grad():
            for repeat in range(repeats):
                order = ((prefix_path, "prefix_path"), (hf_generate, "hf_generate"))
                for run, name in order if repeat % 2 == 0 else order[::-1]:
                    started = time.perf_counter()
                    run()
                    timings[name].append(time.perf_counter() - started)
    finally:
        tokenizer.eos_token_id = eos
    lengths = [len(p) for p in prompts]
    # Positions each path runs through the model: every prompt whole, or the prefix once and
    # each row's own tokens; then every sampled token.
    whole = sum(lengths) + rows * new_tokens
    reused = len(prefix) + sum(lengths) - rows * len(prefix) + rows * new_tokens
    return {"smollm2_rollout_vs_hf_generate": sum(timings["hf_generate"])
            / sum(timings["prefix_path"]),
            "smollm2_work_ratio_bound": whole / reused,
            "smollm2_rollout": {"model": model_name, "rows": rows, "new_tokens": new_tokens,
                                "history_steps": history, "prompt_tokens_mean":
                                float(np.mean(lengths)), "prompt_tokens_max": max(lengths),
                                "shared_prefix_tokens": len(prefix), "seconds": timings,
                                "threads": torch.get_num_threads()}}


# ----------------------------------------------------------------------------- (f) peak

def matmul_gflops(size: int, repeats: int = 5) -> float:
    """fp32 matmul throughput, best of `repeats` (torch's threads)."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best / 1e9


def layer_matmul_parameters(lm: Any) -> int:
    """Parameters of the transformer layers' weight matrices (no embeddings, norms, head)."""
    return sum(p.numel() for name, p in lm.named_parameters()
               if p.ndim == 2 and "embed" not in name and "lm_head" not in name)


def fraction_of_peak(setup: dict[str, Any], iteration: dict[str, Any],
                     size: int) -> dict[str, Any]:
    peak = matmul_gflops(size)
    new = iteration["iteration_cpu_default_prefix_path"]
    positions_per_s = new["update_positions"] / new["seconds"]["update"]
    parameters = layer_matmul_parameters(setup["engine"].module.lm)
    achieved = 6 * parameters * positions_per_s / 1e9
    return {"update_fraction_of_peak": achieved / peak,
            "update_peak": {"matmul_gflops": peak, "matmul_size": size,
                            "update_positions_per_s": positions_per_s,
                            "layer_matmul_parameters": parameters,
                            "update_model_gflops": achieved}}


# ----------------------------------------------------------------------------- report

def table(results: dict[str, Any]) -> str:
    lines = ["| measure | value | target |", "|---|---|---|"]
    if "rollout_overhead_frac" in results:
        lines += [
            f"| rollout_overhead_frac (vs generate()) | "
            f"{results['rollout_overhead_frac']:.3f} | <= 0.10 |",
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
    for name in ITERATION_SETUPS:
        if f"iteration_speedup_{name}" not in results:
            continue
        old, new = (results[f"iteration_{name}_{p}"] for p in ("old_path", "prefix_path"))
        lines.append(f"| iteration_speedup_{name} (wall; process CPU time "
                     f"{results[f'iteration_speedup_{name}_cpu_time']:.2f}) | "
                     f"{results[f'iteration_speedup_{name}']:.2f} | "
                     f"{'>= 3' if name == 'cpu_default' else ''} |")
        lines.append(f"| {name}: matmul work, old / prefix path (bound: old / unique tokens) | "
                     f"{results[f'iteration_work_ratio_{name}']:.2f} "
                     f"({results[f'iteration_work_ratio_bound_{name}']:.2f}) | |")
        for label, run in ((f"{name} old path", old), (f"{name} prefix path", new)):
            s, p = run["seconds"], run["positions_per_transition"]
            lines.append(f"| {label}: iteration s (rollout / log-probs / update) | "
                         f"{run['iteration_seconds']:.1f} ({s['rollout']:.1f} / "
                         f"{s['logprobs']:.1f} / {s['update']:.1f}) | |")
            lines.append(f"| {label}: positions per transition (rollout / log-probs / update) "
                         f"vs unique tokens | {p['rollout']:.0f} / {p['logprobs']:.0f} / "
                         f"{p['update']:.0f} vs {run['unique_tokens_per_transition']:.0f} | |")
    if "smollm2_rollout_vs_hf_generate" in results:
        run = results["smollm2_rollout"]
        prefix_s, hf_s = (np.mean(run["seconds"][k]) for k in ("prefix_path", "hf_generate"))
        lines.append(f"| smollm2_rollout_vs_hf_generate ({run['rows']} rows, "
                     f"{run['new_tokens']} tokens; s: {prefix_s:.1f} vs {hf_s:.1f}) | "
                     f"{results['smollm2_rollout_vs_hf_generate']:.2f} | >= 2 |")
        lines.append(f"| smollm2: positions, HF generate / prefix path (the bound on its "
                     f"speed-up) | {results['smollm2_work_ratio_bound']:.2f} | |")
    if "update_fraction_of_peak" in results:
        peak = results["update_peak"]
        lines.append(f"| update_fraction_of_peak ({peak['update_model_gflops']:.1f} of "
                     f"{peak['matmul_gflops']:.1f} GFLOP/s) | "
                     f"{results['update_fraction_of_peak']:.3f} | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=2, help="measured repeats of each part")
    parser.add_argument("--skip-rss", action="store_true",
                        help="skip (c), the ZeRO launches, keeping the output file's zero_rss")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads (engine.threads; 0: the config's, cores / ranks). 1 "
                             "is steadier on a machine shared with other jobs")
    parser.add_argument("--skip-smollm2", action="store_true", help="skip (e)")
    parser.add_argument("--launch-timeout", type=int, default=300)
    parser.add_argument("--smoke", action="store_true",
                        help="toy sizes of every part, written into --out (not results/)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output file (default: benchmarks/results/trainer.json; with "
                             "--smoke a temporary directory)")
    args = parser.parse_args()
    out = args.out or (Path(tempfile.mkdtemp()) / "trainer.json" if args.smoke else RESULTS)
    if args.smoke and out.resolve().parent == RESULTS.parent.resolve():
        parser.error("--smoke never writes into benchmarks/results")
    smoke = list(SMOKE_OVERRIDES) if args.smoke else []
    if args.threads:
        smoke.append(f"engine.threads={args.threads}")
    repeats = 1 if args.smoke else args.repeats

    import torch

    results: dict[str, Any] = {"machine": platform.machine(), "cpus": os.cpu_count(),
                               "python": platform.python_version(), "torch": torch.__version__,
                               "repeats": repeats, "smoke": args.smoke,
                               "config": "configs/cpu_default.yaml "
                                         + " ".join([*OVERHEAD_OVERRIDES, *smoke])}
    if not args.skip_rss:
        results["zero_rss"] = bench_zero_rss(args.launch_timeout,
                                             (3,) if args.smoke else STAGES, args.smoke)
    elif out.is_file() and "zero_rss" in json.loads(out.read_text()):
        earlier = json.loads(out.read_text())
        results["zero_rss"] = earlier["zero_rss"]
        results["zero_rss_commit"] = earlier.get("zero_rss_commit", earlier.get("commit"))
    setup = build_trainer([*OVERHEAD_OVERRIDES, *smoke], warm_start=False)
    results["threads"] = torch.get_num_threads()
    rollout_results, transitions = bench_rollout(setup, repeats)
    results.update(rollout_results)
    results.update(bench_update(setup, transitions, repeats))
    for name, overrides in ITERATION_SETUPS.items():
        trained = build_trainer([*smoke, *overrides], warm_start=True)
        results.update(bench_iteration(trained, 1 if args.smoke else args.repeats + 1, name))
        if name == "cpu_default":
            results.update(fraction_of_peak(trained, results, 256 if args.smoke else 2048))
    if not args.skip_smollm2:
        results.update(bench_smollm2("tiny" if args.smoke else "smollm2-135m",
                                     rows=4 if args.smoke else 16,
                                     new_tokens=4 if args.smoke else 64, repeats=repeats,
                                     history=3 if args.smoke else 8))
    # The ZeRO launches ran benchmarks/zero_rss.py and python/rlft/train.py's modules.
    results.update(stamp(vars(args), inputs=["benchmarks/zero_rss.py", "configs/cpu_default.yaml",
                                              *[f"configs/ds/zero{s}.json" for s in STAGES]]))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"written: {out}")


if __name__ == "__main__":
    main()
