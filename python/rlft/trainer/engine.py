"""DeepSpeed set-up: the distributed world (one rank without a launcher too), the named ZeRO
config, the optimizer and schedule, the policy engine, the frozen reference policy, and the
gathered weights that ZeRO-3 rollouts generate with."""

from __future__ import annotations

import copy
import json
import math
import os
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from rlft.trainer.config import TrainConfig
from rlft.trainer.policy import PolicyWithValue, enable_gradient_checkpointing
from rlft.trainer.rank_agreement import check_start


@dataclass
class World:
    rank: int
    local_rank: int
    size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def agree_any(flag: bool, world: World) -> bool:
    """True on every rank when `flag` is True on any rank: a decision all ranks take together
    (each rank's own clock or statistics may differ)."""
    if world.size == 1 or not torch.distributed.is_initialized():
        return bool(flag)
    # On the rank's device: NCCL reduces CUDA tensors only, gloo takes CPU ones.
    vote = torch.tensor([int(bool(flag))], device=world.device)
    torch.distributed.all_reduce(vote, op=torch.distributed.ReduceOp.MAX)
    return bool(vote.item())


def out_of_time(limit_s: float, started: float, last_s: float, world: World) -> bool:
    """Whether to stop before the next iteration (the same answer on every rank): another
    one like the last (last_s seconds) would end past limit_s seconds after `started`
    (perf_counter). limit_s 0: never."""
    elapsed = time.perf_counter() - started
    return agree_any(bool(limit_s) and elapsed + last_s > limit_s, world)


def broadcast_from_main(module: torch.nn.Module, world: World) -> None:
    """Every rank's parameters and buffers become rank 0's, bit for bit. After a warm start
    (not bitwise reproducible on CUDA) every rank must copy its reference from the weights
    that DeepSpeed will broadcast as the policy, or the reference is not the start policy."""
    if world.size == 1:
        return
    for tensor in [*module.parameters(), *module.buffers()]:
        # On the rank's device: NCCL broadcasts CUDA tensors only (ZeRO-3 loads on the CPU).
        shared = tensor.data.to(world.device)
        torch.distributed.broadcast(shared, src=0)
        if shared.data_ptr() != tensor.data.data_ptr():
            tensor.data.copy_(shared)


def gather_rows(grid: np.ndarray, world: World) -> np.ndarray:
    """Every rank's [rows, steps] grid stacked in rank order, padded with NaN to the most
    steps (the same array on every rank)."""
    if world.size == 1:
        return grid
    parts: list[Any] = [None] * world.size
    torch.distributed.all_gather_object(parts, grid)
    steps = max(part.shape[1] for part in parts)
    return np.concatenate([np.pad(part, ((0, 0), (0, steps - part.shape[1])),
                                  constant_values=np.nan) for part in parts])


# How reduce_metrics combines a metric over ranks (a mean by default): the world's totals and
# throughputs are sums, the slowest rank's wall time and the largest maximum are kept.
_SUMMED = ("rollout/transitions", "optim/trained_tokens", "perf/generate_tokens_per_s",
           "perf/update_tokens_per_s")


def reduce_metrics(metrics: dict[str, float], world: World) -> dict[str, float]:
    """An iteration's metrics over all ranks, each rank's rollout counted once: per-row and
    per-transition means are the mean of the ranks' means (ranks play as many rows)."""
    if world.size == 1:
        return metrics
    parts: list[Any] = [None] * world.size
    torch.distributed.all_gather_object(parts, metrics)
    reduced = {}
    for key in metrics:
        values = [part[key] for part in parts]
        if key in _SUMMED:
            reduced[key] = float(sum(values))
        elif key.endswith("_max") or (key.startswith("perf/") and key.endswith("_s")):
            reduced[key] = float(max(values))
        else:
            reduced[key] = float(np.mean(values))
    return reduced


