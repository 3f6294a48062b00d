"""Model generations -> env actions: the C++ action parser, its pure-Python twin, and the
paper's rule for invalid outputs.

Rules (shared by :class:`ActionParser` and :class:`ReferenceActionParser`; texts are
handled as UTF-8 bytes, ``str`` encoded with ``surrogatepass``; character classes are ASCII):

* The C++ parser reads a ``str`` in place (code points, no UTF-8 copy); matching code
  points is equivalent to matching their UTF-8 bytes, so both parsers agree.
* A pattern is a template with one ``{action}`` placeholder at its end, e.g. the paper's
  ``"ACTION={action}"`` (the default) or ``"Final answer: {action}"``. Its words match
  case-insensitively and as whole words (``REACTION=`` does not count); any other
  character matches itself with optional whitespace around it (``action = blue``);
  whitespace between two template words means one or more whitespace characters.
* The occurrence of a pattern keyword that starts LAST in the text decides (on a tie, the
  pattern listed first). If the label after it is unreadable the status is
  ``UNKNOWN_LABEL``, even when an earlier occurrence was valid: the final answer counts.
* After the keyword, whitespace and up to ``MAX_OPENERS`` opening marks ``" ' ` * ( [ { <``
  are skipped; at the first position where a label matches, the longest label wins.
  Labels match case-insensitively; a run of spaces/underscores in a label matches any
  run of whitespace/underscores, so ``star_wars_(1977)`` matches ``Star Wars (1977)``. A
  label ending in a letter, digit or underscore must be followed by a non-word character:
  ``1`` does not match ``10``, ``red`` does not match ``reddish``. What follows the label
  (closing quotes and brackets, punctuation, more words) is ignored.
* With a legal mask, a known label that is not allowed gives ``ILLEGAL`` (the action is
  still its index). ``actions[i] >= 0`` exactly when the status is ``OK`` or ``ILLEGAL``.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
import re
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Union

import numpy as np

from rlft import _core

Text = Union[str, bytes]

#: The paper's output format.
DEFAULT_PATTERNS: tuple[str, ...] = ("ACTION={action}",)
#: Opening marks (quotes, brackets, '*', '<') that may precede a label.
MAX_OPENERS: int = int(_core.PARSE_MAX_OPENERS)

_PLACEHOLDER = b"{action}"
_OPENERS = rb"[\"'`*(\[{<]"
_NOT_WORD_AFTER = rb"(?![A-Za-z0-9_])"
_NOT_WORD_BEFORE = rb"(?<![A-Za-z0-9_])"


class ParseStatus(enum.IntEnum):
    """Outcome of parsing one generation (the int8 codes of ``ParseResult.status``)."""

    OK = 0             #: a known label, allowed in this state
    NO_MATCH = 1       #: no pattern keyword in the text
    UNKNOWN_LABEL = 2  #: the last keyword is not followed by a known label
    ILLEGAL = 3        #: a known label that the legal mask forbids


@dataclass(frozen=True)
class ParseResult:
    """Parsed batch: ``actions`` int32[B] (-1 where no label was read), ``status`` int8[B]."""

    actions: np.ndarray
    status: np.ndarray

    @property
    def valid(self) -> np.ndarray:
        """bool[B]: rows whose action can be executed as parsed."""
        return self.status == ParseStatus.OK


def _encode(text: Any, what: str) -> bytes:
    if isinstance(text, str):
        return text.encode("utf-8", "surrogatepass")
    if isinstance(text, (bytes, bytearray)):
        return bytes(text)
    raise TypeError(f"{what} must be str or bytes, got {type(text).__name__}")


def _string_list(values: Any, what: str) -> list[str]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"{what} must be a sequence of str, got {type(values).__name__}")
    for i, value in enumerate(values):
        if not isinstance(value, str):
            raise TypeError(f"{what}[{i}] must be str, got {type(value).__name__}")
    return list(values)


def _text_list(texts: Any) -> list[Text]:
    if isinstance(texts, (str, bytes, bytearray)):
        raise TypeError("texts must be a list of str/bytes; use parse_one for a single text")
    return texts if isinstance(texts, (list, tuple)) else list(texts)


def _bool_array(mask: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
    array = np.asarray(mask)
    if array.dtype != np.bool_:
        raise TypeError(f"{what} must have dtype bool, got {array.dtype}")
    if array.shape != shape:
        raise ValueError(f"{what} must have shape {shape}, got {array.shape}")
    return np.ascontiguousarray(array)


class _ParserBase(ABC):
    """Configuration checks and the single-text call shared by both parsers."""

    def __init__(self, labels: Sequence[str], patterns: Sequence[str]) -> None:
        self.labels: tuple[str, ...] = tuple(_string_list(labels, "labels"))
        self.patterns: tuple[str, ...] = tuple(_string_list(patterns, "patterns"))
        if not self.labels:
            raise ValueError("labels must not be empty")
        if not self.patterns:
            raise ValueError("patterns must not be empty")

    @property
    def num_labels(self) -> int:
        """Number of actions the labels name."""
        return len(self.labels)

    @abstractmethod
    def parse(self, texts: Sequence[Text], legal_mask: Optional[np.ndarray] = None) -> ParseResult:
        """Parse a batch of texts; ``legal_mask`` is an optional bool[B, num_labels]."""

    def parse_one(self, text: Text, legal: Optional[np.ndarray] = None) -> tuple[int, ParseStatus]:
        """Parse one text; ``legal`` is an optional bool[num_labels] mask."""
        _encode(text, "text")
        mask = None if legal is None else _bool_array(legal, (self.num_labels,), "legal")[None]
        result = self.parse([text], mask)
        return int(result.actions[0]), ParseStatus(int(result.status[0]))


class ActionParser(_ParserBase):
    """The C++ parser: configure once, then parse batches with the GIL released.

    Args:
        labels: the env's action labels; label i is action i.
        patterns: templates with a trailing ``{action}`` (see the module docstring).
        num_threads: worker threads for large batches (results never depend on it).
    """

    def __init__(self, labels: Sequence[str], patterns: Sequence[str] = DEFAULT_PATTERNS,
                 num_threads: int = 1) -> None:
        super().__init__(labels, patterns)
        if isinstance(num_threads, bool) or not isinstance(num_threads, (int, np.integer)) \
                or num_threads < 1:
            raise ValueError(f"num_threads must be a positive int, got {num_threads!r}")
        self._core = _core.ActionParser([_encode(x, "label") for x in self.labels],
                                        [_encode(x, "pattern") for x in self.patterns],
                                        int(num_threads))

    def parse(self, texts: Sequence[Text], legal_mask: Optional[np.ndarray] = None) -> ParseResult:
        """Parse a batch of str/bytes; ``legal_mask`` is an optional bool[B, num_labels]."""
        items = _text_list(texts)
        if legal_mask is not None:
            legal_mask = _bool_array(legal_mask, (len(items), self.num_labels), "legal_mask")
        actions, status = self._core.parse(items, legal_mask)
        return ParseResult(actions, status)

    def parse_one(self, text: Text, legal: Optional[np.ndarray] = None) -> tuple[int, ParseStatus]:
        """Parse one text; ``legal`` is an optional bool[num_labels] mask."""
        if legal is not None:
            legal = _bool_array(legal, (self.num_labels,), "legal")
        action, status = self._core.parse_one(text, legal)
        return int(action), ParseStatus(status)


class ReferenceActionParser(_ParserBase):
    """Pure-Python twin of :class:`ActionParser` built on ``re``; the tests' ground truth.

    A greedy ``.*`` followed by a lookahead finds the keyword that starts last (the regex
    engine backs off from the end), and a second regex reads the label after it.
    """

    def __init__(self, labels: Sequence[str], patterns: Sequence[str] = DEFAULT_PATTERNS) -> None:
        super().__init__(labels, patterns)
        keywords = [_keyword_regex(_encode(p, "pattern")) for p in self.patterns]
        self._last_keyword = re.compile(
            rb"(?s).*(?=" + b"|".join(b"(" + k + b")" for k in keywords) + b")", re.IGNORECASE)
        label_regexes = _label_regexes(self.labels)
        # Longest normalised label first, so that the alternation prefers it.
        self._order = sorted(range(len(label_regexes)), key=lambda i: -label_regexes[i][1])
        alternatives = b"|".join(b"(" + label_regexes[i][0] + b")" for i in self._order)
        self._value = re.compile(
            rb"\s*(?:" + _OPENERS + rb"\s*){0,%d}?(?:" % MAX_OPENERS + alternatives + b")",
            re.IGNORECASE)

    def parse(self, texts: Sequence[Text], legal_mask: Optional[np.ndarray] = None) -> ParseResult:
        """Same contract as :meth:`ActionParser.parse`."""
        items = _text_list(texts)
        if legal_mask is not None:
            legal_mask = _bool_array(legal_mask, (len(items), self.num_labels), "legal_mask")
        data = [_encode(text, f"texts[{i}]") for i, text in enumerate(items)]
        actions = np.full(len(data), -1, dtype=np.int32)
        status = np.full(len(data), ParseStatus.NO_MATCH, dtype=np.int8)
        for row, text in enumerate(data):
            keyword = self._last_keyword.match(text)
            if keyword is None:
                continue
            label = self._value.match(text, keyword.end(keyword.lastindex))
            if label is None:
                status[row] = ParseStatus.UNKNOWN_LABEL
                continue
            actions[row] = self._order[label.lastindex - 1]
            legal = legal_mask is None or legal_mask[row, actions[row]]
            status[row] = ParseStatus.OK if legal else ParseStatus.ILLEGAL
        return ParseResult(actions, status)


def _keyword_regex(template: bytes) -> bytes:
    """Regex for the keyword part of a template (everything before ``{action}``)."""
    at = template.find(_PLACEHOLDER)
    if at < 0:
        raise ValueError(f"pattern {template!r} has no {{action}} placeholder")
    if template[at + len(_PLACEHOLDER):].strip(b" \t\n\r\x0b\x0c"):
        raise ValueError(f"pattern {template!r} must end with {{action}} "
                         "(closing marks after the label are tolerated anyway)")
    # Atoms: whitespace runs, words, runs of non-ASCII bytes (one character), single symbols.
    pieces = re.findall(rb"\s+|[A-Za-z0-9_]+|[\x80-\xff]+|.", template[:at], re.DOTALL)
    parts: list[bytes] = []
    previous_word = False
    spaced = False
    for piece in pieces:
        if piece[:1].isspace():
            spaced = True
            continue
        word = re.fullmatch(rb"[A-Za-z0-9_]+", piece) is not None
        if parts:
            parts.append(rb"\s+" if word and previous_word and spaced else rb"\s*")
        elif word:
            parts.append(_NOT_WORD_BEFORE)
        parts.append(re.escape(piece) + (_NOT_WORD_AFTER if word else b""))
        previous_word, spaced = word, False
    if not parts:
        raise ValueError(f"pattern {template!r} needs a keyword before {{action}}")
    return b"".join(parts)


def _label_regexes(labels: Sequence[str]) -> list[tuple[bytes, int]]:
    """(regex, normalised length) per label; rejects empty and duplicate labels."""
    seen: dict[bytes, int] = {}
    out = []
    for index, label in enumerate(labels):
        words = [w for w in re.split(rb"[\s_]+", _encode(label, "label")) if w]
        if not words:
            raise ValueError(
                f"label {index} ({label!r}) is empty after removing spaces/underscores")
        key = b" ".join(w.lower() for w in words)
        if key in seen:
            raise ValueError(f"labels {seen[key]} ({labels[seen[key]]!r}) and {index} ({label!r}) "
                             "are the same up to case and spaces/underscores")
        seen[key] = index
        regex = rb"[\s_]+".join(re.escape(w) for w in words)
        if re.match(rb"[A-Za-z0-9]", words[-1][-1:]):
            regex += _NOT_WORD_AFTER
        out.append((regex, len(key)))
    return out


@dataclass(frozen=True)
class StepActions:
    """What to execute after parsing, with the paper's rule applied to invalid rows."""

    actions: np.ndarray  #: int32[B] actions to pass to env.step
    invalid: np.ndarray  #: bool[B] rows whose output was not a valid action (status != OK)
    status: np.ndarray   #: int8[B] the parse status of each row


