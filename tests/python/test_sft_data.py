"""SFT datasets: golden renderings, the expert's rules, determinism, the on-disk format and its
errors, and the `rlft data` command.

Golden files live in tests/golden/sft/. After an intended change of prompts or targets,
regenerate them with
``RLFT_UPDATE_GOLDEN=1 PYTHONPATH=python python3 -m pytest tests/python/test_sft_data.py``
and review the diff.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from rlft.agents import run_episodes
from rlft.sft import DataConfig, DatasetError, make_dataset, read_examples, read_manifest
from rlft.sft.generate import generate_examples, make_expert, make_setting_env
from rlft.text import ActionParser, ParseStatus
from rlft.text.prompts import mab_labels
from sft_helpers import data_config

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "golden" / "sft"
UPDATE_GOLDEN = os.environ.get("RLFT_UPDATE_GOLDEN") == "1"

SUMMARY_ONLY = dict(history_window=0, summary=True)
GOLDEN_CASES = {
    # 7 steps: five try-all steps, then two UCB choices.
    "ucb_tc": dict(kind="ucb", target="tc", cot=True, horizon=7, episodes=1, num_envs=1,
                   **SUMMARY_ONLY),
    "ucb_tc_compact": dict(kind="ucb", target="tc", cot=True, style="compact", horizon=7,
                           episodes=1, num_envs=1, **SUMMARY_ONLY),
    "ucb_bc": dict(kind="ucb", target="bc", horizon=7, episodes=1, num_envs=1, **SUMMARY_ONLY),
    "minimax_bc": dict(kind="minimax", env="tictactoe", episodes=1, num_envs=1),
    "format_rationale": dict(kind="format", rationale=True, cot=True, horizon=3, episodes=1,
                             num_envs=1),
}


def _records(**options) -> list[dict]:
    return [record for _, record in generate_examples(data_config(**options))]


def _render(records: list[dict]) -> str:
    blocks = []
    for r in records:
        meta = {k: r[k] for k in ("setting", "episode", "step", "task_id", "action", "label")}
        blocks.append(f"### example {json.dumps(meta, sort_keys=True)}\n"
                      f"--- user\n{r['messages'][0]['content']}\n--- target\n{r['target']}\n")
    return "\n".join(blocks)


def _check_golden(name: str, text: str) -> None:
    path = GOLDEN_DIR / name
    if UPDATE_GOLDEN:
        GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="")
    assert path.exists(), f"missing golden file {path}; run with RLFT_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), (
        f"{name} differs from {path}; if the change is intended, rerun with "
        "RLFT_UPDATE_GOLDEN=1")


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_rendered_examples_match_golden(name):
    _check_golden(f"{name}.txt", _render(_records(**GOLDEN_CASES[name])))


def test_manifest_matches_golden(tmp_path):
    manifest = make_dataset(data_config(**GOLDEN_CASES["ucb_tc"], out=str(tmp_path / "d")))
    manifest["config"]["out"] = "<out>"
    _check_golden("ucb_tc_manifest.json", json.dumps(manifest, indent=2) + "\n")


def test_no_stale_golden_files():
    expected = {f"{name}.txt" for name in GOLDEN_CASES} | {"ucb_tc_manifest.json"}
    assert {p.name for p in GOLDEN_DIR.iterdir()} == expected


# ----------------------------------------------------------------------------- the expert

SUMMARY_LINE = re.compile(r"^(\w+): chosen (\d+) times?, mean reward (-?\d+\.\d+)$", re.M)
TC_LINE = re.compile(r"^Count for action (\w+) = (\d+), Mean = \((-?\d+\.\d+)\) / \d+ = "
                     r"(-?\d+\.\d+), UCB = (-?\d+\.\d+) \+ sqrt\(1 / (\d+)\) = (-?\d+\.\d+)$",
                     re.M)


def test_tc_rationale_reads_the_prompt_numbers_and_picks_the_ucb_arm():
    records = _records(kind="ucb", target="tc", cot=True, horizon=20, episodes=6, num_envs=3,
                       arms=[5], **SUMMARY_ONLY)
    assert len(records) == 6 * 20
    exploited = 0
    for r in records:
        shown = {m[0]: (int(m[1]), m[2]) for m in SUMMARY_LINE.findall(r["messages"][0]["content"])}
        computed = {m[0]: (int(m[1]), m[3], float(m[6])) for m in TC_LINE.findall(r["target"])}
        assert {k: v[:2] for k, v in computed.items()} == shown  # same counts, same means
        assert r["target"].endswith(f"ACTION={r['label']}")
        if len(shown) == 5:  # every arm tried: the highest UCB (ties: first label) is taken
            exploited += 1
            ucb = {label: value[2] for label, value in computed.items()}
            best = max(ucb.values())
            assert ucb[r["label"]] == best
            assert f"Therefore, action {r['label']} is selected." in r["target"]
        else:  # try-all phase: the first untried label in label order
            untried = [label for label in mab_labels("button", 5) if label not in shown]
            assert r["label"] == untried[0]
            assert "We have not yet selected all actions." in r["target"]
    assert exploited == 6 * 15


def test_bc_and_tc_share_states_and_actions():
    common = dict(kind="ucb", horizon=12, episodes=4, num_envs=2, seed=3, **SUMMARY_ONLY)
    bc, tc = _records(target="bc", **common), _records(target="tc", **common)
    assert [r["action"] for r in bc] == [r["action"] for r in tc]
    assert [r["messages"] for r in bc] == [r["messages"] for r in tc]
    assert all(r["target"] == f"ACTION={r['label']}" for r in bc)


def test_every_arm_count_and_noise_level_is_a_setting_on_the_training_pool():
    config = data_config(kind="ucb", arms=[3, 5], noises=["low", "high"], horizon=4, episodes=10,
                        num_envs=4, pool_size=8)
    records = [record for _, record in generate_examples(config)]
    settings = config.settings()
    assert [(s["num_arms"], s["noise"]) for s in settings] == \
        [(3, "low"), (3, "high"), (5, "low"), (5, "high")]
    assert Counter(r["setting"] for r in records) == {i: 10 * 4 for i in range(4)}
    for index, setting in enumerate(settings):
        ids = [r["task_id"] for r in records if r["setting"] == index and r["step"] == 0]
        assert sorted(ids) == sorted([i % 8 for i in range(10)])  # the pool, evenly; no held-out id
        labels = {r["label"] for r in records if r["setting"] == index}
        assert labels <= set(mab_labels("button", setting["num_arms"]))


def test_format_only_actions_are_uniform_valid_and_parse_back():
    records = _records(kind="format", env="tictactoe", episodes=60, num_envs=20)
    parser = ActionParser([str(i) for i in range(9)])
    parsed = parser.parse([r["target"] for r in records])
    assert np.all(parsed.status == ParseStatus.OK)
    assert list(parsed.actions) == [r["action"] for r in records]
    for r in records:  # the legal actions listed in the prompt
        legal = re.search(r"Legal actions: ([\d, ]+)", r["messages"][0]["content"]).group(1)
        assert str(r["action"]) in legal.split(", ")
    first_moves = Counter(r["action"] for r in records if r["step"] == 0)
    assert len(first_moves) >= 7  # 60 uniform draws over 9 empty cells


@pytest.mark.parametrize("options", [
    dict(kind="ucb", target="tc", cot=True, horizon=6),
    dict(kind="minimax", env="tictactoe"),
    dict(kind="format", rationale=True, cot=True, env="tictactoe"),
], ids=["ucb", "minimax", "format"])
def test_experts_execute_the_action_their_answer_names(options):
    config = data_config(num_envs=4, **options)
    env = make_setting_env(config.settings()[0], config, seed=0)
    rollout = run_episodes(env, make_expert(config, env), num_episodes=2, seed=0)
    records = rollout.records()
    assert len(records) == int(rollout.valid.sum())
    parser = ActionParser([str(i) for i in range(9)] if config.env == "tictactoe"
                          else list(mab_labels("button", 5)))
    for row, step, record in records:
        assert record.parsed_action == rollout.actions[row, step]
        assert not rollout.invalid[row, step]
        assert record.generation.endswith(f"ACTION={record.label}")
        assert parser.parse([record.generation]).actions[0] == record.parsed_action


LINES = [(0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6)]


def _winning_cells(state: str) -> set[int]:
    """Empty cells that complete a line of the agent's (player 1) stones."""
    return {cell for line in LINES for cell in line
            if state[cell] == "0" and sum(state[c] == "1" for c in line) == 2}


