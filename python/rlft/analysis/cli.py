"""``rlft analyze greediness | frequency-bias | knowing-doing``: one subcommand per analysis,
one flag per field of its config dataclass (rlft.analysis.config)."""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_analyze_parser(commands: Any) -> None:
    """Adds ``analyze`` and its three subcommands to the ``rlft`` subparsers."""
    from rlft.analysis.config import ANALYSIS_CONFIGS
    from rlft.cli_args import add_dataclass_arguments

    analyze = commands.add_parser("analyze", help="failure-mode analyses: greediness, "
                                                  "frequency bias, knowing-doing gap")
    kinds = analyze.add_subparsers(dest="analysis", required=True)
    for name, config_class in ANALYSIS_CONFIGS.items():
        doc = " ".join((config_class.__doc__ or name).split())
        sub = kinds.add_parser(name, help=doc.split(": ")[0], description=doc,
                               allow_abbrev=False)
        add_dataclass_arguments(sub, config_class)
        sub.add_argument("--quiet", action="store_true", help="no progress lines")
        sub.set_defaults(handler=_analyze, parser=sub)


_HEADLINES = {
    "frequency-bias": ("entropy_repetition_correlation", "overall", "buckets"),
    "knowing-doing": ("correct_rationale_rate", "values_parsed_rate", "invalid_rate",
                      "action_shares"),
}


def _analyze(args: argparse.Namespace) -> int:
    from rlft.analysis.config import ANALYSIS_CONFIGS, with_policy_eval
    from rlft.analysis.runner import run_analysis
    from rlft.cli_args import dataclass_from_args, given_flags
    from rlft.evaluation.config import POLICY_EVAL_FILE, load_policy_eval

    config = dataclass_from_args(ANALYSIS_CONFIGS[args.analysis], args)
    saved = load_policy_eval(config.model)
    if saved is not None:  # an exported policy: analyse it with its run's prompt and env
        config, taken = with_policy_eval(config, saved, given_flags(args.parser, args.argv))
        print(f"rlft analyze: {', '.join(taken)} from {config.model}/{POLICY_EVAL_FILE} "
              f"(the run that exported it)")
    metrics = run_analysis(args.analysis, config, show_progress=not args.quiet)
    if args.analysis == "greediness":
        headline = {name: {key: s[key] for key in ("coverage_final", "coverage_model_final",
                                                   "unexplored_share", "final_regret",
                                                   "invalid_rate")}
                    for name, s in metrics["settings"].items()}
    else:
        headline = {key: metrics[key] for key in _HEADLINES[args.analysis]}
        if args.analysis == "knowing-doing":
            headline["matrix_percent"] = metrics["matrix"]["percent"]
    print(json.dumps(headline, indent=2, default=str))
    print(f"wrote {config.out}")
    return 0
