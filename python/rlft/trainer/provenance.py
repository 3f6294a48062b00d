"""What trained a run: the run directory's provenance.json names the code (a digest of the
imported rlft package and its compiled core, and the git commit it came from) and when the
run started, was resumed and finished, so that a result can be matched to the code behind
it rather than to whatever the checkout holds when the result is read."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

FILE = "provenance.json"
# Written in place of a commit or digest when a resumed run continued on other code than
# it started with: no single code trained it.
MIXED = "mixed"
BINARIES = ("_core*.so", "_core*.pyd")


def _tree_files(directory: Path, include_binaries: bool) -> list[tuple[str, Path]]:
    """Every *.py below `directory` (and its compiled cores, if asked), by relative path."""
    directory = Path(directory)
    files = [path for path in directory.rglob("*.py") if path.is_file()]
    if include_binaries:
        files += [path for pattern in BINARIES for path in directory.glob(pattern)]
    return [(path.relative_to(directory).as_posix(), path) for path in files]


def _digest(files: Iterable[tuple[str, Path]]) -> str:
    """sha256 over (name, bytes) pairs in name order: a renamed file changes it too."""
    h = hashlib.sha256()
    for name, path in sorted(files):
        data = path.read_bytes()
        h.update(name.encode() + b"\0" + len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def digest_tree(directory: Path, include_binaries: bool = False) -> str:
    """The digest of a package directory's sources (and compiled cores if asked)."""
    return _digest(_tree_files(directory, include_binaries))


def _package_dir() -> Path:
    import rlft

    return Path(rlft.__file__).resolve().parent


def code_digest() -> str:
    """The digest of the rlft that this process runs: its *.py files plus the compiled core
    it imports (which RLFT_CORE_DIR may take from a build directory), so it names the code
    whether the package is installed or run from a source tree."""
    package = _package_dir()
    files = _tree_files(package, include_binaries=False)
    try:
        core = Path(importlib.import_module("rlft._core").__file__).resolve()
        files.append((core.name, core))
    except ImportError:   # no compiled core importable: whatever lies in the package
        files += [entry for entry in _tree_files(package, include_binaries=True)
                  if not entry[0].endswith(".py")]
    return _digest(files)


def _git(args: Sequence[str], cwd: Path) -> str | None:
    """git's output, or None when git fails (not a checkout, no git)."""
    try:
        result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    except OSError:
        return None
    return result.stdout.strip() if result.returncode == 0 else None


# What a run's result depends on: the package, the C++ core, the build and the configs.
# Docs, tests and results edited while a run trains do not change what trains.
CODE_PATHS = ("python", "cpp", "bindings", "configs", "CMakeLists.txt", "pyproject.toml")


def _checkout_commit(directory: Path) -> str:
    """HEAD of the checkout holding `directory`, '+dirty' when tracked files of CODE_PATHS
    differ from it."""
    top = _git(["rev-parse", "--show-toplevel"], directory)
    head = _git(["rev-parse", "HEAD"], Path(top)) if top else None
    if not head:
        return "unknown"
    dirty = _git(["status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS],
                 Path(top))
    return head + ("+dirty" if dirty else "")


def source_commit() -> str:
    """The commit of the imported package's source: its own checkout's when it is run from
    one; when installed, the current directory's checkout's if that checkout's python/rlft
    holds the same sources; 'unknown' otherwise."""
    package = _package_dir()
    # Tracked, not merely inside a work tree: an environment kept in a checkout is ignored.
    if _git(["ls-files", "--error-unmatch", "__init__.py"], package) is not None:
        return _checkout_commit(package)
    top = _git(["rev-parse", "--show-toplevel"], Path.cwd())
    source = Path(top) / "python" / "rlft" if top else None
    if source is not None and source.is_dir() and digest_tree(source) == digest_tree(package):
        return _checkout_commit(source)
    return "unknown"


def read_provenance(out_dir: Path) -> dict[str, Any] | None:
    """The run directory's provenance, or None when it has none (or an unreadable one)."""
    try:
        return json.loads((Path(out_dir) / FILE).read_text())
    except (OSError, ValueError):
        return None


def _write(out_dir: Path, record: dict[str, Any]) -> None:
    """Atomically: a run killed mid-write keeps the previous record."""
    path = Path(out_dir) / FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(tmp, path)


def write_run_start(out_dir: Path, is_main: bool, resumed: bool = False,
                    argv: Sequence[str] | None = None) -> None:
    """Records the code and command starting this run (rank 0 only). A resumed run keeps the
    first start and appends this one to resumed_unix; if it runs other code than the run
    started with (or the start was not recorded), its commit and digest say so."""
    if not is_main:
        return
    now = time.time()
    ours = {"commit": source_commit(), "code_digest": code_digest()}
    previous = read_provenance(out_dir) if resumed else None
    if previous is None:
        # The process's own start: the interpreter's start-up and imports count as wall time.
        record = {**ours, "started_unix": process_started_unix(now),
                  "argv": list(sys.argv if argv is None else argv)}
        if resumed:   # the code of the part before this start is unknown
            record.update(commit="unknown", code_digest="unknown", resumed_unix=[now])
    else:
        record = {key: value for key, value in previous.items()
                  if key not in ("finished_unix", "wall_s")}
        if record.get("code_digest") != ours["code_digest"]:
            record.update(commit=MIXED, code_digest=MIXED)
        record["resumed_unix"] = [*record.get("resumed_unix", []), now]
    _write(out_dir, record)


def process_started_unix(default: float) -> float:
    """When this process started (psutil, which DeepSpeed needs anyway), else `default`."""
    try:
        import psutil
    except ImportError:
        return default
    return float(psutil.Process().create_time())


def write_run_end(out_dir: Path, is_main: bool) -> None:
    """Marks the run finished (rank 0 only); wall_s spans the first start (of the process, so
    start-up included) to now, so for a resumed run it includes the time it was stopped."""
    if not is_main:
        return
    record = read_provenance(out_dir)
    if record is None:
        raise FileNotFoundError(f"{Path(out_dir) / FILE}: the run's start was not recorded")
    record["finished_unix"] = time.time()
    record["wall_s"] = record["finished_unix"] - record["started_unix"]
    _write(out_dir, record)
