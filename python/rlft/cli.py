"""The ``rlft`` command: ``rlft train``, ``rlft eval``, ``rlft report``, ``rlft analyze``,
``rlft data``, ``rlft build-agent``.

Every config dataclass field becomes a flag (``max_new_tokens`` -> ``--max-new-tokens``) with
the field's help text, so the CLI and the config never drift apart.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from rlft.cli_args import add_dataclass_arguments, dataclass_from_args, given_flags


def _eval(args: argparse.Namespace) -> int:
    from rlft.evaluation import EvalConfig, run_evaluation
    from rlft.evaluation.config import POLICY_EVAL_FILE, load_policy_eval, with_policy_eval

    config = dataclass_from_args(EvalConfig, args)
    saved = load_policy_eval(config.model) if config.agent == "llm" else None
    if saved is not None:  # an exported policy: evaluate it as its run did
        config, overriding = with_policy_eval(config, saved, given_flags(args.parser, args.argv))
        print(f"rlft eval: env, instances, prompt and sampling from "
              f"{Path(config.model) / POLICY_EVAL_FILE}"
              + (f"; overridden by the flags {', '.join(overriding)}" if overriding else ""))
    metrics = run_evaluation(config, show_progress=not args.quiet)
    keys = ("win_rate", "draw_rate", "loss_rate", "shaped_return", "invalid_rate") \
        if config.env == "tictactoe" else \
        ("final_regret", "final_regret_ci95", "coverage_final", "shaped_return", "invalid_rate")
    print(json.dumps({key: metrics[key] for key in keys}, indent=2))
    print(f"wrote {config.out}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from rlft.evaluation.report import write_report

    out = Path(args.out) if args.out else Path(args.runs[0]).parent / "report"
    print(write_report([Path(run) for run in args.runs], out), end="")
    print(f"wrote {out / 'report.md'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from rlft.evaluation.config import EvalConfig

    parser = argparse.ArgumentParser(prog="rlft", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    evaluate = commands.add_parser(
        "eval", help="evaluate an agent on seeded env instances", allow_abbrev=False,
        description="Evaluate an agent. With --agent llm and --model pointing at a run's "
                    "exported model, the env, instances, prompt and sampling that run was "
                    "evaluated with are the defaults (flags given here override them).")
    add_dataclass_arguments(evaluate, EvalConfig)
    evaluate.add_argument("--quiet", action="store_true", help="no progress bar")
    evaluate.set_defaults(handler=_eval, parser=evaluate)
    report = commands.add_parser("report", help="compare evaluation runs side by side")
    report.add_argument("runs", nargs="+", help="run directories written by rlft eval")
    report.add_argument("--out", default=None, help="report directory (default RUNS[0]/../report)")
    report.set_defaults(handler=_report)
    from rlft.sft.cli import add_build_agent_parser, add_data_parser

    add_data_parser(commands)
    add_build_agent_parser(commands)
    from rlft.analysis.cli import add_analyze_parser

    add_analyze_parser(commands)
    commands.add_parser("train", help="RL fine-tuning (same flags as python/rlft/train.py; "
                                      "rlft train --help)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["train"]:  # the trainer owns its flags: rlft train --help
        from rlft.trainer.cli import main as train_main

        return train_main(argv[1:])
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        return int(args.handler(args))
    except (ValueError, TypeError, FileNotFoundError) as error:
        print(f"rlft {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
