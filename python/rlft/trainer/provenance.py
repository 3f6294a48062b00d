"""What trained a run: the run directory's provenance.json names the code (a digest of the
imported rlft package and its compiled core, and the git commit it came from; at the end,
`code`: the sha256 of each source file it ran and config file it read, by repository path)
and when the run started, was resumed and finished, so that a result can be matched to the
code behind it rather than to whatever the checkout holds when the result is read, and found
stale when that code changes (`stale_files`)."""

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


def source_checkout() -> Path | None:
    """The checkout of the imported package's source: its own when it is run from one; when
    installed, the current directory's checkout if its python/rlft holds the same sources;
    None otherwise."""
    package = _package_dir()
    # Tracked, not merely inside a work tree: an environment kept in a checkout is ignored.
    if _git(["ls-files", "--error-unmatch", "__init__.py"], package) is not None:
        top = _git(["rev-parse", "--show-toplevel"], package)
        return Path(top) if top else None
    top = _git(["rev-parse", "--show-toplevel"], Path.cwd())
    source = Path(top) / "python" / "rlft" if top else None
    if source is not None and source.is_dir() and digest_tree(source) == digest_tree(package):
        return Path(top)
    return None


def source_commit() -> str:
    """The commit of the imported package's source checkout (source_checkout), 'unknown'
    without one."""
    checkout = source_checkout()
    return _checkout_commit(checkout) if checkout is not None else "unknown"


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# Sources of the compiled core, counted when the process imported it.
CORE_SOURCES = ("cpp/**/*", "bindings/**/*", "CMakeLists.txt")


def code_files(root: Path | None, inputs: Iterable[Path] = ()) -> dict[str, str]:
    """sha256 per repository path of the code this process ran, to compare with a later tree:
    every imported module of rlft (keyed python/rlft/..., installed or not) and, under `root`
    (a checkout, or a copy without git), every other imported module (benchmarks/...); the
    package's data files (the shipped presets' weights); the C++ sources under `root` when
    the compiled core was imported; and `inputs`, the files the process read (configs)."""
    package = _package_dir()
    root = Path(root).resolve() if root is not None else None
    files: dict[str, Path] = {}

    def add(path: Path) -> None:
        path = Path(path).resolve()
        if path.is_relative_to(package):
            inside = path.relative_to(package).as_posix()
            # An installed wheel carries the repository's configs/ as rlft/configs/.
            files[inside if inside.startswith("configs/") else "python/rlft/" + inside] = path
        elif root is not None and path.is_relative_to(root):
            parts = path.relative_to(root).parts
            if not any(p.startswith(".") or p in ("site-packages", "__pycache__") for p in parts):
                files["/".join(parts)] = path

    for module in list(sys.modules.values()):
        source = getattr(module, "__file__", None)
        # Absolute paths only: a generated module may name a file that does not exist.
        if source and source.endswith(".py") and os.path.isabs(source) and os.path.isfile(source):
            add(Path(source))
    for path in package.rglob("*"):
        # The shipped configs count when a run reads them (`inputs`), not all of them.
        if (path.is_file() and path.suffix not in (".py", ".pyc", ".so", ".pyd")
                and not path.relative_to(package).as_posix().startswith("configs/")):
            add(path)
    if root is not None and "rlft._core" in sys.modules:
        for pattern in CORE_SOURCES:
            for path in root.glob(pattern):
                if path.is_file():
                    add(path)
    for path in inputs:
        add(path)
    return {name: file_sha256(path) for name, path in sorted(files.items())}


def stale_files(code: dict[str, str], root: Path) -> list[str]:
    """The paths of a code_files() record whose file under `root` is now missing or
    different."""
    return [name for name, digest in code.items()
            if not (Path(root) / name).is_file() or file_sha256(Path(root) / name) != digest]


def run_inputs(argv: Sequence[str], out_dir: Path) -> list[Path]:
    """The config files a training run read: its YAML (--config, or the embedded default)
    and its DeepSpeed JSON (from the run's config.json)."""
    from rlft.trainer.config import DEFAULT_CONFIG
    from rlft.trainer.engine import find_config_file

    names = [DEFAULT_CONFIG]
    for index, arg in enumerate(argv):
        if arg == "--config" and index + 1 < len(argv):
            names = [argv[index + 1]]
        elif arg.startswith("--config="):
            names = [arg.split("=", 1)[1]]
    try:
        engine = json.loads((Path(out_dir) / "config.json").read_text())["engine"]
        names.append(engine.get("ds_config") or f"ds/zero{engine['zero_stage']}.json")
    except (OSError, ValueError, KeyError):
        pass
    found = []
    for name in names:
        try:
            found.append(find_config_file(name))
        except FileNotFoundError:
            pass
    return found


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
    # At the end, when every module the run used has been imported.
    record["code"] = MIXED if record.get("code_digest") in (MIXED, "unknown") else code_files(
        source_checkout(), run_inputs(record.get("argv", sys.argv), out_dir))
    _write(out_dir, record)
