"""The trainer's device path on one rank: the engine at ZeRO 0, 2 and 3, the reference policy's
placement, the warm start under ZeRO-3, LoRA, checkpoint + resume and the export.

Every check runs in this process's 1-rank world, which lives on CUDA where a CUDA device exists
and on the CPU otherwise. Each test therefore has a `cuda` variant (marked `gpu`: bf16 weights,
what scripts/gpu_check.sh runs on a GPU machine) and a `cpu` variant (fp32), the same code,
which runs in CI. On each machine the variant of the other device is skipped with its reason.

Tolerances: fp32 losses agree to a relative 1e-5. bf16 keeps 8 significant bits, so a mean
NLL near 7 computed with bf16 weights and activations is compared to the fp32 computation on
the same (bf16-rounded) weights to a relative 2e-2.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
import torch

from conftest import CUDA_REASON

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "python" / "scripts"))
from zero_first_loss import fixed_batch, mean_nll  # noqa: E402

HAS_CUDA = torch.cuda.is_available()
DEVICES = [
    pytest.param("cpu", marks=pytest.mark.skipif(
        HAS_CUDA, reason="this machine has CUDA, so its 1-rank world runs there: the cuda "
                         "variant applies")),
    pytest.param("cuda", marks=[pytest.mark.gpu,
                                pytest.mark.skipif(not HAS_CUDA, reason=CUDA_REASON)]),
]
DTYPE = {"cpu": torch.float32, "cuda": torch.bfloat16}
RELATIVE = {"cpu": 1e-5, "cuda": 2e-2}
DIST_VARS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
# A constant learning rate large enough for a few AdamW steps to move a fixed batch's loss.
FAST_LR = ["optim.lr=0.001", "optim.min_lr=0.001", "optim.warmup_steps=0"]
# Two sequences, one micro-batch: every engine.step() is an optimizer step.
ONE_BATCH = ["optim.batch_size=2", "optim.micro_batch_size=2"]
# A whole run at CI size: 4 env slots x 3 steps, 6-token answers, 4 held-out instances.
SMALL_RUN = ["rollout.num_envs=4", "env.horizon=3", "rollout.max_new_tokens=6",
             "optim.batch_size=4", "optim.micro_batch_size=2", "optim.warmup_steps=1",
             "eval.episodes=4", "eval.seeds=1", "eval.at_start=false", "eval.baselines=[]",
             "run.progress=false", "run.tensorboard=false", "eval.analyses=[]"]


@pytest.fixture(scope="module")
def world() -> Iterator[Any]:
    """This process's 1-rank world; the launcher variables it sets are restored afterwards so
    that later tests' subprocesses start their own."""
    from rlft.trainer.engine import init_world

    saved = {name: os.environ.get(name) for name in DIST_VARS}
    yield init_world()
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory) -> Iterator[Path]:
    """One preset cache for the module (the tiny preset is built once)."""
    cache = tmp_path_factory.mktemp("gpu-cache")
    previous = os.environ.get("RLFT_CACHE_DIR")
    os.environ["RLFT_CACHE_DIR"] = str(cache)
    yield cache
    if previous is None:
        os.environ.pop("RLFT_CACHE_DIR", None)
    else:
        os.environ["RLFT_CACHE_DIR"] = previous


def _config(*overrides: str) -> Any:
    from rlft.trainer.config import load_config

    return load_config(None, list(overrides))


def _local(parameter: torch.Tensor) -> torch.Tensor:
    """The tensor a rank holds: its shard under ZeRO-3, the parameter itself otherwise."""
    return getattr(parameter, "ds_tensor", parameter)


def _placed(module: torch.nn.Module) -> set[tuple[str, torch.dtype]]:
    return {(_local(p).device.type, _local(p).dtype) for p in module.parameters()}


@torch.no_grad()
def _loss(module: Any, tokenizer: Any, device: torch.device) -> float:
    return float(mean_nll(module, fixed_batch(tokenizer, device)))


def _unsharded_loss(lm: torch.nn.Module, tokenizer: Any) -> float:
    """The fixed batch's loss under an fp32 CPU copy of `lm` (the same, possibly bf16-rounded,
    weights): what every engine must start from."""
    from rlft.trainer.policy import PolicyWithValue

    plain = copy.deepcopy(lm).to("cpu", torch.float32)
    return _loss(PolicyWithValue(plain, value_head=False), tokenizer, torch.device("cpu"))


