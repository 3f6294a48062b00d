"""How much a contextual-bandit policy can gain without reading the user, and how loud the
rewards-to-go around one step's choice are: the numbers behind what RL fine-tuning can learn on
the MovieLens-style env of configs/cb_cpu.yaml.

From the env's reward table (the rank-10 approximation of the ratings), per split:
- each movie's mean reward over the split's users, and which movie is best for how many;
- the regret per step of random, of the movie best on average over the *train* users (all a
  policy that ignores the user can learn), and 0 for the best movie per user (LinUCB's aim);
- the standard deviation of one step's reward under random choices, and of the sum of the
  other horizon - 1 steps' rewards, which the paper's rewards-to-go (gamma 1) add to a step's
  return: the noise around the signal of one good choice.

Writes benchmarks/results/cb_signal.json.

    RLFT_CORE_DIR=build/dev PYTHONPATH=python python benchmarks/cb_signal.py
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from provenance import stamp

ROOT = Path(__file__).resolve().parents[1]


def measure(config_path: Path) -> dict[str, Any]:
    from rlft.envs import make
    from rlft.trainer.config import env_options, load_config

    config = load_config(config_path)
    tables = {}
    for split in ("train", "eval"):
        env = make("contextual_bandit", num_envs=1, seed=config.run.seed,
                   **env_options(config, split))
        tables[split] = np.asarray(env.table.rewards, dtype=np.float64)[env.split_users]
    train_best = int(tables["train"].mean(axis=0).argmax())
    horizon = config.env.horizon
    out: dict[str, Any] = {"config": str(config_path.relative_to(ROOT)), "horizon": horizon,
                           "movie_best_on_train_users": train_best, "splits": {}}
    for split, rewards in tables.items():
        best = rewards.max(axis=1)
        step_sd = float(rewards.std())
        out["splits"][split] = {
            "users": int(rewards.shape[0]),
            "movie_means": rewards.mean(axis=0).round(4).tolist(),
            "best_movie_share": (np.bincount(rewards.argmax(axis=1), minlength=rewards.shape[1])
                                 / rewards.shape[0]).round(4).tolist(),
            "regret_per_step_random": float((best - rewards.mean(axis=1)).mean()),
            "regret_per_step_train_best_movie": float((best - rewards[:, train_best]).mean()),
            "reward_sd_per_step_random": step_sd,
            "other_steps_sum_sd_random": float(np.sqrt(horizon - 1) * step_sd),
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "cb_cpu.yaml")
    parser.add_argument("--smoke", action="store_true",
                        help="write into a temporary directory (a test)")
    args = parser.parse_args()
    result = measure(args.config.resolve())
    config = os.path.relpath(args.config.resolve(), ROOT)   # no machine's folders in results
    result.update(stamp({"config": config, "smoke": args.smoke}, inputs=[config]))
    text = json.dumps(result, indent=2) + "\n"
    print(text, end="")
    if args.smoke:
        with tempfile.TemporaryDirectory() as scratch:
            (Path(scratch) / "cb_signal.json").write_text(text)
        return 0
    (ROOT / "benchmarks" / "results" / "cb_signal.json").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
