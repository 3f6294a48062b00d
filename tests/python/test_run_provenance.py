"""A run's provenance.json names the code that trained it, and benchmarks/seeds.py reuses a run
only when that code and command are the ones it would train with now (no training here)."""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import pytest

from rlft.trainer import provenance
from rlft.trainer.provenance import digest_tree, read_provenance, write_run_end, write_run_start

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

import seeds  # noqa: E402


def _tree(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("x = 1\n")
    (root / "sub" / "mod.py").write_text("def f():\n    return 1\n")
    (root / "_core.cpython-311-x86_64-linux-gnu.so").write_bytes(b"\x7fELF core")
    (root / "notes.txt").write_text("not code\n")
    return root


def test_digest_tree_follows_sources_and_binaries_only(tmp_path):
    root = _tree(tmp_path / "pkg")
    before, with_core = digest_tree(root), digest_tree(root, include_binaries=True)
    assert before != with_core
    (root / "notes.txt").write_text("changed\n")   # not code: same digest
    assert digest_tree(root) == before
    (root / "sub" / "mod.py").write_text("def f():\n    return 2\n")
    assert digest_tree(root) != before
    (root / "sub" / "mod.py").write_text("def f():\n    return 1\n")
    assert digest_tree(root) == before
    (root / "sub" / "mod.py").rename(root / "sub" / "other.py")   # a rename changes it too
    assert digest_tree(root) != before
    (root / "sub" / "other.py").rename(root / "sub" / "mod.py")
    (root / "_core.cpython-311-x86_64-linux-gnu.so").write_bytes(b"\x7fELF other core")
    assert digest_tree(root) == before and digest_tree(root, True) != with_core


def test_code_digest_names_the_imported_package():
    import rlft

    digest = provenance.code_digest()
    assert len(digest) == 64 and digest == provenance.code_digest()
    # The sources alone do not make it: the imported compiled core counts too.
    assert digest != digest_tree(Path(rlft.__file__).parent)


@pytest.fixture
def stamped(monkeypatch):
    """Fixed code identity and clock, so the records can be compared exactly."""
    clock = itertools.count(100, 10)
    monkeypatch.setattr(provenance, "source_commit", lambda: "abc123")
    monkeypatch.setattr(provenance, "code_digest", lambda: "d" * 64)
    monkeypatch.setattr(provenance.time, "time", lambda: float(next(clock)))
    monkeypatch.setattr(provenance, "process_started_unix", lambda now: now)
    return monkeypatch


def test_a_run_starts_when_its_process_did():
    import psutil

    assert provenance.process_started_unix(0.0) == psutil.Process().create_time() > 0


def test_run_start_and_end_round_trip(tmp_path, stamped):
    write_run_start(tmp_path, True, argv=["train.py", "--config", "c.yaml"])
    assert read_provenance(tmp_path) == {"commit": "abc123", "code_digest": "d" * 64,
                                         "started_unix": 100.0,
                                         "argv": ["train.py", "--config", "c.yaml"]}
    write_run_end(tmp_path, True)
    record = json.loads((tmp_path / "provenance.json").read_text())
    assert record["finished_unix"] == 110.0 and record["wall_s"] == 10.0
    # The code it ran, file by file: this module among them, and the config it names.
    assert record["code"]["python/rlft/trainer/provenance.py"] == \
        provenance.file_sha256(Path(provenance.__file__))


def test_resume_keeps_the_first_start(tmp_path, stamped):
    write_run_start(tmp_path, True, argv=["a"])
    write_run_start(tmp_path, True, resumed=True, argv=["b"])
    write_run_end(tmp_path, True)
    write_run_start(tmp_path, True, resumed=True, argv=["c"])   # resumed after finishing
    record = read_provenance(tmp_path)
    assert record["started_unix"] == 100.0 and record["resumed_unix"] == [110.0, 130.0]
    assert record["argv"] == ["a"] and record["code_digest"] == "d" * 64
    assert "finished_unix" not in record and "wall_s" not in record
    write_run_end(tmp_path, True)
    assert read_provenance(tmp_path)["wall_s"] == 40.0


def test_resume_on_other_code_is_no_single_code(tmp_path, stamped):
    write_run_start(tmp_path, True, argv=["a"])
    stamped.setattr(provenance, "code_digest", lambda: "e" * 64)
    write_run_start(tmp_path, True, resumed=True, argv=["a"])
    record = read_provenance(tmp_path)
    assert record["code_digest"] == record["commit"] == provenance.MIXED
    # A resume of a run that recorded no start: the earlier part's code is unknown.
    (tmp_path / "old").mkdir()
    write_run_start(tmp_path / "old", True, resumed=True, argv=["a"])
    assert read_provenance(tmp_path / "old")["code_digest"] == "unknown"


def test_other_ranks_write_nothing(tmp_path, stamped):
    write_run_start(tmp_path, False, argv=["a"])
    write_run_end(tmp_path, False)
    assert not (tmp_path / "provenance.json").exists()


ARGV = ["python/rlft/train.py", "--config", "c.yaml", "run.seed=0", "run.out_dir=runs/x"]
FINISHED = {"commit": "abc123", "code_digest": "d" * 64, "started_unix": 1.0, "argv": ARGV,
            "finished_unix": 2.0, "wall_s": 1.0, "code": {"python/rlft/x.py": "f" * 64}}


@pytest.mark.parametrize("record, argv, reason", [
    (None, ARGV, "no provenance.json"),
    ({k: v for k, v in FINISHED.items() if k not in ("finished_unix", "wall_s")}, ARGV,
     seeds.UNFINISHED),
    ({**FINISHED, "code_digest": "e" * 64}, ARGV, "other code"),
    ({**FINISHED, "code_digest": provenance.MIXED}, ARGV, "other code"),
    (FINISHED, [*ARGV, "env.horizon=3"], "another command line"),
    ({k: v for k, v in FINISHED.items() if k != "code"}, ARGV, "no per-file code record"),
    (FINISHED, ARGV, None),
])
def test_seeds_reuses_only_a_finished_run_of_the_same_code_and_command(record, argv, reason):
    got = seeds.reuse_reason(record, "d" * 64, argv)
    assert got == reason if reason in (None, seeds.UNFINISHED) else reason in got


def test_seeds_table_names_one_commit():
    assert seeds.shared_commit([{"commit": "a"}, {"commit": "a"}]) == "a"
    with pytest.raises(SystemExit, match="--retrain"):
        seeds.shared_commit([{"commit": "a"}, {"commit": "a+dirty"}])


def _fake_results() -> dict:
    """The parts of a run's results.json that the seeds table reads."""
    policy = {key: 0.5 for key in ("final_regret", "final_regret_ci95", "coverage_final",
                                   "coverage_final_ci95", "invalid_rate", "shaped_return",
                                   "shaped_return_ci95")}
    policy["per_instance"] = {"final_regret": [0.5], "coverage_final": [0.5]}
    diff = {"mean": 0.0, "ci_low": -0.1, "ci_high": 0.1}
    return {"policies": {"start policy": policy, "final policy": policy},
            "paired": {"final_regret": diff, "coverage_final": diff},
            "eval": {"episodes": 2, "seeds": 1, "env": "mab"}}


def test_seeds_sweep_reuses_retrains_and_stamps_rows(tmp_path, stamped, capsys):
    """The sweep's decisions, with a stand-in for train.py that writes what a run writes."""
    trained = []

    def fake_train(argv: list[str]) -> None:
        out = Path(next(a for a in argv if a.startswith("run.out_dir=")).split("=", 1)[1])
        trained.append(out.name)
        out.mkdir(parents=True, exist_ok=True)
        write_run_start(out, True, argv=argv)
        (out / "results.json").write_text(json.dumps(_fake_results()))
        (out / "metrics.jsonl").write_text(json.dumps({"perf/rollout_s": 1.0}) + "\n")
        write_run_end(out, True)

    stamped.setattr(seeds, "ROOT", tmp_path)
    stamped.setattr(seeds, "train_seed", fake_train)
    stamped.setattr(seeds, "training_digest", lambda: "d" * 64)

    def sweep(*args: str) -> dict:
        stamped.setattr(sys, "argv", ["seeds.py", "--name", "t", "--seeds", "0", "1", *args])
        assert seeds.main() == 0
        return json.loads((tmp_path / "benchmarks" / "results" / "t.json").read_text())

    first = sweep()
    assert trained == ["seed0", "seed1"]
    assert first["commit"] == "abc123" and first["assembled_by"]
    assert [(r["commit"], r["code_digest"], r["wall_s"]) for r in first["rows"]] \
        == [("abc123", "d" * 64, 10.0)] * 2
    sweep()   # finished, same code and command: nothing trained
    assert trained == ["seed0", "seed1"] and "reusing" in capsys.readouterr().out
    stamped.setattr(seeds, "training_digest", lambda: "e" * 64)   # the code changed
    stamped.setattr(provenance, "code_digest", lambda: "e" * 64)
    stale = tmp_path / "runs" / "t" / "seed0" / "checkpoints"
    stale.mkdir()
    sweep()
    assert trained[2:] == ["seed0", "seed1"] and not stale.exists()
    assert "trained by other code" in capsys.readouterr().out
    # Rows trained on different commits make no table.
    record = read_provenance(tmp_path / "runs" / "t" / "seed1")
    (tmp_path / "runs" / "t" / "seed1" / "provenance.json").write_text(
        json.dumps({**record, "commit": "other"}))
    with pytest.raises(SystemExit, match="--retrain"):
        sweep()
    assert sweep("--retrain")["commit"] == "abc123" and trained[4:] == ["seed0", "seed1"]


def test_only_code_changes_make_a_checkout_dirty(tmp_path):
    """Docs or tests edited while a run trains do not change what trains; code does."""
    import subprocess

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    (tmp_path / "python").mkdir()
    (tmp_path / "python" / "m.py").write_text("x = 1\n")
    (tmp_path / "README.md").write_text("a\n")
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c")
    clean = provenance._checkout_commit(tmp_path)
    assert len(clean) == 40
    (tmp_path / "README.md").write_text("b\n")
    assert provenance._checkout_commit(tmp_path) == clean
    (tmp_path / "python" / "m.py").write_text("x = 2\n")
    assert provenance._checkout_commit(tmp_path) == clean + "+dirty"


def test_code_files_name_what_ran_and_find_what_changed(tmp_path):
    """Imported rlft and repository modules, C++ sources (the core is imported), the package's
    data and the inputs, by repository path; stale_files finds an edit and a removal."""
    import hashlib

    import rlft._core  # noqa: F401  (imported, so its C++ sources count)

    code = provenance.code_files(REPO, [REPO / "configs" / "cpu_default.yaml"])
    for name in ("python/rlft/trainer/provenance.py", "benchmarks/seeds.py",
                 "cpp/rlft/envs/tic_tac_toe.cpp", "CMakeLists.txt", "configs/cpu_default.yaml"):
        assert code[name] == hashlib.sha256((REPO / name).read_bytes()).hexdigest(), name
    # Repository files only: not the installed libraries this process imported.
    assert all((REPO / name).is_file() for name in code) and len(code) < 1000
    assert not any(name.startswith("configs/") for name in code
                   if name != "configs/cpu_default.yaml")         # only the config it read
    assert provenance.stale_files(code, REPO) == []
    copy = tmp_path / "tree"
    for name in ("benchmarks/seeds.py", "configs/cpu_default.yaml"):
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_bytes((REPO / name).read_bytes())
    (copy / "benchmarks" / "seeds.py").write_text("# edited\n")
    record = {name: code[name] for name in ("benchmarks/seeds.py", "configs/cpu_default.yaml",
                                            "cpp/rlft/envs/tic_tac_toe.cpp")}
    assert provenance.stale_files(record, copy) == ["benchmarks/seeds.py",
                                                    "cpp/rlft/envs/tic_tac_toe.cpp"]