def step_actions(parsed: ParseResult, num_actions: int, rng: np.random.Generator,
                 legal_mask: Optional[np.ndarray] = None) -> StepActions:
    """Apply the paper's rule for invalid outputs: every row whose status is not OK
    executes a uniformly random valid action (legal under ``legal_mask`` if given) and is
    flagged invalid (the trainer's reward adds its penalty). A row with no legal action at all
    (a finished board whose action the env ignores) draws from all actions.

    Random numbers come only from ``rng``, one draw per invalid row in row order, so the
    same parse and seed give the same actions.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if isinstance(num_actions, bool) or not isinstance(num_actions, (int, np.integer)) \
            or num_actions < 1:
        raise ValueError(f"num_actions must be a positive int, got {num_actions!r}")
    status = np.asarray(parsed.status)
    actions = np.array(parsed.actions, dtype=np.int32)
    if status.ndim != 1 or actions.shape != status.shape:
        raise ValueError(f"parsed actions {actions.shape} and status {status.shape} must be [B]")
    invalid = status != ParseStatus.OK
    if np.any(actions[~invalid] >= num_actions) or np.any(actions[~invalid] < 0):
        raise ValueError(f"parsed actions must lie in [0, {num_actions}) where status is OK")
    rows = np.flatnonzero(invalid)
    if legal_mask is None:
        allowed = np.ones((rows.size, num_actions), dtype=bool)
    else:
        allowed = _bool_array(legal_mask, (status.shape[0], int(num_actions)), "legal_mask")[rows]
        allowed[~allowed.any(axis=1)] = True
    if rows.size:
        pick = rng.integers(0, allowed.sum(axis=1))  # k-th allowed action of each row
        actions[rows] = np.argmax(np.cumsum(allowed, axis=1) > pick[:, None], axis=1)
    return StepActions(actions=actions, invalid=invalid, status=status.astype(np.int8, copy=True))
