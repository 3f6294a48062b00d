"""One rank of the ZeRO memory benchmark: a ~115M-parameter tiny-preset Llama trained for a few
steps through rlft's own engine set-up (build_engine: PolicyWithValue, AdamW, the named
configs/ds/zero<N>.json), reporting this rank's peak and current RSS.

Launched by benchmarks/trainer.py as
``deepspeed --num_gpus 2 --master_port P benchmarks/zero_rss.py --stage N --out DIR``
(OMP_NUM_THREADS=1); writes DIR/rank<R>.json. ``--smoke``: a toy model instead.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

os.environ.setdefault("DS_ACCELERATOR", "cpu")

# hidden 768, 12 layers, 12 heads, MLP 3072, vocab 1024 (tied embeddings): about 115M parameters.
MODEL_OPTIONS = {"hidden_size": 768, "num_layers": 12, "num_heads": 12,
                 "intermediate_size": 3072}
SMOKE_MODEL_OPTIONS = {"hidden_size": 64, "num_layers": 2, "num_heads": 4,
                       "intermediate_size": 128}
SEQUENCE = 128       # prompt + answer tokens per sequence
ANSWER = 32          # answer tokens (the ones scored), as in an RL update
MICRO_BATCH = 1
STEPS = 2


def model_options(smoke: bool) -> dict[str, int]:
    """The tiny preset's settings: the benchmark's model, or a toy one for --smoke."""
    return SMOKE_MODEL_OPTIONS if smoke else MODEL_OPTIONS


def _rss_mb() -> tuple[float, float]:
    """(peak RSS so far, current RSS) of this process in MiB."""
    import psutil

    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return peak_kib / 1024, psutil.Process().memory_info().rss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stage", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--local_rank", "--local-rank", type=int, default=None)
    parser.add_argument("--smoke", action="store_true", help="a toy model (the test suite's run)")
    args = parser.parse_args()

    import torch

    from rlft.models import load_model_and_tokenizer
    from rlft.trainer.config import TrainConfig
    from rlft.trainer.engine import build_engine, init_world
    from rlft.trainer.policy import answer_logprobs, collate

    world = init_world(threads=1)
    config = TrainConfig()
    config.engine.zero_stage = args.stage
    config.optim.micro_batch_size = MICRO_BATCH
    config.optim.batch_size = MICRO_BATCH * world.size
    config.optim.warmup_steps = 1
    lm, _ = load_model_and_tokenizer("tiny", preset_options=model_options(args.smoke))
    parameters = sum(p.numel() for p in lm.parameters())
    peak_loaded, _ = _rss_mb()
    engine, _ = build_engine(config, lm, world, total_steps=STEPS)
    _, rss_engine = _rss_mb()  # under ZeRO-3 the full weights were partitioned in place

    generator = torch.Generator().manual_seed(world.rank)
    vocab = engine.module.lm.config.vocab_size
    losses, started = [], time.perf_counter()
    for _ in range(STEPS):
        tokens = torch.randint(4, vocab, (MICRO_BATCH, SEQUENCE), generator=generator)
        batch = collate(tokens[:, :-ANSWER].tolist(), tokens[:, -ANSWER:].tolist(), 3,
                        world.device)
        logp, _, _ = answer_logprobs(engine, batch)
        loss = -(logp * batch.answer_mask).sum() / batch.answer_mask.sum()
        engine.backward(loss)
        engine.step()
        losses.append(float(loss.detach()))
    step_seconds = (time.perf_counter() - started) / STEPS
    peak, current = _rss_mb()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / f"rank{world.rank}.json").write_text(json.dumps({
        "stage": args.stage, "rank": world.rank, "world_size": world.size,
        "parameters": parameters, "peak_rss_mb": peak,
        "peak_rss_after_load_mb": peak_loaded, "rss_after_engine_mb": rss_engine,
        "rss_after_steps_mb": current, "seconds_per_step": step_seconds, "losses": losses}))


if __name__ == "__main__":
    main()
