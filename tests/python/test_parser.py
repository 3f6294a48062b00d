"""The action parser: tables run on the C++ parser and its `re` twin, property tests that
the two agree on random and adversarial inputs, fuzzing, and the invalid-action step rule."""

from __future__ import annotations

import re
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rlft.text import parser as text_parser
from rlft.text.parser import (
    ActionParser,
    ParseResult,
    ParseStatus,
    ReferenceActionParser,
    step_actions,
)

OK, NO_MATCH, UNKNOWN, ILLEGAL = (ParseStatus.OK, ParseStatus.NO_MATCH,
                                  ParseStatus.UNKNOWN_LABEL, ParseStatus.ILLEGAL)
COLOURS = ["blue", "green", "red", "yellow", "orange", "purple", "pink", "brown", "black", "white"]
MOVIES = ["star_wars_(1977)", "star_wars", "the_matrix_(1999)", "fargo", "amélie_(2001)"]
DIGITS = [str(i) for i in range(12)]
TWO_PATTERNS = ["ACTION={action}", "Final answer: {action}"]
BOTH = pytest.mark.parametrize("parser_class", [ActionParser, ReferenceActionParser])

TABLE = [
    # (labels, patterns, text, action, status)
    (COLOURS, None, "ACTION=blue", 0, OK),
    (COLOURS, None, "Let me think.\nACTION = Green.", 1, OK),
    (COLOURS, None, "action=**[\"RED\"]**", 2, OK),
    (COLOURS, None, "ACTION=`yellow`!", 3, OK),
    (COLOURS, None, "ACTION=(orange), since it paid 0.7", 4, OK),
    (COLOURS, None, "", -1, NO_MATCH),
    (COLOURS, None, "I choose blue.", -1, NO_MATCH),
    (COLOURS, None, "REACTION=blue", -1, NO_MATCH),
    (COLOURS, None, "ACTION=", -1, UNKNOWN),
    (COLOURS, None, "ACTION=X", -1, UNKNOWN),
    (COLOURS, None, "ACTION=reddish", -1, UNKNOWN),
    (COLOURS, None, "ACTION=\"\"\"\"\"red", -1, UNKNOWN),
    (COLOURS, None, "Format ACTION=X. ACTION=red was bad, so ACTION=pink", 6, OK),
    (COLOURS, None, "ACTION=blue, or rather ACTION=X", -1, UNKNOWN),
    (COLOURS, None, "ACTION=white\x00\x00", 9, OK),
    (COLOURS, None, "ACTION=\x00white", -1, UNKNOWN),
    (COLOURS, None, "ACTION=black \ud800 trailing lone surrogate", 8, OK),
    (COLOURS, None, b"\xff\xfeACTION=brown\xc3", 7, OK),
    (MOVIES, None, "ACTION=Star Wars (1977)", 0, OK),
    (MOVIES, None, "ACTION=star wars", 1, OK),
    (MOVIES, None, "ACTION=STAR WARS (1980)", 1, OK),
    (MOVIES, None, "ACTION=star_wars_(1980)", -1, UNKNOWN),  # '_' joins words: no boundary
    (MOVIES, None, "ACTION=The Matrix (1999).", 2, OK),
    (MOVIES, None, "ACTION='Amélie (2001)'", 4, OK),
    (MOVIES, None, "ACTION=AMÉLIE (2001)", -1, UNKNOWN),  # case folding is ASCII-only
    (DIGITS, None, "ACTION=1", 1, OK),
    (DIGITS, None, "ACTION=10", 10, OK),
    (DIGITS, None, "ACTION=[11].", 11, OK),
    (DIGITS, None, "ACTION=12", -1, UNKNOWN),
    (DIGITS, None, "ACTION=blue", -1, UNKNOWN),
    (COLOURS, None, "ACTION=3", -1, UNKNOWN),
    (COLOURS, TWO_PATTERNS, "FINAL  answer : red", 2, OK),
    (COLOURS, TWO_PATTERNS, "finalanswer: red", -1, NO_MATCH),
    (COLOURS, TWO_PATTERNS, "ACTION=blue. Final answer: pink", 6, OK),
    (COLOURS, TWO_PATTERNS, "Final answer: pink. ACTION=blue", 0, OK),
]


@BOTH
@pytest.mark.parametrize("labels,patterns,text,action,status", TABLE)
def test_table(parser_class, labels, patterns, text, action, status):
    parser = parser_class(labels, patterns) if patterns else parser_class(labels)
    assert parser.parse_one(text) == (action, status)
    result = parser.parse([text, text])
    assert result.actions.dtype == np.int32 and result.status.dtype == np.int8
    assert result.actions.tolist() == [action] * 2 and result.status.tolist() == [status] * 2


