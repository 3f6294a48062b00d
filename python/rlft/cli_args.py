"""Config dataclasses as argparse flags, shared by every ``rlft`` subcommand.

It sits below the command modules (``rlft.cli``, ``rlft.sft.cli``, ``rlft.analysis.cli``) and
imports none of them, so each can build its parser without importing the others.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import typing
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
    """The config the parsed flags describe (the inverse of add_dataclass_arguments)."""
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
