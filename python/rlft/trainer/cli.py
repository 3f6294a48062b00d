"""Command line of the trainer, shared by train.py and `rlft train`."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from rlft.trainer.config import DEFAULT_CONFIG



def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rlft train", description="RL fine-tuning of an LLM agent (PPO clip + KL).",
        epilog="Overrides look like optim.lr=3e-4 env.num_arms=10; see configs/*.yaml.")
    parser.add_argument("--config", default=None,
                        help=f"YAML setup (default: configs/{DEFAULT_CONFIG}, the embedded "
                             "CPU default)")
    parser.add_argument("--local_rank", "--local-rank", type=int, default=None,
                        help="set by the deepspeed launcher")
    parser.add_argument("overrides", nargs="*", help="section.key=value")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("DS_ACCELERATOR", "cpu" if not _has_cuda() else "cuda")
    args = build_parser().parse_args(argv)
    from rlft.trainer.config import ConfigError, load_config
    from rlft.trainer.engine import find_config_file

    try:
        path = find_config_file(args.config or DEFAULT_CONFIG) if args.config is None \
            else args.config
        # The launcher sets WORLD_SIZE: batch arithmetic is checked for the real world.
        config = load_config(path, args.overrides, int(os.environ.get("WORLD_SIZE", "1")))
        if config.run.mode == "sft":
            from rlft.trainer.sft_loop import train_sft

            train_sft(config)
        else:
            from rlft.trainer.loop import train

            train(config)
    except (ConfigError, FileNotFoundError) as error:
        print(f"rlft train: error: {error}", file=sys.stderr)
        return 2
    return 0


def _has_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False
