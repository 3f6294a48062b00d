"""Atomic checkpoints and the exported policy.

A checkpoint is written under ``checkpoints/.tmp/<tag>`` and renamed to
``checkpoints/<tag>`` once every rank has written its part; only then does the ``latest``
pointer (itself replaced atomically) name it. A run killed at any moment therefore leaves the
previous checkpoint as the latest. The last ``keep`` checkpoints are kept.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch

LATEST = "latest"
# Fields a resumed run may change: they decide how long it runs and what it writes, not what
# it computes.
RESUMABLE_FIELDS = frozenset({
    "run.iterations", "run.time_limit_s", "run.checkpoint_every", "run.keep_checkpoints",
    "run.resume", "run.export", "run.tensorboard", "run.wandb", "run.sample_rollouts",
    "run.progress"})


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def barrier() -> None:
    if torch.distributed.is_initialized():
        torch.distributed.barrier()


def save_checkpoint(engine: Any, directory: Path, iteration: int, state: dict[str, Any],
                    keep: int, is_main: bool) -> Path:
    """engine state (model, optimizer, scheduler) + rlft's state (JSON) as tag iter_<N>."""
    directory = Path(directory)
    tag = f"iter_{iteration:06d}"
    staging = directory / ".tmp"
    if is_main:
        shutil.rmtree(staging / tag, ignore_errors=True)
        staging.mkdir(parents=True, exist_ok=True)
    barrier()
    engine.save_checkpoint(str(staging), tag=tag, save_latest=False)
    barrier()
    final = directory / tag
    if is_main:
        (staging / tag / "rlft_state.json").write_text(json.dumps(state))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(staging / tag, final)
        _atomic_write(directory / LATEST, tag)
        tags = sorted(p.name for p in directory.glob("iter_*") if p.is_dir())
        for old in tags[:-keep]:
            shutil.rmtree(directory / old, ignore_errors=True)
    barrier()
    return final


def latest_checkpoint(directory: Path) -> str | None:
    pointer = Path(directory) / LATEST
    if not pointer.is_file():
        return None
    tag = pointer.read_text().strip()
    return tag if (Path(directory) / tag / "rlft_state.json").is_file() else None


def load_checkpoint(engine: Any, directory: Path, tag: str) -> dict[str, Any]:
    engine.load_checkpoint(str(directory), tag=tag, load_module_strict=True,
                           load_optimizer_states=True, load_lr_scheduler_states=True)
    return json.loads((Path(directory) / tag / "rlft_state.json").read_text())


def save_model_directory(lm: torch.nn.Module, tokenizer: Any, out_dir: Path,
                         dtype: torch.dtype | None = None) -> None:
    """A plain Hugging Face model directory: safetensors with every weight (tied ones too, so
    it loads strictly), cast to `dtype` if given, and the tokenizer."""
    state = {k: v.detach().to(device="cpu", dtype=dtype).clone()
             for k, v in lm.state_dict().items()}
    lm.save_pretrained(str(out_dir), state_dict=state, safe_serialization=True)
    if dtype is not None:
        # config.json names the model's dtype (bfloat16 for a bf16 engine's), and transformers
        # 5 loads a directory in that dtype by default: make it the weights' dtype.
        config_file = Path(out_dir) / "config.json"
        config = json.loads(config_file.read_text())
        for key in ("dtype", "torch_dtype"):
            if key in config:
                config[key] = str(dtype).removeprefix("torch.")
        config_file.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    tokenizer.save_pretrained(str(out_dir))


def export_policy(engine: Any, tokenizer: Any, out_dir: Path, is_main: bool,
                  lora: bool) -> Path | None:
    """The trained policy as a plain Hugging Face model directory (what `rlft eval --model`
    takes), in the dtype it trained in (bf16 weights written as fp32 would double the files
    and hold nothing more). Under ZeRO-3 the shards are gathered first; LoRA adapters are
    merged."""
    import deepspeed

    policy = engine.module
    zero3 = engine.zero_optimization_stage() == 3
    parameters = list(policy.lm.parameters())
    with deepspeed.zero.GatheredParameters(parameters, modifier_rank=None, enabled=zero3):
        if is_main:
            lm = policy.lm
            if lora:
                lm = lm.merge_and_unload()
            save_model_directory(lm, tokenizer, Path(out_dir), next(lm.parameters()).dtype)
    barrier()
    return Path(out_dir) if is_main else None


def _flat(config: dict[str, Any]) -> dict[str, Any]:
    return {f"{section}.{key}": value for section, fields in config.items()
            for key, value in fields.items()}


def checkpoint_to_resume(config: Any, out_dir: Path) -> str | None:
    """The tag of the run directory's checkpoint that this run continues from, or None to
    start afresh. Raises ConfigError, before any work, when the directory holds a run whose
    saved config differs from `config` in a field that changes results (run.resume=auto)."""
    from rlft.trainer.config import ConfigError

    if config.run.resume == "never":
        return None
    tag = latest_checkpoint(Path(out_dir) / "checkpoints")
    saved_file = Path(out_dir) / "config.json"
    if tag is None or config.run.resume == "force" or not saved_file.is_file():
        return tag
    saved, ours = _flat(json.loads(saved_file.read_text())), _flat(config.to_dict())
    # Only the current fields are compared: one since removed (still in an older run's
    # config.json) can no longer be set, so it does not block the resume.
    differing = sorted(key for key in ours
                       if key not in RESUMABLE_FIELDS and saved.get(key) != ours[key])
    if differing:
        shown = ", ".join(f"{key} (saved {saved.get(key)!r}, now {ours.get(key)!r})"
                          for key in differing[:6])
        raise ConfigError(
            f"run.out_dir {str(out_dir)!r} holds a run with a different config: {shown}"
            f"{' ...' if len(differing) > 6 else ''}. Use a new run.out_dir, run.resume=force "
            f"to continue it anyway, or run.resume=never to start over there")
    return tag
