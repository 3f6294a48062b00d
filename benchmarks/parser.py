"""Parses per second: the C++ action parser vs its pure-Python `re` twin, same run, one thread.

Input: 10,000 generations of about 1,500 characters, written like a chain-of-thought answer
with decoys: the format "ACTION=X" quoted in the reasoning, history lines
"Step=t Action=<label> Reward=r" (which match the pattern too), earlier "ACTION=<label>"
drafts, then the final answer, sometimes followed by a closing sentence; about 10% of the
rows end in an unknown label or have no answer at all.

Run by hand:  RLFT_CORE_DIR=build/dev PYTHONPATH=python python3 benchmarks/parser.py
Writes benchmarks/results/parser.json (key ``parser_vs_python_re``: the speed-up ratio).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from provenance import stamp

from rlft.text.parser import ActionParser, ReferenceActionParser

COLOURS = ["blue", "green", "red", "yellow", "orange", "purple", "pink", "brown", "black", "white"]
FILLER = [
    "Let me think about which button has paid the most so far.",
    "The rewards look noisy, so I should not trust a single pull too much.",
    "Exploring an arm that was rarely tried could reveal a better mean.",
    "On the other hand, exploiting the best estimate keeps the regret low.",
    "I need to answer in the format ACTION=X where X is one of the buttons.",
    "Averaging the observed rewards gives a rough estimate for each arm.",
    "The instructions say to keep the reasoning short — so let’s be brief.",
]


def make_generation(rng: np.random.Generator, target_chars: int) -> str:
    """One CoT-style generation of about target_chars characters with decoy matches."""
    parts: list[str] = []
    step = 0
    while sum(len(p) + 1 for p in parts) < target_chars - 120:
        roll = rng.random()
        if roll < 0.55:
            parts.append(FILLER[int(rng.integers(len(FILLER)))])
        elif roll < 0.8:
            parts.append(f"Step={step} Action={COLOURS[int(rng.integers(10))]} "
                         f"Reward={rng.normal(0.5, 0.2):.2f}")
            step += 1
        elif roll < 0.92:
            parts.append(f"Maybe ACTION={COLOURS[int(rng.integers(10))]} would be good.")
        else:
            parts.append("Remember: the answer must look like ACTION=X.")
    roll = rng.random()
    if roll < 0.9:
        parts.append(f"So my final answer is ACTION={COLOURS[int(rng.integers(10))]}")
    elif roll < 0.95:
        parts.append("So my final answer is ACTION=teal")
    if rng.random() < 0.3:
        parts.append("This balances exploration and exploitation.")
    return "\n".join(parts)


def rate(parse, texts: list[str], repeats: int) -> float:
    """Best-of-`repeats` parses per second; every repeat gets fresh str objects so that no
    cached UTF-8 form from an earlier repeat is reused."""
    best = float("inf")
    for _ in range(repeats):
        fresh = [t.encode().decode() for t in texts]
        start = time.perf_counter()
        parse(fresh)
        best = min(best, time.perf_counter() - start)
    return len(texts) / best


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--num-texts", type=int, default=10_000)
    args.add_argument("--chars", type=int, default=1_500)
    args.add_argument("--repeats", type=int, default=5)
    args.add_argument("--seed", type=int, default=0)
    args.add_argument("--out", type=Path, default=None,
                      help="default: benchmarks/results/parser.json (--smoke: a temporary dir)")
    args.add_argument("--smoke", action="store_true", help="100 texts, one repeat")
    opts = args.parse_args()
    if opts.smoke:
        opts.num_texts, opts.repeats = 100, 1
    opts.out = opts.out or (Path(tempfile.mkdtemp()) / "parser.json" if opts.smoke else
                            Path(__file__).resolve().parent / "results" / "parser.json")

    rng = np.random.default_rng(opts.seed)
    texts = [make_generation(rng, opts.chars) for _ in range(opts.num_texts)]
    cpp = ActionParser(COLOURS, num_threads=1)
    reference = ReferenceActionParser(COLOURS)

    got, want = cpp.parse(texts), reference.parse(texts)
    assert np.array_equal(got.actions, want.actions) and np.array_equal(got.status, want.status)

    cpp_rate = rate(cpp.parse, texts, opts.repeats)
    re_rate = rate(reference.parse, texts, opts.repeats)
    decoys = np.mean([t.count("ACTION=") + t.count("Action=") - 1 for t in texts])
    result = {
        "parser_vs_python_re": cpp_rate / re_rate,
        "cpp_parses_per_s": cpp_rate,
        "python_re_parses_per_s": re_rate,
        "num_texts": len(texts),
        "mean_chars": float(np.mean([len(t) for t in texts])),
        "mean_decoy_matches": float(decoys),
        "invalid_rate": float(np.mean(got.status != 0)),
        "repeats": opts.repeats,
        "threads": 1,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(),
        **stamp(vars(opts)),
    }
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    opts.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
