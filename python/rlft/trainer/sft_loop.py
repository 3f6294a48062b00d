"""Supervised fine-tuning (behaviour / thought cloning, paper §6) on the RLFT engine, top to
bottom: config -> world -> dataset (checked against the env's prompt settings) -> model and
tokens -> engine -> [micro-batches -> cross-entropy on target tokens only -> step -> log ->
checkpoint] x steps -> held-out comparison (start vs final policy next to the baselines) and
export. The export is a plain model directory: ``model.name=<out>/model`` starts RLFT from it
(as policy and reference) and ``rlft eval --agent llm --model <out>/model`` evaluates it."""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from rlft.trainer.checkpoint import checkpoint_to_resume, load_checkpoint, save_checkpoint
from rlft.trainer.config import ConfigError, TrainConfig, validate
from rlft.trainer.engine import (World, agree_any, build_engine, deepspeed_config, init_world,
                                 out_of_time, use_bf16)
from rlft.trainer.evaluate import evaluate_policy, finish_run
from rlft.trainer.policy_analyses import analyse_start_and_final
from rlft.trainer.provenance import write_run_end, write_run_start
from rlft.trainer.loop import add_lora, load_policy_model
from rlft.trainer.policy import TokenBatch, answer_logprobs, collate
from rlft.trainer.run_log import RunLog


def target_nll(module: Any, batch: TokenBatch) -> torch.Tensor:
    """Mean negative log-likelihood of the target (answer) tokens; prompt and padding tokens
    carry no loss."""
    logp, _, _ = answer_logprobs(module, batch)                  # [N, L]
    mask = batch.answer_mask.float()                              # [N, L]
    return -(logp * mask).sum() / mask.sum()


# ----------------------------------------------------------------------------- data

def load_sft_records(config: TrainConfig) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The manifest and records of sft.dataset, checked against the env and prompt sections:
    the evaluation renders prompts from them, so they must be the prompts trained on."""
    from rlft.sft.dataset import DatasetError, read_examples, read_manifest

    try:
        manifest = read_manifest(config.sft.dataset)
        records = read_examples(config.sft.dataset)
    except DatasetError as error:
        raise ConfigError(f"sft.dataset: {error}") from error
    data_env = manifest["config"]["env"]
    if data_env != config.env.name:
        raise ConfigError(f"env.name is {config.env.name!r} but sft.dataset was played on "
                          f"{data_env!r}")
    # Every prompt setting (cot, history_window, summary, variant, ...) must agree.
    ours = config.prompt.to_dict()
    theirs = manifest["config"]["prompt"]
    for name in sorted(set(ours) & set(theirs)):
        if ours[name] != theirs[name]:
            raise ConfigError(f"prompt.{name} is {ours[name]!r} here but {theirs[name]!r} in "
                              f"sft.dataset")
    if config.sft.max_examples:
        records = records[:config.sft.max_examples]
    return manifest, records


def split_by_episode(records: Sequence[dict[str, Any]], val_fraction: float, seed: int
                     ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(train, validation): whole episodes go to validation, so that no validation state is
    also a training state of the same episode."""
    keys = sorted({(r.get("setting", 0), r.get("episode", i)) for i, r in enumerate(records)})
    count = int(round(val_fraction * len(keys)))
    if val_fraction > 0 and len(keys) > 1:
        count = min(max(count, 1), len(keys) - 1)
    rng = np.random.default_rng([seed, 11])
    held = {keys[i] for i in rng.choice(len(keys), size=count, replace=False)} if count else set()
    train, val = [], []
    for i, record in enumerate(records):
        key = (record.get("setting", 0), record.get("episode", i))
        (val if key in held else train).append(record)
    return train, val


def step_indices(num_examples: int, batch_size: int, step: int, seed: int) -> np.ndarray:
    """The example indices of optimizer step `step`: consecutive slices of a stream made of
    one fresh permutation per pass (pass p shuffled by (seed, p)); any step is found without
    replaying the ones before it, so a resumed run sees the same batches."""
    start = step * batch_size
    out = []
    while len(out) < batch_size:
        epoch, offset = divmod(start + len(out), num_examples)
        order = np.random.default_rng([seed, 13, epoch]).permutation(num_examples)
        out.extend(order[offset:offset + batch_size - len(out)].tolist())
    return np.array(out)


