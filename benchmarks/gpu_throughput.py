"""Throughput of rlft's rollout and PPO update on one device, for random-init model shapes
built from configs (speed does not depend on the weights):

- `tiny`: the tiny preset (2 layers, hidden 128, its own 1024-token BPE tokenizer);
- `smollm2-135m-shape`: a Llama with SmolLM2-135M's dimensions;
- `gemma2-2b-shape`: a Gemma 2 with Gemma2-2B's dimensions.

All three use the tiny preset's tokenizer (no other tokenizer is available offline), so the
models' larger vocabularies cost their full LM-head compute while the prompts are tokenised by a
small BPE; the prompt lengths in tokens are recorded. Per shape:

1. rollout: `rlft.trainer.rollout.collect` with an `LLMAgent` (the trainer's rollout path) on 5-arm button
   bandits with the paper's chain-of-thought prompt, `rows` env slots, G new tokens per step,
   sampling at temperature 1; then bare Hugging Face `generate` on the very same prompt token
   ids with the same sampling. New tokens are counted up to each row's first stop token in both.
2. update: `rollout_logprobs` (policy + reference) and `ppo_update` on that rollout through the
   DeepSpeed engine (ZeRO-1, so that bf16 gradients accumulate in fp32; bf16 on CUDA); the first update pass warms up, the second is timed.

Model FLOPs of a pass: 6 x (parameters of the transformer body) per real token + 6 x hidden x
vocab per LM-head position (the answer tokens plus one); attention-score FLOPs and padding are
not counted, so the rate is a lower bound on what the device did.

    python benchmarks/gpu_throughput.py --shape tiny [--shape ...] --out DIR [--toy]

Each phase's numbers are written to --out as soon as they exist, so a run stopped by its time
cap still leaves what it measured.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

SHAPES = ("tiny", "smollm2-135m-shape", "gemma2-2b-shape")


@dataclass(frozen=True)
class Setting:
    rows: int            # env slots = prompts per generate() call
    new_tokens: int      # G
    horizon: int         # env steps per rollout (generate calls)
    batch_size: int      # sequences per optimizer step
    micro_batch_size: int


# One env step: one generate() call of 64 rows x 256 new tokens, and one optimizer step of 64
# sequences for the update (8 micro-batches).
FULL = Setting(rows=64, new_tokens=256, horizon=1, batch_size=64, micro_batch_size=8)
# --toy: the same steps at CPU-test size, over two env steps.
TOY = Setting(rows=4, new_tokens=8, horizon=2, batch_size=4, micro_batch_size=2)


def model_config(shape: str, toy: bool, tokenizer: Any) -> Any:
    """The transformers config of a shape (None for the tiny preset, which is loaded)."""
    from transformers import Gemma2Config, LlamaConfig

    ids = dict(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
               pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True)
    if shape == "smollm2-135m-shape":  # SmolLM2-135M(-Instruct)'s config.json
        dims = dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                    num_attention_heads=9, num_key_value_heads=3, vocab_size=49152)
        if toy:
            dims = dict(hidden_size=72, intermediate_size=192, num_hidden_layers=2,
                        num_attention_heads=9, num_key_value_heads=3, vocab_size=2048)
        return LlamaConfig(**dims, max_position_embeddings=8192, rms_norm_eps=1e-5,
                           rope_theta=100000.0, **ids)
    if shape == "gemma2-2b-shape":  # Gemma2-2B's config.json
        dims = dict(hidden_size=2304, intermediate_size=9216, num_hidden_layers=26,
                    num_attention_heads=8, num_key_value_heads=4, head_dim=256,
                    vocab_size=256000, sliding_window=4096, query_pre_attn_scalar=256)
        if toy:
            dims = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                        num_attention_heads=2, num_key_value_heads=1, head_dim=32,
                        vocab_size=2048, sliding_window=64, query_pre_attn_scalar=32)
        return Gemma2Config(**dims, max_position_embeddings=8192, attn_logit_softcapping=50.0,
                            final_logit_softcapping=30.0, hidden_activation="gelu_pytorch_tanh",
                            **ids)
    if shape == "tiny":
        return None
    raise ValueError(f"unknown shape {shape!r}; known: {SHAPES}")


def build_model(shape: str, toy: bool, dtype: torch.dtype, device: torch.device
                ) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM

    from rlft.models import attention_implementation, load_model_and_tokenizer, load_tokenizer
    from rlft.models.portable import dtype_kwarg

    if shape == "tiny":
        return load_model_and_tokenizer("tiny", dtype=dtype, device=device)
    tokenizer = load_tokenizer("tiny")
    config = model_config(shape, toy, tokenizer)
    torch.manual_seed(0)
    with torch.device(device):  # initialise on the device: a 2.6B init on the CPU is slow
        model = AutoModelForCausalLM.from_config(
            config, attn_implementation=attention_implementation(config), **{dtype_kwarg(): dtype})
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model.eval(), tokenizer


def count_parameters(lm: Any) -> dict[str, int]:
    """All parameters, and the transformer body's (embeddings and LM head excluded)."""
    total = sum(p.numel() for p in lm.parameters())
    embedding = lm.get_input_embeddings().weight
    head = lm.get_output_embeddings().weight
    body = total - embedding.numel() - (0 if head is embedding else head.numel())
    return {"parameters": total, "body_parameters": body,
            "hidden_size": lm.config.hidden_size, "vocab_size": lm.config.vocab_size}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _new_tokens(rows: torch.Tensor, stop_ids: set[int]) -> int:
    """Tokens per row up to and including the first stop token, as rlft's generate counts."""
    count = 0
    for row in rows.tolist():
        stop = next((i for i, token in enumerate(row) if token in stop_ids), None)
        count += len(row) if stop is None else stop + 1
    return count