def test_minimax_answers_are_legal_and_take_every_win():
    records = _records(kind="minimax", env="tictactoe", episodes=40, num_envs=10, seed=1)
    chances = 0
    for r in records:
        state = re.search(r"Current state: State=(\d{9})", r["messages"][0]["content"]).group(1)
        assert state[r["action"]] == "0"
        assert r["target"] == f"ACTION={r['action']}"
        if _winning_cells(state):
            chances += 1
            assert r["action"] in _winning_cells(state), (state, r["action"])
    assert chances >= 10


def test_same_seed_same_bytes_other_seed_other_data(tmp_path):
    options = dict(kind="ucb", target="tc", cot=True, horizon=6, episodes=4, num_envs=2)
    a = make_dataset(data_config(**options, out=str(tmp_path / "a")))
    b = make_dataset(data_config(**options, out=str(tmp_path / "b")))
    c = make_dataset(data_config(**options, seed=1, out=str(tmp_path / "c")))
    digest = lambda m: m["files"]["examples.jsonl"]["sha256"]  # noqa: E731
    assert digest(a) == digest(b) != digest(c)
    assert (tmp_path / "a" / "examples.jsonl").read_bytes() == \
        (tmp_path / "b" / "examples.jsonl").read_bytes()


# ----------------------------------------------------------------------------- on disk

