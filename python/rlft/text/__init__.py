"""Text interface: prompts for the model and the action parser for its answers."""

from rlft.text.parser import (
    DEFAULT_PATTERNS,
    ActionParser,
    ParseResult,
    ParseStatus,
    ReferenceActionParser,
    StepActions,
    step_actions,
)

__all__ = [
    "DEFAULT_PATTERNS",
    "ActionParser",
    "ParseResult",
    "ParseStatus",
    "ReferenceActionParser",
    "StepActions",
    "step_actions",
]