def _train_steps(engine: Any, tokenizer: Any, device: torch.device, steps: int) -> list[float]:
    engine.train()
    losses = []
    for _ in range(steps):
        loss = mean_nll(engine, fixed_batch(tokenizer, device))
        engine.backward(loss)
        engine.step()
        losses.append(float(loss.detach()))
    engine.eval()
    return losses


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("stage", [0, 2, 3])
def test_engine_starts_from_the_loaded_weights_and_trains(device, stage, world, model_cache):
    from rlft.trainer.engine import Reference, build_engine
    from rlft.trainer.loop import load_policy_model

    assert world.device.type == device
    config = _config(f"engine.zero_stage={stage}", *ONE_BATCH, *FAST_LR)
    lm, tokenizer = load_policy_model(config, world)
    # Under ZeRO-3 the full model waits on the CPU for deepspeed.initialize to shard it.
    assert _placed(lm) == {("cpu" if stage == 3 else device, DTYPE[device])}
    expected = _unsharded_loss(lm, tokenizer)
    reference = Reference(config, lm, world)
    engine, _ = build_engine(config, lm, world, total_steps=10)
    reference.attach(engine)
    assert _placed(engine.module) == {(device, DTYPE[device])}
    # The frozen reference: bf16 on the GPU like the policy, never trained.
    assert _placed(reference.module) == {(device, DTYPE[device])}
    assert not any(p.requires_grad for p in reference.module.parameters())

    first = _loss(engine, tokenizer, world.device)
    with reference.active() as ref_module:
        reference_first = _loss(ref_module, tokenizer, world.device)
    assert first == pytest.approx(expected, rel=RELATIVE[device])
    assert reference_first == pytest.approx(expected, rel=RELATIVE[device])
    assert 3.0 < expected < 9.0  # random init over a 1024-token vocabulary: about ln(1024)

    losses = _train_steps(engine, tokenizer, world.device, steps=5)
    assert losses[0] == pytest.approx(first, rel=RELATIVE[device])
    assert losses[-1] < losses[0] - 1.0, losses  # measured in fp32 on CPU: 6.96 -> 4.53
    with reference.active() as ref_module:
        assert _loss(ref_module, tokenizer, world.device) == reference_first


@pytest.mark.parametrize("device", DEVICES)
def test_zero3_warm_start_runs_on_the_rank_device_and_hands_the_model_back(
        device, world, model_cache, tmp_path, capsys):
    from safetensors.torch import load_file

    from rlft.trainer.engine import Reference, build_engine
    from rlft.trainer.loop import load_policy_model, warm_start

    config = _config("engine.zero_stage=3", *ONE_BATCH, "warm_start.steps=8",
                     "warm_start.batch_size=8", "warm_start.lr=0.003", "env.horizon=3")
    lm, tokenizer = load_policy_model(config, world)
    before = {name: p.detach().clone() for name, p in lm.named_parameters()}
    warm_start(config, lm, tokenizer, world, tmp_path / "warm_start", resuming=False)

    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith("warm start ("))
    first, last = (float(x) for x in line.split("loss ")[1].split(" -> "))
    assert last < first, line
    assert _placed(lm) == {("cpu", DTYPE[device])}  # back where deepspeed.initialize wants it
    assert any(not torch.equal(before[n], p) for n, p in lm.named_parameters())
    saved = load_file(str(tmp_path / "warm_start" / "model.safetensors"))
    assert all(torch.equal(saved[n], p.detach()) for n, p in lm.named_parameters())

    # The sharded engine and reference start from the warm-started weights.
    expected = _unsharded_loss(lm, tokenizer)
    reference = Reference(config, lm, world)
    engine, _ = build_engine(config, lm, world, total_steps=10)
    reference.attach(engine)
    assert _loss(engine, tokenizer, world.device) == pytest.approx(expected,
                                                                   rel=RELATIVE[device])
    with reference.active() as ref_module:
        assert _loss(ref_module, tokenizer, world.device) == pytest.approx(
            expected, rel=RELATIVE[device])


@pytest.mark.parametrize("device", DEVICES)
def test_lora_reference_is_the_base_model_and_the_export_is_merged(device, world, model_cache,
                                                                   tmp_path):
    from transformers import AutoModelForCausalLM

    from rlft.trainer.checkpoint import export_policy
    from rlft.trainer.engine import Reference, build_engine
    from rlft.trainer.loop import add_lora, load_policy_model
    from rlft.trainer.policy import PolicyWithValue

    config = _config("model.lora=true", "model.lora_rank=4", *ONE_BATCH, "optim.lr=0.003",
                     "optim.min_lr=0.003", "optim.warmup_steps=0")
    lm, tokenizer = load_policy_model(config, world)
    base = _unsharded_loss(lm, tokenizer)
    lm = add_lora(config, lm)
    reference = Reference(config, lm, world)
    engine, _ = build_engine(config, lm, world, total_steps=10)
    reference.attach(engine)
    trainable = [n for n, p in engine.module.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in name for name in trainable), trainable
    assert _placed(engine.module) == {(device, DTYPE[device])}

    start = _loss(engine, tokenizer, world.device)
    assert start == pytest.approx(base, rel=RELATIVE[device])  # LoRA's B starts at zero
    losses = _train_steps(engine, tokenizer, world.device, steps=4)
    assert losses[-1] < losses[0] - 0.5, losses  # fp32 on CPU, 1 or 2 threads: 6.96 -> 5.80
    trained = _loss(engine, tokenizer, world.device)
    with reference.active() as ref_module:
        assert _loss(ref_module, tokenizer, world.device) == pytest.approx(
            start, rel=RELATIVE[device])

    export_policy(engine, tokenizer, tmp_path / "model", is_main=True, lora=True)
    assert not (tmp_path / "model" / "adapter_config.json").exists()
    exported = AutoModelForCausalLM.from_pretrained(tmp_path / "model")
    assert next(exported.parameters()).dtype == DTYPE[device]  # the dtype it trained in
    exported_loss = _loss(PolicyWithValue(exported, value_head=False), tokenizer,
                          torch.device("cpu"))
    assert exported_loss == pytest.approx(trained, rel=RELATIVE[device])


