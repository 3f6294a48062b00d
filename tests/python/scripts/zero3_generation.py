"""Run under the deepspeed launcher: the tiny policy under ZeRO-3 generates greedily for this
rank's prompts twice, with every decoded token gathering the shards in lock-step and with the
weights gathered once (gathered_for_generation), and writes both to <out>/rank<r>.json.
Ranks get different numbers of prompts, so their generate() calls differ in chunk count.
tests/python/test_trainer_runs.py compares both with the unsharded model's answers."""

import argparse
import json
from pathlib import Path

from rlft.agents.generation import SamplingConfig, SharedPrefix, generate
from rlft.trainer.config import load_config
from rlft.trainer.engine import build_engine, gathered_for_generation, init_world
from rlft.trainer.loop import load_policy_model

SHARED = "<|im_start|>user\nYou are a bandit algorithm in a room with 5 buttons."
ROWS = ("Step=0 Action=blue Reward=0.50", "So far you have tried/seen: nothing.",
        "Step=1 Action=red Reward=1.25\nWhat do you predict next?", "Next?", "ACTION=",
        "Summary: red 2 times, average 0.31")


def rank_prompts(tokenizer, rank: int) -> tuple[list[int], list[list[int]]]:
    """The shared prefix's ids and rank `rank`'s prompts (3 on rank 0, 5 on rank 1)."""
    prefix = tokenizer(SHARED, add_special_tokens=False)["input_ids"]
    rows = ROWS[:3] if rank == 0 else ROWS[1:]
    return prefix, [prefix + tokenizer("\n" + row, add_special_tokens=False)["input_ids"]
                    for row in rows]


SAMPLING = SamplingConfig(temperature=0.0, max_new_tokens=8, batch_size=2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--local_rank", type=int, default=0)
    args = parser.parse_args()
    world = init_world(threads=1)
    config = load_config(None, ["engine.zero_stage=3", "optim.batch_size=2",
                                "optim.micro_batch_size=1", "rollout.num_envs=2"])
    lm, tokenizer = load_policy_model(config, world)
    engine, _ = build_engine(config, lm, world, total_steps=10)
    engine.eval()
    prefix, prompts = rank_prompts(tokenizer, world.rank)
    lm = engine.module.lm
    lockstep = generate(lm, tokenizer, prompts, SAMPLING, synced_gpus=True,
                        prefix=SharedPrefix(prefix))
    with gathered_for_generation(engine, True):
        gathered = generate(lm, tokenizer, prompts, SAMPLING, prefix=SharedPrefix(prefix))
    # The hooks are back: a lock-step call after the gathered one still works.
    again = generate(lm, tokenizer, prompts[:1], SAMPLING, synced_gpus=True)
    Path(args.out, f"rank{world.rank}.json").write_text(json.dumps({
        "lockstep": lockstep.token_ids, "gathered": gathered.token_ids,
        "again": again.token_ids}))


if __name__ == "__main__":
    main()
