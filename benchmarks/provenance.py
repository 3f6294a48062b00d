"""What a benchmark's results file records about the code that wrote it, and the check that
it still describes the tree (docs/results.md).

`stamp(settings, inputs)`, called by every script once its measurements are done, gives the
results file's "commit", "settings" (the script's arguments and whatever else decides the
numbers) and "code": the sha256 of each file by repository path, of every module of rlft and
benchmarks/ the process imported, the rlft package's data (the shipped presets), the C++
sources when the compiled core was imported, and the `inputs` it read (configs). Scripts whose
numbers come from training runs pass the runs' own records (`runs_code`). `staleness` compares
such a record with the tree."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Iterable, Mapping

from rlft.trainer.provenance import code_files, stale_files

ROOT = Path(__file__).resolve().parents[1]


def commit() -> str:
    """HEAD's hash, with '+dirty' when tracked files other than benchmarks/results/ differ
    from it (a results file written by an earlier run does not change the code); 'unknown'
    outside a git checkout."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                ".", ":!benchmarks/results"], cwd=ROOT, capture_output=True,
                               text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def stamp(settings: Mapping[str, Any], inputs: Iterable[Path | str] = (),
          runs_code: Iterable[Mapping[str, str]] = ()) -> dict[str, Any]:
    """The provenance keys of a results file (merge them into its top level): call it after
    the measurements, when every module they used has been imported. settings: JSON-able
    values (others are written as text), all but "out" (the output path); inputs: files read, relative to the repository root
    or absolute; runs_code: the "code" records of the training runs the numbers come from."""
    code = code_files(ROOT, [ROOT / path for path in inputs])
    # Where the numbers are written does not decide them (and names this machine's folders).
    settings = {key: value for key, value in settings.items() if key != "out"}
    for record in runs_code:
        if not isinstance(record, Mapping):
            raise ValueError(f"a run without a per-file code record ({record!r}) cannot be "
                             "stamped: train it again")
        code.update(record)
    return {"commit": commit(), "settings": json.loads(json.dumps(settings, default=str)),
            "code": dict(sorted(code.items()))}


def staleness(results: Mapping[str, Any], root: Path = ROOT) -> str | None:
    """None when the code recorded in a results file is the tree's; else why not: 'unstamped'
    (no per-file record) or 'stale' with the files that changed since."""
    code = results.get("code")
    if not isinstance(code, Mapping) or not code:
        return "unstamped: no per-file code record"
    changed = stale_files(dict(code), root)
    if changed:
        shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5
                                          else "")
        return f"stale: {shown} changed since"
    return None
