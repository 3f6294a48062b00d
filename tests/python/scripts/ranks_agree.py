"""Run under the deepspeed launcher on 2 CPU ranks: what every rank must agree on, written to
<out>/rank<r>.json for tests/python/test_trainer_runs.py to compare.

- The warm start ends with different weights on each rank (as CUDA's backward would, which is
  not bitwise deterministic); the trainer's start must still give every rank a reference
  policy equal to the policy it trains, so that the first KL is exactly 0.
- The reward scaler sees different rewards on each rank and must hold the same statistics.
- The held-out evaluation and a baseline, played with the seeds shared out among the ranks
  (under ZeRO-3 in lock-step too: a rank out of seeds repeats one and drops it)."""

import argparse
import json
from pathlib import Path

import numpy as np
import torch

import rlft.evaluation.runner as runner
import rlft.trainer.loop as loop
from rlft.trainer.config import load_config
from rlft.trainer.engine import agree_any, gathered_for_generation, init_world
from rlft.trainer.evaluate import evaluate_baseline, evaluate_policy
from rlft.trainer.rewards import RewardScaler
from rlft.trainer.rollout import Transition

OVERRIDES = ["rollout.num_envs=2", "env.horizon=2", "rollout.max_new_tokens=4",
             "optim.batch_size=4", "optim.micro_batch_size=1", "warm_start.steps=2",
             "warm_start.batch_size=2", "eval.episodes=2", "eval.seeds=3", "run.progress=false"]
PROMPTS = ("Step=0 Action=blue Reward=0.50\nWhat do you predict next?",
           "Summary: red 2 times, average 0.31", "Next?")


def transitions(tokenizer, rank: int) -> list[Transition]:
    """Two rows of two steps, with rewards that differ between the ranks."""
    ids = [tokenizer(text)["input_ids"] for text in PROMPTS]
    answer = tokenizer("ACTION=blue")["input_ids"]
    return [Transition(row=row, step=step, prompt_ids=ids[(row + step) % 3], answer_ids=answer,
                       env_reward=float((rank + 1) * (row - step + 0.5)), invalid=False,
                       novel=True, sampled_logprobs=[])
            for step in range(2) for row in range(2)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--stage", type=int, default=2)
    parser.add_argument("--lockstep", action="store_true", help="ZeRO-3 without gathering")
    parser.add_argument("--local_rank", type=int, default=0)
    args = parser.parse_args()
    world = init_world(threads=1)
    config = load_config(None, [*OVERRIDES, f"engine.zero_stage={args.stage}",
                                f"run.out_dir={args.out}"], world_size=2)
    trained = loop.configured_warm_start

    def uneven_warm_start(config, lm, *rest):
        losses = trained(config, lm, *rest)
        with torch.no_grad():
            for parameter in lm.parameters():
                parameter.add_(1e-3 * world.rank)
        return losses

    loop.configured_warm_start = uneven_warm_start
    engine, _, reference, tokenizer = loop.start_policy(config, world, Path(args.out), False)
    steps = transitions(tokenizer, world.rank)
    old, ref, _ = loop.rollout_logprobs(config, engine, reference, steps,
                                        tokenizer.pad_token_id, world.device, False)
    scaler = RewardScaler(config.algo.gamma)
    loop.compute_advantages(config, steps, 2, scaler, None, np.zeros(len(steps)), world)

    played: list[int] = []
    play = runner.run_episodes

    def recorded(env, agent, seed, **kwargs):
        played.append(seed)
        return play(env, agent, seed=seed, **kwargs)

    runner.run_episodes = recorded
    engine.eval()
    # As the trainer evaluates under ZeRO-3: with gathered weights, or in lock-step.
    lockstep = args.stage == 3 and args.lockstep
    with gathered_for_generation(engine, args.stage == 3 and not lockstep):
        policy = evaluate_policy(config, engine.module.lm, tokenizer, lockstep,
                                 (lambda flag: agree_any(flag, world)) if lockstep else bool)
    ucb = evaluate_baseline(config, "ucb")
    Path(args.out, f"rank{world.rank}.json").write_text(json.dumps({
        "kl_max": max(float((o - r).abs().max()) for o, r in zip(old, ref)),
        "scaler": scaler.state_dict(), "played": played,
        "policy": policy["per_instance"], "ucb": ucb["per_instance"]}))


if __name__ == "__main__":
    main()