def test_round_trip_and_read_errors(tmp_path):
    out = tmp_path / "data"
    manifest = make_dataset(data_config(kind="ucb", horizon=3, episodes=2, num_envs=2,
                                       out=str(out)))
    records = read_examples(out)
    assert len(records) == manifest["num_examples"] == 6
    assert read_manifest(out)["settings"][0]["examples"] == 6
    lines = (out / "examples.jsonl").read_text().splitlines(keepends=True)
    (out / "examples.jsonl").write_text("".join(lines[:-1]))
    with pytest.raises(DatasetError, match="5 lines, the manifest says 6"):
        read_examples(out)
    (out / "examples.jsonl").write_text("".join(lines).replace("ACTION=", "ACTION= "))
    with pytest.raises(DatasetError, match="checksum"):
        read_examples(out)
    (out / "manifest.json").unlink()
    with pytest.raises(DatasetError, match="manifest.json does not exist"):
        read_examples(out)


@pytest.mark.parametrize("options, field", [
    (dict(kind="ucb", env="tictactoe"), "env"),
    (dict(kind="minimax"), "env"),
    (dict(kind="format", target="tc"), "target"),
    (dict(kind="ucb", rationale=True), "rationale"),
    (dict(target="cot"), "target"),
    (dict(arms=[1]), "arms"),
    (dict(noises=["loud"]), "noises"),
    (dict(episodes=0), "episodes"),
    (dict(history_window=0), "history_window"),
    (dict(kind="ucb", randomise_labels=True), "randomise_labels"),
    (dict(kind="format", answer_prefix=True), "answer_prefix"),
])
def test_bad_settings_name_the_field(options, field):
    with pytest.raises(ValueError, match=field):
        data_config(**options)


def test_rlft_data_command(tmp_path, capsys):
    from rlft.cli import main

    out = tmp_path / "cli"
    code = main(["data", "--kind", "ucb", "--target", "tc", "--cot", "--arms", "3",
                 "--arms", "4", "--noises", "low", "--horizon", "5", "--episodes", "2",
                 "--history-window", "0", "--summary", "--out", str(out)])
    assert code == 0
    assert "wrote 20 examples" in capsys.readouterr().out
    manifest = read_manifest(out)
    assert [s["num_arms"] for s in manifest["settings"]] == [3, 4]
    assert manifest["config"]["prompt"]["summary"] is True
    assert main(["data", "--kind", "minimax", "--out", str(tmp_path / "x")]) == 2
    assert "env must be 'tictactoe'" in capsys.readouterr().err
