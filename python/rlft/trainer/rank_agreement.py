"""Checks that the ranks of a data-parallel run hold what they must share. DeepSpeed hides some
divergence: under ZeRO-0/1/2 it broadcasts rank 0's weights at start-up, so a rank whose own
start differed (another warm start, another adapter init) keeps training against its own
reference policy; under ZeRO-3 each rank keeps its shard of its own start, and the model is
a mix. A rank that took another number of optimizer steps trained another model. Each check
is a RuntimeError naming the ranks' values, and on one rank it costs nothing."""

from __future__ import annotations

import hashlib
from typing import Any, Protocol

import torch


class World(Protocol):
    """What the checks need of the trainer's world (rlft.trainer.engine.World)."""

    size: int

    @property
    def is_main(self) -> bool: ...


def weights_digest(module: torch.nn.Module) -> str:
    """sha256 over the module's parameters (name, dtype, shape and bytes), one at a time on
    the CPU, so that a large model is never copied whole."""
    h = hashlib.sha256()
    for name, parameter in module.named_parameters():
        data = parameter.detach().to("cpu").contiguous()
        h.update(f"{name}:{data.dtype}:{tuple(data.shape)}\0".encode())
        h.update(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"")
    return h.hexdigest()


def check_ranks_agree(what: str, value: str, world: World) -> str:
    """`value` when every rank holds the same one; raises naming each rank's otherwise."""
    if world.size == 1 or not torch.distributed.is_initialized():
        return value
    values: list[Any] = [None] * world.size
    torch.distributed.all_gather_object(values, value)
    if len(set(values)) > 1:
        raise RuntimeError(f"the ranks disagree on {what}: "
                           + ", ".join(f"rank {rank}: {v}" for rank, v in enumerate(values)))
    return value


def check_start(policy: torch.nn.Module, world: World) -> None:
    """Before deepspeed.initialize: every rank hands in the same weights (warm start, adapters
    and value head included)."""
    if world.size == 1:
        return
    digest = check_ranks_agree("the weights they start from", weights_digest(policy), world)
    if world.is_main:
        print(f"ranks agree on the starting weights (sha256 {digest[:16]})", flush=True)


def check_end(engine: Any, zero_stage: int, world: World) -> None:
    """After training: the same number of optimizer steps and, below ZeRO-3 (where each rank
    holds a full copy), the same weights. Under ZeRO-3 the weights are one sharded copy."""
    if world.size == 1:
        return
    steps = check_ranks_agree("their optimizer steps", str(engine.global_steps), world)
    digest = "sharded" if zero_stage == 3 else check_ranks_agree(
        "the trained weights", weights_digest(engine.module), world)
    if world.is_main:
        print(f"ranks agree on {steps} optimizer steps and the trained weights "
              f"(sha256 {digest[:16]})", flush=True)