@torch.no_grad()
def bare_generate(lm: Any, tokenizer: Any, prompts: list[list[int]], new_tokens: int,
                  seed: int, device: torch.device) -> tuple[int, float]:
    """HF generate on exact prompt ids (left-padded), rlft's sampling settings; returns
    (new tokens, seconds)."""
    length = max(len(p) for p in prompts)
    pad = tokenizer.pad_token_id
    ids = torch.tensor([[pad] * (length - len(p)) + p for p in prompts], device=device)
    mask = torch.tensor([[0] * (length - len(p)) + [1] * len(p) for p in prompts],
                        device=device)
    torch.manual_seed(seed)
    _sync(device)
    started = time.perf_counter()
    out = lm.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new_tokens,
                      do_sample=True, temperature=1.0, top_p=1.0, top_k=0, pad_token_id=pad)
    _sync(device)
    seconds = time.perf_counter() - started
    stop_ids = {tokenizer.eos_token_id, *np.atleast_1d(lm.generation_config.eos_token_id)}
    return _new_tokens(out[:, length:], stop_ids), seconds


class Recorder:
    """The shape's results, rewritten to disk after every phase."""

    def __init__(self, path: Path, shape: str) -> None:
        self.path, self.data = path, {"shape": shape, "phases_done": []}

    def add(self, phase: str, values: dict[str, Any]) -> None:
        self.data.update(values)
        self.data["phases_done"].append(phase)
        self.path.write_text(json.dumps(self.data, indent=2) + "\n")