def disable_dropout(model: torch.nn.Module) -> int:
    """Sets every dropout probability of `model` to 0, gradients untouched; returns how many
    were non-zero. Covers ``nn.Dropout`` modules (GPT-2 style), the float attributes that
    attention layers read in training mode (``attention_dropout`` in Llama, Qwen and Gemma)
    and the config fields models read at forward time."""
    changed = 0
    for module in model.modules():
        if isinstance(module, torch.nn.modules.dropout._DropoutNd):
            changed += module.p > 0
            module.p = 0.0
        for name, value in list(vars(module).items()):
            if "dropout" in name and isinstance(value, float):
                changed += value > 0
                setattr(module, name, 0.0)
    config = getattr(model, "config", None)
    if config is not None:
        for name, value in config.to_dict().items():
            if ("dropout" in name or name.endswith("pdrop")) and isinstance(value, float):
                setattr(config, name, 0.0)
    return int(changed)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def init_world(threads: int = 0) -> World:
    """Joins the launcher's world, or makes a 1-rank world when started as plain python
    (deepspeed would otherwise look for MPI)."""
    import deepspeed

    if "RANK" not in os.environ:
        os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1",
                          MASTER_PORT=str(_free_port()))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
        backend = "nccl"
    else:
        device = torch.device("cpu")
        backend = "gloo"
        # The launcher sets no thread count; N ranks x all cores would oversubscribe the CPU.
        world = int(os.environ.get("WORLD_SIZE", "1"))
        torch.set_num_threads(threads or max(1, (os.cpu_count() or 1) // world))
    if not torch.distributed.is_initialized():
        deepspeed.init_distributed(dist_backend=backend, auto_mpi_discovery=False,
                                   verbose=False)
    return World(torch.distributed.get_rank(), local_rank, torch.distributed.get_world_size(),
                 device)


def config_search_dirs() -> list[Path]:
    """configs/ next to the working directory (a source checkout) or inside the package."""
    return [Path.cwd() / "configs", Path(__file__).resolve().parents[1] / "configs",
            Path(__file__).resolve().parents[3] / "configs"]


def find_config_file(relative: str) -> Path:
    path = Path(relative)
    if path.is_file():
        return path
    for base in config_search_dirs():
        if (base / relative).is_file():
            return base / relative
    raise FileNotFoundError(f"config file {relative} not found in "
                            f"{[str(d) for d in config_search_dirs()]}")


def deepspeed_config(config: TrainConfig, world: World, bf16: bool) -> dict[str, Any]:
    """The named ZeRO JSON plus what rlft's config decides: batch sizes, clipping, precision.

    bf16 gradients summed over many micro-batches lose the small ones, so bf16 runs
    accumulate in fp32 (`data_types.grad_accum_dtype`). DeepSpeed does that only under ZeRO
    (stage 1 on one GPU costs the same as stage 0 plus an fp32 gradient buffer): stage 0
    in bf16 with accumulation is refused, as is Adafactor on flattened shards. train() calls
    this before any work, so that these errors come first."""
    from rlft.trainer.config import ConfigError

    source = config.engine.ds_config or f"ds/zero{config.engine.zero_stage}.json"
    ds = json.loads(find_config_file(source).read_text())
    micro = config.optim.micro_batch_size
    accumulation = config.optim.batch_size // (micro * world.size)
    stage = ds.get("zero_optimization", {}).get("stage", 0)
    if config.optim.optimizer == "adafactor" and (bf16 or stage > 0):
        raise ConfigError(
            "optim.optimizer=adafactor: under ZeRO (engine.zero_stage > 0) or in bf16 DeepSpeed "
            "hands the optimizer flat 1-D shards, where Adafactor neither factorises its "
            "second moment nor clips its update per matrix, and its steps depend on the "
            "number of ranks; use optim.optimizer=adamw (docs/training.md)")
    if bf16 and stage == 0 and accumulation > 1:
        raise ConfigError(
            f"engine.zero_stage=0 in bf16 would sum gradients over {accumulation} micro-batches "
            "in bf16 (DeepSpeed accumulates in fp32 only under ZeRO): use engine.zero_stage=1, "
            "or optim.batch_size = optim.micro_batch_size x ranks")
    ds.update(
        train_batch_size=config.optim.batch_size,
        train_micro_batch_size_per_gpu=micro,
        gradient_accumulation_steps=accumulation,
        gradient_clipping=config.optim.grad_clip,
        bf16={"enabled": bf16},
    )
    if bf16 and stage > 0:
        ds.setdefault("data_types", {}).setdefault("grad_accum_dtype", "fp32")
    return ds


def use_bf16(config: TrainConfig, world: World | None = None) -> bool:
    """Whether the run trains in bf16: model.dtype, where 'auto' means bf16 on a GPU that has
    it (world: the run's; None: this process's, which init_world makes the run's)."""
    if config.model.dtype == "auto":
        cuda = world.device.type == "cuda" if world is not None else torch.cuda.is_available()
        return cuda and torch.cuda.is_bf16_supported()
    return config.model.dtype == "bfloat16"


def lr_lambda(config: TrainConfig, total_steps: int) -> Any:
    """Linear warm-up to lr, then cosine decay to min_lr (the paper's schedule)."""
    warmup = config.optim.warmup_steps
    floor = config.optim.min_lr / config.optim.lr if config.optim.lr > 0 else 0.0

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def make_optimizer(config: TrainConfig, parameters: list[torch.nn.Parameter]
                   ) -> torch.optim.Optimizer:
    if config.optim.optimizer == "adafactor":
        from transformers.optimization import Adafactor

        return Adafactor(parameters, lr=config.optim.lr, weight_decay=config.optim.weight_decay,
                         scale_parameter=False, relative_step=False, warmup_init=False)
    return torch.optim.AdamW(parameters, lr=config.optim.lr,
                             weight_decay=config.optim.weight_decay,
                             betas=tuple(config.optim.adam_betas))


def build_engine(config: TrainConfig, lm: torch.nn.Module, world: World, total_steps: int
                 ) -> tuple[Any, Any]:
    """deepspeed.initialize around PolicyWithValue(lm). The model is built and loaded before
    this call, never inside zero.Init: under ZeRO-3 that path can silently leave weights at
    their random init."""
    import deepspeed

    bf16 = use_bf16(config, world)
    if config.engine.gradient_checkpointing:
        enable_gradient_checkpointing(lm)
    policy = PolicyWithValue(lm, value_head=config.algo.advantage == "gae")
    check_start(policy, world)
    trainable = [p for p in policy.parameters() if p.requires_grad]
    optimizer = make_optimizer(config, trainable)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(config, total_steps))
    engine, _, _, scheduler = deepspeed.initialize(
        model=policy, optimizer=optimizer, lr_scheduler=scheduler,
        config=deepspeed_config(config, world, bf16))
    return engine, scheduler


class Reference:
    """The frozen reference policy pi_ref, placed for the stage: with LoRA the base model with
    adapters switched off (no copy); under ZeRO-3 a parameter-sharded inference engine;
    otherwise a frozen copy on the rank's device."""

    def __init__(self, config: TrainConfig, lm: torch.nn.Module, world: World) -> None:
        """Call before build_engine: ZeRO-3 partitions `lm`'s parameters in place."""
        self.engine: Any = None  # set by attach(); used for the adapters-off reference
        self.uses_adapters = config.model.lora
        self.module: Any = None
        if self.uses_adapters:
            return
        frozen = PolicyWithValue(copy.deepcopy(lm), value_head=False).eval()
        for parameter in frozen.parameters():
            parameter.requires_grad_(False)
        if config.engine.zero_stage == 3:
            import deepspeed

            ds = deepspeed_config(config, world, use_bf16(config, world))
            ds.pop("gradient_clipping", None)
            frozen, *_ = deepspeed.initialize(model=frozen, config=ds)
        elif use_bf16(config, world):
            frozen = frozen.to(world.device, dtype=torch.bfloat16)
        else:
            frozen = frozen.to(world.device)
        self.module = frozen

    def attach(self, engine: Any) -> None:
        self.engine = engine

    @contextmanager
    def active(self) -> Iterator[Any]:
        """Yields a module computing reference log-probs."""
        if self.uses_adapters:
            with self.engine.module.lm.disable_adapter():
                yield self.engine
        else:
            yield self.module


@contextmanager
def gathered_for_generation(engine: Any, enabled: bool) -> Iterator[None]:
    """ZeRO-3: inside the context every rank holds the full weights (one all-gather) and the
    engine's per-module hooks, which would fetch and release shards around every forward, are
    removed, so forwards run locally and ranks may generate different numbers of tokens. The
    hooks are registered again and the weights re-partitioned on exit. A no-op unless
    enabled."""
    if not enabled:
        yield
        return
    import deepspeed

    optimizer = engine.optimizer
    offload = getattr(optimizer, "parameter_offload", optimizer)
    with deepspeed.zero.GatheredParameters(list(engine.module.parameters())):
        for parameter in engine.module.parameters():
            parameter.ds_active_sub_modules.clear()  # no module holds them while hooks are off
        for hook in offload.forward_hooks + offload.backward_hooks:
            hook.remove()
        offload.forward_hooks, offload.backward_hooks = [], []
        try:
            yield
        finally:
            offload._register_deepspeed_module(offload.module)