@BOTH
def test_legal_mask_marks_forbidden_labels_illegal(parser_class):
    parser = parser_class(DIGITS[:9])
    mask = np.ones((3, 9), dtype=bool)
    mask[0, 4] = mask[1, 4] = False
    result = parser.parse(["ACTION=4", "ACTION=nine", "ACTION=4"], mask)
    assert result.actions.tolist() == [4, -1, 4]
    assert result.status.tolist() == [ILLEGAL, UNKNOWN, OK]
    assert result.valid.tolist() == [False, False, True]
    assert parser.parse_one("ACTION=4", mask[0]) == (4, ILLEGAL)


@BOTH
def test_bad_configuration_raises(parser_class):
    for labels, patterns in [([], ["ACTION={action}"]), (["a", " _ "], ["ACTION={action}"]),
                             (["Blue", "blue"], ["ACTION={action}"]),
                             (["star wars", "Star_Wars"], ["ACTION={action}"]),
                             (COLOURS, []), (COLOURS, ["ACTION="]), (COLOURS, ["  {action}"]),
                             (COLOURS, ["<a>{action}</a>"]), (COLOURS, ["A={action} B={action}"])]:
        with pytest.raises(ValueError):
            parser_class(labels, patterns)
    with pytest.raises(TypeError):
        parser_class("blue")
    with pytest.raises(TypeError):
        parser_class([1, 2])


@BOTH
def test_bad_calls_raise(parser_class):
    parser = parser_class(COLOURS)
    with pytest.raises(TypeError, match="parse_one"):
        parser.parse("ACTION=blue")
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        parser.parse(["ACTION=blue", 3])
    with pytest.raises(TypeError):
        parser.parse_one(None)
    with pytest.raises(ValueError, match="legal_mask"):
        parser.parse(["ACTION=blue"], np.ones((2, len(COLOURS)), dtype=bool))
    with pytest.raises(TypeError, match="legal_mask"):
        parser.parse(["ACTION=blue"], np.ones((1, len(COLOURS)), dtype=np.int32))
    with pytest.raises(ValueError):
        ActionParser(COLOURS, num_threads=0)
    empty = parser.parse([])
    assert empty.actions.shape == (0,) and empty.status.shape == (0,)


def test_inputs_of_every_accepted_kind_agree():
    parser = ActionParser(COLOURS)
    texts = ["ACTION=red", b"ACTION=red", bytearray(b"ACTION=red"), np.str_("ACTION=red")]
    assert parser.parse(texts).actions.tolist() == [2] * 4
    assert parser.parse(tuple(texts)).actions.tolist() == [2] * 4
    assert parser.parse(iter(texts)).actions.tolist() == [2] * 4


@BOTH
def test_str_of_every_width_matches_its_utf8_bytes(parser_class):
    parser = parser_class(["amélie (2001)", "😀 smile", "→ arrow", "blue"])
    texts = ["ACTION=Amélie_(2001)", "→ ACTION = 😀  SMILE.", "ACTION=[→_arrow]",
             "é→😀 ACTION=Blue",
             "ACTION=AMÉLIE (2001)", "ACTION=\ud800blue", "ACTION=blue\ud800"]
    as_str = parser.parse(texts)
    as_bytes = parser.parse([t.encode("utf-8", "surrogatepass") for t in texts])
    assert as_str.actions.tolist() == as_bytes.actions.tolist() == [0, 1, 2, 3, -1, -1, 3]
    assert as_str.status.tolist() == as_bytes.status.tolist()


def test_threads_and_batch_size_do_not_change_results():
    rng = np.random.default_rng(0)
    texts = [f"ACTION={COLOURS[i % 10] if i % 7 else 'X'} " * int(rng.integers(1, 4))
             for i in range(3000)]
    single = ActionParser(COLOURS).parse(texts)
    threaded = ActionParser(COLOURS, num_threads=2).parse(texts)
    assert np.array_equal(single.actions, threaded.actions)
    assert np.array_equal(single.status, threaded.status)
    assert ActionParser(COLOURS).parse(texts[:5]).actions.tolist() == single.actions[:5].tolist()


def test_concurrent_calls_from_python_threads():
    parser = ActionParser(COLOURS, num_threads=2)
    texts = [f"x ACTION={COLOURS[i % 10]}" for i in range(2000)]
    expected = parser.parse(texts).actions
    results: list[np.ndarray] = []

    def work() -> None:
        for _ in range(5):
            results.append(parser.parse(texts).actions)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 15 and all(np.array_equal(r, expected) for r in results)