def measure(shape: str, toy: bool, out: Path) -> dict[str, Any]:
    from rlft.agents.generation import SamplingConfig
    from rlft.agents.llm_agent import ExplorationConfig, LLMAgent
    from rlft.trainer.config import load_config
    from rlft.trainer.engine import (Reference, build_engine, disable_dropout, init_world,
                                     use_bf16)
    from rlft.trainer.evaluate import make_env
    from rlft.trainer.loop import (compute_advantages, ppo_update, rollout_logprobs,
                                   sequence_kl)
    from rlft.trainer.rewards import RewardScaler
    from rlft.trainer.rollout import collect

    setting = TOY if toy else FULL
    record = Recorder(out, shape)
    world = init_world()
    device = world.device
    config = load_config(None, [
        "env.name=mab", "env.num_arms=5", "prompt.variant=button", "prompt.cot=true",
        f"env.horizon={setting.horizon}", f"rollout.num_envs={setting.rows}",
        f"rollout.max_new_tokens={setting.new_tokens}",
        f"rollout.generation_batch_size={setting.rows}", "rollout.temperature=1.0",
        f"optim.batch_size={setting.batch_size}",
        f"optim.micro_batch_size={setting.micro_batch_size}", "algo.update_epochs=1",
        "engine.zero_stage=1"])  # bf16 gradients accumulate in fp32 only under ZeRO
    dtype = torch.bfloat16 if use_bf16(config, world) else torch.float32
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    started = time.perf_counter()
    lm, tokenizer = build_model(shape, toy, dtype, device)
    disable_dropout(lm)
    reference = Reference(config, lm, world)
    engine, _ = build_engine(config, lm, world, total_steps=10)
    reference.attach(engine)
    _sync(device)
    record.add("build", {"setting": asdict(setting), "device": str(device),
                         "dtype": str(dtype).removeprefix("torch."),
                         "attn_implementation": getattr(lm.config, "_attn_implementation", None),
                         "build_s": time.perf_counter() - started, **count_parameters(lm),
                         "allocated_after_build_gib": _allocated_gib(device)})

    policy_lm = engine.module.lm
    env = make_env(config, setting.rows, 1234, "train")

    def agent(new_tokens: int) -> Any:
        sampling = SamplingConfig(temperature=1.0, top_p=1.0, max_new_tokens=new_tokens,
                                  batch_size=setting.rows,
                                  max_prompt_tokens=config.rollout.max_prompt_tokens)
        return LLMAgent(policy_lm, tokenizer, env, config.prompt, sampling,
                        ExplorationConfig())

    collect(env, agent(min(16, setting.new_tokens)), seed=0)  # warm-up
    player = agent(setting.new_tokens)
    started = time.perf_counter()
    rollout, transitions = collect(env, player, seed=1)
    rollout_seconds = time.perf_counter() - started
    new_tokens = player.new_tokens
    prompt_lengths = [len(t.prompt_ids) for t in transitions]
    record.add("rollout", {
        "rollout_new_tokens": new_tokens,
        "rollout_s": rollout_seconds, "rollout_generate_s": player.generate_seconds,
        "rollout_tokens_per_s": new_tokens / rollout_seconds,
        "rollout_generate_tokens_per_s": new_tokens / player.generate_seconds,
        "prompt_tokens_mean": float(np.mean(prompt_lengths)),
        "prompt_tokens_max": int(max(prompt_lengths)),
        "rollout_invalid_rate": rollout.invalid_rate})

    bare_tokens, bare_seconds = 0, 0.0
    for step in range(setting.horizon):
        prompts = [t.prompt_ids for t in transitions if t.step == step]
        tokens, seconds = bare_generate(policy_lm, tokenizer, prompts, setting.new_tokens,
                                        seed=1 + step, device=device)
        bare_tokens, bare_seconds = bare_tokens + tokens, bare_seconds + seconds
    record.add("bare_generate", {
        "bare_new_tokens": bare_tokens, "bare_generate_s": bare_seconds,
        "bare_tokens_per_s": bare_tokens / bare_seconds,
        "rollout_vs_bare": (new_tokens / rollout_seconds) / (bare_tokens / bare_seconds)})

    pad_id = tokenizer.pad_token_id
    _sync(device)
    started = time.perf_counter()
    old, ref, values = rollout_logprobs(config, engine, reference, transitions, pad_id, device,
                                        False)
    _sync(device)
    logprob_seconds = time.perf_counter() - started
    _, advantage, returns = compute_advantages(config, transitions, setting.rows,
                                               RewardScaler(config.algo.gamma), values,
                                               sequence_kl(old, ref), world)
    passes = []
    for iteration in range(2):  # the first pass warms up (optimizer state, allocator)
        _sync(device)
        started = time.perf_counter()
        stats = ppo_update(config, engine, transitions, old, ref, advantage, returns, values,
                           pad_id, device, iteration, world)
        _sync(device)
        passes.append((time.perf_counter() - started, stats))
    seconds, stats = passes[-1]
    tokens = stats["optim/trained_tokens"]
    head_positions = sum(len(t.answer_ids) + 1 for t in transitions)
    flops = (6 * record.data["body_parameters"] * tokens
             + 6 * record.data["hidden_size"] * record.data["vocab_size"] * head_positions)
    record.add("update", {
        "update_tokens": tokens, "update_s": seconds, "update_warmup_s": passes[0][0],
        "update_tokens_per_s": tokens / seconds, "update_model_flops": flops,
        "update_flops_per_s": flops / seconds, "optimizer_steps": stats["optim/updates"],
        "logprob_s": logprob_seconds,
        "logprob_tokens_per_s": 2 * tokens / logprob_seconds,  # policy and reference
        "peak_memory_gib": (torch.cuda.max_memory_allocated(device) / 2**30
                            if device.type == "cuda" else None)})
    return record.data


def _allocated_gib(device: torch.device) -> float | None:
    return torch.cuda.memory_allocated(device) / 2**30 if device.type == "cuda" else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", action="append", required=True, choices=SHAPES,
                        help="repeat for several shapes in one process")
    parser.add_argument("--out", required=True, type=Path,
                        help="a folder: one <shape>.json per shape")
    parser.add_argument("--toy", action="store_true", help="CPU-test sizes")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for shape in args.shape:
        measure(shape, args.toy, args.out / f"{shape}.json")


if __name__ == "__main__":
    main()