def total_steps(config: TrainConfig, num_train: int) -> int:
    if num_train < config.optim.batch_size:
        raise ConfigError(f"sft.dataset has {num_train} training examples, fewer than "
                          f"optim.batch_size ({config.optim.batch_size})")
    return config.sft.steps or config.sft.epochs * (num_train // config.optim.batch_size)


@torch.no_grad()
def validation_loss(engine: Any, prompts: list[list[int]], answers: list[list[int]],
                    pad_id: int, micro: int, device: torch.device) -> float:
    """Token-weighted mean NLL of the validation targets."""
    if not prompts:
        return float("nan")
    engine.eval()
    total, tokens = 0.0, 0.0
    for start in range(0, len(prompts), micro):
        batch = collate(prompts[start:start + micro], answers[start:start + micro], pad_id,
                        device)
        count = float(batch.answer_mask.sum())
        total += float(target_nll(engine, batch)) * count
        tokens += count
    engine.train()
    return total / tokens


# ----------------------------------------------------------------------------- the run

def _engine_config(config: TrainConfig) -> TrainConfig:
    """The engine needs no value head for SFT, whatever algo.advantage says."""
    engine_config = copy.deepcopy(config)
    engine_config.algo.advantage = "mc"
    return engine_config


def _plot_losses(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 3))
    ax.plot([r["iteration"] for r in rows], [r["sft/loss"] for r in rows], label="train")
    val = [r for r in rows if np.isfinite(r.get("sft/val_loss", float("nan")))]
    if val:
        ax.plot([r["iteration"] for r in val], [r["sft/val_loss"] for r in val], label="val")
    ax.set(xlabel="optimizer step", ylabel="target NLL", yscale="log", title="SFT loss")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def train_sft(config: TrainConfig) -> dict[str, Any]:
    out = Path(config.run.out_dir)
    # Before any work, and before this run's config.json replaces the saved one.
    resume_tag = checkpoint_to_resume(config, out)
    world: World = init_world(config.engine.threads)
    validate(config, world.size)
    deepspeed_config(config, world, use_bf16(config, world))  # its ConfigErrors, before work
    torch.manual_seed(config.run.seed)
    manifest, records = load_sft_records(config)
    train_records, val_records = split_by_episode(records, config.sft.val_fraction,
                                                  config.run.seed)
    steps = total_steps(config, len(train_records))
    if world.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")
        (out / "dataset_manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    write_run_start(out, world.is_main, resumed=resume_tag is not None)
    checkpoints = out / "checkpoints"

    from rlft.sft.encoding import encode_examples

    lm, tokenizer = load_policy_model(config, world)
    pad_id = tokenizer.pad_token_id
    limit = config.rollout.max_prompt_tokens
    prompts, answers = encode_examples(train_records, tokenizer, limit)
    val_prompts, val_answers = encode_examples(val_records, tokenizer, limit)
    if config.model.lora:
        lm = add_lora(config, lm)
    engine, scheduler = build_engine(_engine_config(config), lm, world, steps)
    synced = config.engine.zero_stage == 3 and world.size > 1
    any_active = (lambda flag: agree_any(flag, world)) if synced else bool

    def evaluate(lm: Any) -> dict[str, Any]:
        """The held-out evaluation; under ZeRO-3 on several ranks in lock-step."""
        return evaluate_policy(config, lm, tokenizer, synced, any_active)

    start_step = 0
    results: dict[str, Any] = {}
    if resume_tag is not None:
        state = load_checkpoint(engine, checkpoints, resume_tag)
        start_step, results = state["step"], state.get("results", {})
        if world.is_main:
            print(f"resumed from {checkpoints / resume_tag} at step {start_step}")
    log = RunLog(out, world.is_main, config.run.tensorboard, config.run.wandb, config.to_dict(),
                 start_step)
    if world.is_main:
        print(f"sft: {len(prompts)} training / {len(val_prompts)} validation examples from "
              f"{config.sft.dataset}, {steps} steps of {config.optim.batch_size}")

    if config.eval.at_start and "start policy" not in results:
        engine.eval()
        results["start policy"] = evaluate(engine.module.lm)
        engine.train()

    from tqdm.auto import tqdm

    micro = config.optim.micro_batch_size
    batch_size = config.optim.batch_size
    started = time.perf_counter()
    bar = tqdm(total=steps, initial=start_step, desc="rlft sft",
               disable=not (config.run.progress and world.is_main))
    window: dict[str, float] = {"loss": 0.0, "micro": 0.0, "tokens": 0.0, "seconds": 0.0,
                               "steps": 0.0}
    engine.train()
    for step in range(start_step, steps):
        t0 = time.perf_counter()
        mine = step_indices(len(prompts), batch_size, step, config.run.seed)[world.rank::world.size]
        for first in range(0, len(mine), micro):
            chunk = mine[first:first + micro]
            batch = collate([prompts[i] for i in chunk], [answers[i] for i in chunk], pad_id,
                            world.device)
            loss = target_nll(engine, batch)
            engine.backward(loss)
            engine.step()
            window["loss"] += float(loss.detach())
            window["micro"] += 1
            window["tokens"] += float(batch.attention_mask.sum())
        window["seconds"] += time.perf_counter() - t0
        window["steps"] += 1
        bar.update(1)
        done = step + 1 == steps or out_of_time(config.run.time_limit_s, started,
                                                time.perf_counter() - t0, world)
        if (step + 1) % config.sft.log_every == 0 or done:
            metrics = {
                "sft/loss": window["loss"] / window["micro"],
                "sft/val_loss": validation_loss(engine, val_prompts, val_answers, pad_id, micro,
                                                world.device),
                "sft/epoch": (step + 1) * batch_size / len(prompts),
                "optim/lr": float(scheduler.get_last_lr()[0]),
                "perf/step_s": window["seconds"] / window["steps"],
                "perf/train_tokens_per_s": window["tokens"] / max(window["seconds"], 1e-9),
            }
            log.log(step, metrics)
            bar.set_postfix(loss=f"{metrics['sft/loss']:.3f}")
            window = dict.fromkeys(window, 0.0)
        every = config.run.checkpoint_every
        if (every and (step + 1) % every == 0) or done:
            save_checkpoint(engine, checkpoints, step + 1, {"step": step + 1, "results": results},
                            config.run.keep_checkpoints, world.is_main)
        if done:
            break
    bar.close()

    finish_run(config, engine, tokenizer, results, out, world, evaluate, _plot_losses)
    if config.eval.analyses and world.is_main:
        analyse_start_and_final(config, out, None)
    log.close()
    write_run_end(out, world.is_main)
    return results