def _metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("device", DEVICES)
def test_zero3_run_with_warm_start_resumes_and_exports_its_final_weights(
        device, world, model_cache, tmp_path, capsys):
    from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint
    from safetensors.torch import load_file

    from rlft.trainer.loop import train

    out = tmp_path / "run"
    args = [*SMALL_RUN, "engine.zero_stage=3", "warm_start.steps=4", "warm_start.batch_size=8",
            "run.checkpoint_every=1", f"run.out_dir={out}"]
    train(_config(*args, "run.iterations=2"))
    assert (out / "checkpoints" / "latest").read_text() == "iter_000002"
    capsys.readouterr()
    results = train(_config(*args, "run.iterations=3"))
    assert f"resumed from {out / 'checkpoints' / 'iter_000002'} at iteration 2" in \
        capsys.readouterr().out
    metrics = _metrics(out)
    assert [m["iteration"] for m in metrics] == [0, 1, 2]
    assert all(m["optim/updates"] >= 1 for m in metrics)
    assert all(torch.isfinite(torch.tensor(m["policy/kl"])) for m in metrics)
    # The warm start's format expert teaches ACTION=<label> with no rationale, which fits the
    # 6-token budget: every answer of the warm-started, RL-trained policy is valid.
    assert results["final policy"]["invalid_rate"] == 0.0

    # The export gathers every shard: the fp32 master weights of the last checkpoint, rounded
    # to the engine's dtype, bit for bit, and written in that dtype.
    master = get_fp32_state_dict_from_zero_checkpoint(str(out / "checkpoints"),
                                                      tag="iter_000003")
    exported = load_file(str(out / "model" / "model.safetensors"))
    assert json.loads((out / "model" / "config.json").read_text())["dtype"] == \
        str(DTYPE[device]).removeprefix("torch.")
    lm_master = {name.removeprefix("lm."): w for name, w in master.items()}
    assert lm_master and set(lm_master) <= set(exported)
    for name, weights in lm_master.items():
        assert exported[name].dtype == DTYPE[device]
        assert torch.equal(exported[name], weights.to(DTYPE[device])), name


def test_a_bf16_engine_exports_bf16_weights(world, model_cache, tmp_path):
    # Written as fp32 they took twice the room (37 GB for a 9B) and held nothing more.
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from rlft.trainer.checkpoint import export_policy
    from rlft.trainer.engine import build_engine
    from rlft.trainer.loop import load_policy_model

    config = _config("model.dtype=bfloat16", *ONE_BATCH)
    lm, tokenizer = load_policy_model(config, world)
    engine, _ = build_engine(config, lm, world, total_steps=10)
    export_policy(engine, tokenizer, tmp_path, is_main=True, lora=False)
    assert json.loads((tmp_path / "config.json").read_text())["dtype"] == "bfloat16"
    weights = load_file(str(tmp_path / "model.safetensors"))
    assert {w.dtype for w in weights.values()} == {torch.bfloat16}
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    for name, parameter in engine.module.lm.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], parameter.cpu()), name


def test_float32_export_of_a_bf16_model_loads_as_float32(tiny_model, tmp_path):
    # A bf16 engine's export (found running the cpu variants above with bf16 weights): the
    # weights were written in fp32 but config.json still said bfloat16, so a plain
    # from_pretrained (transformers 5: the config's dtype by default) loaded them in bf16.
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from rlft.trainer.checkpoint import save_model_directory

    model, tokenizer = tiny_model
    bf16 = copy.deepcopy(model).to(torch.bfloat16)
    save_model_directory(bf16, tokenizer, tmp_path, torch.float32)
    assert json.loads((tmp_path / "config.json").read_text())["dtype"] == "float32"
    assert {w.dtype for w in load_file(str(tmp_path / "model.safetensors")).values()} == \
        {torch.float32}
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    originals = bf16.state_dict()
    for name, weights in loaded.state_dict().items():
        assert weights.dtype == torch.float32, name
        assert torch.equal(weights, originals[name].float()), name
