"""The ``rlft`` command: ``rlft train``, ``rlft eval``, ``rlft report``, ``rlft analyze``.

Every config dataclass field becomes a flag (``max_new_tokens`` -> ``--max-new-tokens``) with
the field's help text, so the CLI and the config never drift apart.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import sys
import typing
from pathlib import Path
from typing import Any, Sequence


def _is_dataclass_type(hint: Any) -> bool:
    return isinstance(hint, type) and dataclasses.is_dataclass(hint)


def add_dataclass_arguments(parser: argparse.ArgumentParser, config_class: type,
                            defaults: Any = None) -> None:
    """One flag per field of `config_class`, typed from its default (read from `defaults`, an
    instance, when given); a field that is itself a dataclass (the prompt specification)
    contributes its own fields' flags, with the defaults of the outer config's instance."""
    hints = typing.get_type_hints(config_class)
    for f in dataclasses.fields(config_class):
        hint = hints[f.name]
        if defaults is not None:
            default = getattr(defaults, f.name)
        else:
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        if _is_dataclass_type(hint):
            add_dataclass_arguments(parser, hint, default)
            continue
        flag = "--" + f.name.replace("_", "-")
        help_text = f.metadata.get("help", "")
        if hint is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default,
                                help=help_text)
        elif isinstance(hint, type) and issubclass(hint, enum.Enum):
            parser.add_argument(flag, choices=[member.value for member in hint],
                                default=default.value, help=help_text)
        elif isinstance(default, list):
            parser.add_argument(flag, action="append", default=None, metavar="VALUE",
                                help=help_text)
        else:
            kind = default if default is not None else typing.get_args(hint)[0]()
            parser.add_argument(flag, type=type(kind), default=default, help=help_text)


def dataclass_from_args(config_class: type, args: argparse.Namespace) -> Any:
    hints = typing.get_type_hints(config_class)
    values = {}
    for f in dataclasses.fields(config_class):
        if _is_dataclass_type(hints[f.name]):
            values[f.name] = dataclass_from_args(hints[f.name], args)
            continue
        values[f.name] = getattr(args, f.name)
        if values[f.name] is None and f.default is dataclasses.MISSING:
            values[f.name] = f.default_factory()  # an append flag that was never given
    return config_class(**values)


def given_flags(parser: argparse.ArgumentParser, argv: Sequence[str]) -> set[str]:
    """The destinations of the options that `argv` names explicitly."""
    options = {option: action.dest for action in parser._actions
               for option in action.option_strings}
    return {options[token.split("=", 1)[0]] for token in argv
            if token.startswith("--") and token.split("=", 1)[0] in options}


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
    from rlft.sft.cli import add_data_parser

    add_data_parser(commands)
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
