"""``rlft data``: writes a supervised dataset (see rlft.sft.config.DataConfig for the flags)."""

from __future__ import annotations

import argparse
import time

EXAMPLES = """examples:
  rlft data --kind ucb --target bc --arms 5 --noises medium --out runs/data/ucb_bc
  rlft data --kind ucb --target tc --cot --arms 5 --arms 10 --noises low --noises medium
  rlft data --kind minimax --env tictactoe --opponent random --out runs/data/ttt_minimax
  rlft data --kind format --rationale --cot --out runs/data/format_rationale"""


def add_data_parser(commands: argparse._SubParsersAction) -> None:
    """The `data` subcommand, its flags made from DataConfig's fields."""
    from rlft.cli_args import add_dataclass_arguments
    from rlft.sft.config import DataConfig

    parser = commands.add_parser(
        "data", help="write an expert (BC/TC), minimax or format-only dataset for SFT",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataclass_arguments(parser, DataConfig)
    parser.set_defaults(handler=run_data)


def run_data(args: argparse.Namespace) -> int:
    from rlft.cli_args import dataclass_from_args
    from rlft.sft import make_dataset
    from rlft.sft.config import DataConfig

    config = dataclass_from_args(DataConfig, args)
    started = time.perf_counter()
    manifest = make_dataset(config)
    for setting in manifest["settings"]:
        shown = {k: v for k, v in setting.items() if k not in ("seed", "episodes")}
        print(f"setting {shown}: {setting['episodes']} episodes")
    print(f"wrote {manifest['num_examples']} examples to {config.out} "
          f"in {time.perf_counter() - started:.1f} s")
    return 0


def add_build_agent_parser(commands: argparse._SubParsersAction) -> None:
    """The `build-agent` subcommand: the tiny-agent preset from its recipe."""
    from rlft.models.tiny_agent import ASSET_DIR

    parser = commands.add_parser(
        "build-agent", help="pretrain the tiny-agent preset from its recipe (a YAML file)")
    parser.add_argument("--config", default="configs/tiny_agent.yaml", help="the recipe")
    parser.add_argument("--out", default=str(ASSET_DIR),
                        help="model directory to write (default: the package's own asset, "
                             "the preset that model.name=tiny-agent loads)")
    parser.add_argument("--log-every", type=int, default=250, help="print the loss every N steps")
    parser.set_defaults(handler=run_build_agent)


def run_build_agent(args: argparse.Namespace) -> int:
    from rlft.sft.agent_recipe import build_agent, load_recipe

    manifest = build_agent(load_recipe(args.config), args.out, log_every=args.log_every)
    print(f"wrote {args.out}: {manifest['parameters']} parameters, final loss "
          f"{manifest['final_loss']:.4f}, {manifest['build_s']:.0f} s")
    return 0
