"""The figures README.md and docs/ quote come from results files of the code in this tree, or
say on the same line that they do not (docs/results.md): every line that names a file of
benchmarks/results/ whose recorded code differs from the tree's (stale) or that records none
(unstamped) carries '(stale' or '(unstamped', and no line carries one for current files."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "results"
sys.path.insert(0, str(REPO / "benchmarks"))

from provenance import staleness  # noqa: E402

MARK = re.compile(r"\((stale|unstamped)\b")


def _documents() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def citation_problems(root: Path, documents: list[Path], results: dict[str, str | None]
                      ) -> list[str]:
    """For each line naming a results file (by its file name): unmarked stale or unstamped
    files, or a mark on a line whose files are all current. results: name -> staleness."""
    names = re.compile(r"\b(" + "|".join(map(re.escape, sorted(results))) + r")\b")
    problems = []
    for document in documents:
        for number, line in enumerate(document.read_text().splitlines(), 1):
            cited = set(names.findall(line))
            if not cited:
                continue
            where = f"{document.relative_to(root)}:{number}"
            old = ", ".join(f"{name} ({results[name]})" for name in sorted(cited)
                            if results[name] is not None)
            if old and not MARK.search(line):
                problems.append(f"{where}: cites {old} without '(stale' or '(unstamped' on "
                                "the line")
            if not old and MARK.search(line):
                problems.append(f"{where}: marks current files as stale: {sorted(cited)}")
    return problems


def test_docs_cite_current_results_or_say_they_are_not():
    results = {path.name: staleness(json.loads(path.read_text()))
               for path in sorted(RESULTS.glob("*.json"))}
    problems = citation_problems(REPO, _documents(), results)
    assert not problems, "\n".join(problems)


def test_the_check_finds_an_unmarked_stale_citation(tmp_path):
    doc = tmp_path / "README.md"
    doc.write_text("fast (`benchmarks/results/a.json`)\nslow (`b.json` (stale: old))\n"
                   "marked (`a.json`, stale? no: (stale: x))\n")
    problems = citation_problems(tmp_path, [doc],
                                 {"a.json": None, "b.json": "stale: x.py changed"})
    assert problems == ["README.md:3: marks current files as stale: ['a.json']"]
    doc.write_text("slow (`b.json`)\n")
    assert citation_problems(tmp_path, [doc], {"b.json": "unstamped: no record"})[0].startswith(
        "README.md:1: cites b.json (unstamped: no record) without")


@pytest.mark.parametrize("code, expected", [
    (None, "unstamped"),
    ({"benchmarks/provenance.py": "0" * 64}, "stale: benchmarks/provenance.py changed"),
])
def test_staleness_names_what_changed(code, expected):
    assert staleness({} if code is None else {"code": code}).startswith(expected)
    current = {"benchmarks/provenance.py": hashlib.sha256(
        (REPO / "benchmarks" / "provenance.py").read_bytes()).hexdigest()}
    assert staleness({"code": current}) is None