def test_ten_megabyte_inputs():
    parser = ActionParser(COLOURS)
    size = 10 << 20
    assert parser.parse_one("a" * size) == (-1, NO_MATCH)
    assert parser.parse_one("ACTION=red " + "x" * size) == (2, OK)
    assert parser.parse_one("ACTION=" + " " * size + "green") == (1, OK)
    assert parser.parse_one(b"\xff\x00" * (size // 2) + b"ACTION=pink") == (6, OK)
    assert parser.parse_one("ACTION=red " + "😀" * size) == (2, OK)
    assert parser.parse_one("ACTION=red " + "→\x00" * (size // 2)) == (2, OK)
    # The twin agrees on a large hostile input too (smaller: it is slower).
    hostile = "ACTION =ACTION= (" * 100_000 + "é\x00"
    assert ReferenceActionParser(COLOURS).parse_one(hostile) == parser.parse_one(hostile)


# ---------------------------------------------------------------- property tests

LABEL_PIECES = ["a", "b", "ab", "1", "10", "x_y", " ", "_", "(", ")", "é", "-", ".", "'", "Ab"]
PATTERNS = ["ACTION={action}", "Action: {action}", "final answer {action}", "=={action}",
            "a = b = {action}", "Réponse→{action}", "x\x00{action}", "(a){action}"]
NOISE = ["ACTION", "action", "=", " ", "\n", "\t", "_", "*", "[", "]", "(", ")", "\"", "'", "`",
         "<", ">", ".", ",", "!", ":", "x", "1", "é", "É", "→", "\x00", "\ud800",
         "Final answer"]


def _normalised(label: str) -> str:
    return " ".join(w.lower() for w in re.split(r"[\s_]+", label) if w)


labels_strategy = st.lists(
    st.lists(st.sampled_from(LABEL_PIECES), min_size=1, max_size=4).map("".join)
    .filter(lambda s: _normalised(s) != ""),
    min_size=1, max_size=6, unique_by=_normalised)
patterns_strategy = st.lists(st.sampled_from(PATTERNS), min_size=1, max_size=3)


def _variant(draw, text: str) -> str:
    """The same label or keyword as a model might write it: case flips, separators."""
    out = []
    for ch in text:
        if ch in " _" and draw(st.booleans()):
            out.append(draw(st.sampled_from([" ", "_", "  ", "\t", "\n", "__"])))
        elif draw(st.booleans()):
            out.append(ch.swapcase())
        else:
            out.append(ch)
    return "".join(out)


@st.composite
def scenarios(draw):
    labels = draw(labels_strategy)
    # Labels that extend others ("a" and "a b", "x" and "x(1"): the longest must win.
    for label in list(labels):
        joint = draw(st.sampled_from([" ", "_", "", "("]))
        longer = label + joint + draw(st.sampled_from(LABEL_PIECES))
        if draw(st.booleans()) and _normalised(longer) not in {_normalised(x) for x in labels}:
            labels.append(longer)
    labels = draw(st.permutations(labels))
    patterns = draw(patterns_strategy)
    fragments = []
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["noise", "keyword", "label", "text", "answer"]))
        if kind == "answer":  # a keyword directly followed by a (decorated) label
            keyword = _variant(draw, draw(st.sampled_from(patterns)).replace("{action}", ""))
            opener = "".join(draw(st.lists(st.sampled_from(" \"'*[(\n"), max_size=5)))
            fragments.append(keyword + opener + _variant(draw, draw(st.sampled_from(labels))))
        elif kind == "noise":
            fragments.append(draw(st.sampled_from(NOISE)))
        elif kind == "keyword":
            keyword = draw(st.sampled_from(patterns)).replace("{action}", "")
            fragments.append(_variant(draw, keyword))
        elif kind == "label":
            opener = "".join(draw(st.lists(st.sampled_from(" \"'`*([{<"), max_size=6)))
            closer = draw(st.sampled_from(["", ".", ")", "]", "\"", "!", "x", "0", "_", " y"]))
            fragments.append(opener + _variant(draw, draw(st.sampled_from(labels))) + closer)
        else:
            fragments.append(draw(st.text(max_size=12)))
    text = "".join(fragments)
    as_bytes = draw(st.booleans())
    data = text.encode("utf-8", "surrogatepass") if as_bytes else text
    if as_bytes and draw(st.booleans()):
        cut = draw(st.integers(0, len(data)))
        data = data[:cut] + draw(st.binary(max_size=4)) + data[cut:]
    return labels, patterns, data


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.data())
def test_cpp_and_reference_agree(scenario, data):
    labels, patterns, text = scenario
    cpp, ref = ActionParser(labels, patterns), ReferenceActionParser(labels, patterns)
    assert cpp.parse_one(text) == ref.parse_one(text), (labels, patterns, text)
    mask = np.array(data.draw(st.lists(st.booleans(), min_size=len(labels),
                                       max_size=len(labels))), dtype=bool)
    assert cpp.parse_one(text, mask) == ref.parse_one(text, mask)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.sampled_from(LABEL_PIECES + ["  ", "__"]), max_size=4).map("".join),
                max_size=5),
       st.lists(st.lists(st.sampled_from(["A", "=", " ", "{action}", "é", ":", "{", "b"]),
                         max_size=5).map("".join), max_size=3))
