"""Run under the deepspeed launcher: builds the tiny policy with the trainer's engine at the
ZeRO stage given on the command line and writes the loss of a fixed batch (rank 0) to a file.
tests/python/test_trainer_distributed.py compares it with the unsharded model's loss."""

import argparse
import json

import torch

from rlft.trainer.config import load_config
from rlft.trainer.engine import build_engine, init_world
from rlft.trainer.loop import load_policy_model
from rlft.trainer.policy import answer_logprobs, collate


def fixed_batch(tokenizer, device):
    prompts = [tokenizer("Step=0 Action=blue Reward=0.50\nWhat do you predict next?")["input_ids"],
               tokenizer("Summary: red 2 times, average 0.31")["input_ids"]]
    answers = [tokenizer("ACTION=blue")["input_ids"], tokenizer("ACTION=red")["input_ids"]]
    return collate(prompts, answers, tokenizer.pad_token_id, device)


def mean_nll(module, batch) -> torch.Tensor:
    logp, _, _ = answer_logprobs(module, batch)
    mask = batch.answer_mask.float()
    return -(logp * mask).sum() / mask.sum()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stage", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--local_rank", type=int, default=0)
    args = parser.parse_args()
    world = init_world(threads=1)
    config = load_config(None, [f"engine.zero_stage={args.stage}", "optim.batch_size=2",
                                "optim.micro_batch_size=1", "rollout.num_envs=2"])
    lm, tokenizer = load_policy_model(config, world)
    engine, _ = build_engine(config, lm, world, total_steps=10)
    with torch.no_grad():
        loss = float(mean_nll(engine, fixed_batch(tokenizer, world.device)))
    if world.is_main:
        with open(args.out, "w") as f:
            json.dump({"loss": loss, "world_size": world.size}, f)


if __name__ == "__main__":
    main()