def test_configuration_errors_agree(labels, patterns):
    outcomes = []
    for parser_class in (ActionParser, ReferenceActionParser):
        try:
            parser_class(labels, patterns)
            outcomes.append(None)
        except ValueError:
            outcomes.append(ValueError)
    assert outcomes[0] == outcomes[1], (labels, patterns)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_crash_and_agree(blob):
    cpp, ref = ActionParser(DIGITS), ReferenceActionParser(DIGITS)
    action, status = cpp.parse_one(blob)
    assert status in set(ParseStatus) and -1 <= action < len(DIGITS)
    assert (action, status) == ref.parse_one(blob)


def test_fuzz_large_random_batches():
    rng = np.random.default_rng(123)
    alphabet = np.frombuffer(b"ACTIONaction= _*[(\"'10x\x00\xff\xc3\xa9\n", dtype=np.uint8)
    texts = [rng.choice(alphabet, size=int(rng.integers(0, 3000))).tobytes() for _ in range(300)]
    texts += [rng.integers(0, 256, size=int(rng.integers(0, 3000)), dtype=np.uint8).tobytes()
              for _ in range(100)]
    cpp = ActionParser(DIGITS, ["ACTION={action}", "(a){action}"], num_threads=2)
    ref = ReferenceActionParser(DIGITS, ["ACTION={action}", "(a){action}"])
    got, want = cpp.parse(texts), ref.parse(texts)
    assert np.array_equal(got.actions, want.actions) and np.array_equal(got.status, want.status)
    assert set(np.unique(got.status)) <= {int(s) for s in ParseStatus}


# ---------------------------------------------------------------- the step rule

def _parsed(actions, status) -> ParseResult:
    return ParseResult(np.array(actions, dtype=np.int32), np.array(status, dtype=np.int8))


def test_step_actions_keeps_valid_rows_and_replaces_invalid_ones():
    parsed = _parsed([2, -1, -1, 4], [OK, NO_MATCH, UNKNOWN, ILLEGAL])
    mask = np.ones((4, 9), dtype=bool)
    mask[3, 4] = False
    out = step_actions(parsed, 9, np.random.default_rng(0), legal_mask=mask)
    assert out.actions.dtype == np.int32 and out.actions[0] == 2
    assert out.invalid.tolist() == [False, True, True, True]
    assert out.status.tolist() == [OK, NO_MATCH, UNKNOWN, ILLEGAL]
    assert all(0 <= a < 9 for a in out.actions) and out.actions[3] != 4
    assert parsed.actions.tolist() == [2, -1, -1, 4]  # the input is not modified


def test_step_actions_is_deterministic_and_uniform_over_legal_actions():
    parsed = _parsed([-1] * 6000, [NO_MATCH] * 6000)
    mask = np.zeros((6000, 9), dtype=bool)
    mask[:, [0, 3, 8]] = True
    mask[-1] = False  # no legal action: falls back to all actions
    first = step_actions(parsed, 9, np.random.default_rng(7), legal_mask=mask)
    again = step_actions(parsed, 9, np.random.default_rng(7), legal_mask=mask)
    assert np.array_equal(first.actions, again.actions)
    counts = np.bincount(first.actions[:-1], minlength=9)
    assert set(np.flatnonzero(counts)) == {0, 3, 8}
    assert np.all(np.abs(counts[[0, 3, 8]] - 2000) < 150)
    assert 0 <= first.actions[-1] < 9
    unmasked = step_actions(parsed, 9, np.random.default_rng(7))
    assert set(np.unique(unmasked.actions)) == set(range(9))


def test_step_actions_end_to_end_with_the_parser():
    parser = ActionParser(DIGITS[:9])
    mask = np.ones((3, 9), dtype=bool)
    mask[:, 0] = False
    parsed = parser.parse(["ACTION=5", "ACTION=0", "no answer"], mask)
    out = step_actions(parsed, parser.num_labels, np.random.default_rng(1), legal_mask=mask)
    assert out.actions[0] == 5 and out.invalid.tolist() == [False, True, True]
    assert np.all(mask[np.arange(3), out.actions])


def test_step_actions_rejects_bad_arguments():
    parsed = _parsed([1], [OK])
    with pytest.raises(TypeError, match="rng"):
        step_actions(parsed, 3, np.random.RandomState(0))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="num_actions"):
        step_actions(parsed, 0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="legal_mask"):
        step_actions(parsed, 3, np.random.default_rng(0), legal_mask=np.ones((2, 3), dtype=bool))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        step_actions(_parsed([5], [OK]), 3, np.random.default_rng(0))


def test_status_enum_matches_the_core_codes():
    assert [int(s) for s in ParseStatus] == [0, 1, 2, 3]
    assert text_parser.MAX_OPENERS == 4
