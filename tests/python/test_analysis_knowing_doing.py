"""Knowing-doing analysis: scripted agents that write known <ucb_values> rationales."""

import json
import math

import numpy as np
import pytest

from rlft.agents.base import BatchedAgent
from rlft.agents.base import Decision, StepRecord
from rlft.analysis.config import KnowingDoingConfig
from rlft.analysis.knowing_doing import (classify_action, knowing_doing_metrics,
                                         parse_ucb_values, run_knowing_doing, true_ucb_values)
from rlft.cli import main
from rlft.text import ActionParser
from rlft.text.prompts import mab_labels


def reference_ucb(counts, sums):
    """UCB1 written out independently: mean + sqrt(2 ln t / n), untried arms +inf."""
    total = sum(counts)
    return [math.inf if n == 0 else s / n + math.sqrt(2 * math.log(total) / n)
            for n, s in zip(counts, sums)]


class ScriptedUCBWriter(BatchedAgent):
    """Writes a <ucb_values> block and ACTION=X like the LLM would; the env action is parsed
    back from the text. values: 'true' (the real UCB values) or 'wrong' (the highest value on
    a tried arm whenever the true argmax is elsewhere). acting: 'optimal' (an arm of highest
    true UCB) or 'greedy' (the best tried arm; arm 0 first)."""

    name = "scripted_ucb"

    def __init__(self, values, acting):
        super().__init__()
        self.values, self.acting = values, acting

    def reset(self, num_envs, num_actions, seed):
        super().reset(num_envs, num_actions, seed)
        self.labels = mab_labels("button", num_actions)
        self.parser = ActionParser(self.labels)

    def act(self, obs, info):
        texts = []
        for row in range(self.num_envs):
            counts = [int(n) for n in obs["counts"][row]]
            sums = [float(s) for s in obs["reward_sums"][row]]
            ucb = reference_ucb(counts, sums)
            tried = [arm for arm in range(self.num_actions) if counts[arm] > 0]
            written = list(ucb)
            if self.values == "wrong" and tried:
                written = [100.0 if arm == tried[0] else 0.0 for arm in range(self.num_actions)]
            if self.acting == "optimal":
                action = int(np.argmax(ucb))
            else:
                action = max(tried, key=lambda arm: ucb[arm]) if tried else 0
            pairs = ", ".join(f"{label}: {'inf' if math.isinf(v) else f'{v:.6f}'}"
                              for label, v in zip(self.labels, written))
            texts.append(f"UCB picks the arm with the largest mean + bonus.\n"
                         f"<ucb_values>{pairs}</ucb_values>\nACTION={self.labels[action]}")
        actions = self.parser.parse(texts).actions.astype(np.int32)
        return Decision(actions, [StepRecord(prompt="", generation=text, status="OK",
                                             parsed_action=int(action), invalid=False)
                                  for text, action in zip(texts, actions)])


def run_scripted(tmp_path, values, acting, horizon=8):
    config = KnowingDoingConfig(arms=4, episodes=5, seeds=2, horizon=horizon,
                                out=str(tmp_path / f"{values}_{acting}"))
    return run_knowing_doing(config, agent_factory=lambda env, seed: ScriptedUCBWriter(
        values, acting), show_progress=False)


def test_correct_values_optimal_actions(tmp_path):
    metrics = run_scripted(tmp_path, "true", "optimal")
    assert np.allclose(metrics["matrix"]["percent"], [[0, 100, 0], [0, 0, 0]])
    assert metrics["matrix"]["total"] == 2 * 5 * 8
    assert metrics["correct_rationale_rate"] == 1.0
    assert metrics["values_parsed_rate"] == 1.0
    assert metrics["follows_own_values_rate"] == 1.0
    for name in ("config.json", "metrics.json", "summary.md", "matrix.png", "generations.jsonl"):
        assert (tmp_path / "true_optimal" / name).is_file(), name


def test_correct_values_greedy_actions(tmp_path):
    """Step 0 (nothing tried) is optimal; afterwards the agent keeps arm 0 while untried arms
    have infinite UCB: greedy with a correct rationale."""
    metrics = run_scripted(tmp_path, "true", "greedy")
    assert np.allclose(metrics["matrix"]["percent"], [[100 * 7 / 8, 100 / 8, 0], [0, 0, 0]])
    assert metrics["matrix_given_rationale_percent"][0] == pytest.approx([87.5, 12.5, 0])
    assert metrics["follows_own_values_rate"] == pytest.approx(1 / 8)
    lines = [json.loads(line) for line in
             (tmp_path / "true_greedy" / "generations.jsonl").read_text().splitlines()]
    assert lines[1]["action_class"] == "greedy" and lines[1]["rationale_correct"] is True
    assert lines[1]["model_ucb_values"]["green"] == "inf"


def test_wrong_values_greedy_actions(tmp_path):
    metrics = run_scripted(tmp_path, "wrong", "greedy")
    assert np.allclose(metrics["matrix"]["percent"], [[0, 100 / 8, 0], [100 * 7 / 8, 0, 0]])
    assert metrics["correct_rationale_rate"] == pytest.approx(1 / 8)


def test_other_actions_and_invalid_steps():
    labels = ("blue", "green", "red")
    # Step 2: blue (mean 1) and green (mean 0) tried once, red untried: optimal = red,
    # greedy = blue, green is 'other'. The last step has no answer and a random action.
    actions = np.array([[0, 1, 1, 2]])
    rewards = np.array([[1.0, 0.0, 0.0, 0.0]])
    texts = [["<ucb_values>blue: inf, green: inf, red: inf</ucb_values>",
              "<ucb_values>blue: 1.0, green: inf, red: inf</ucb_values>",
              "<ucb_values>blue: 2.2, green: 1.2, red: inf</ucb_values>",
              None]]
    invalid = np.array([[False, False, False, True]])
    metrics = knowing_doing_metrics(actions, rewards, texts, labels, invalid=invalid)
    assert metrics["step_class"] == [[1, 1, 2, 1]]  # optimal, optimal, other, optimal
    assert metrics["step_correct"] == [[True, True, True, False]]
    assert metrics["matrix"]["counts"] == [[0, 2, 1], [0, 1, 0]]
    assert metrics["matrix_valid_only"]["counts"] == [[0, 2, 1], [0, 0, 0]]
    assert metrics["matrix_values_parsed"]["counts"] == [[0, 2, 1], [0, 0, 0]]
    assert metrics["invalid_rate"] == 0.25
    assert metrics["values_parsed_rate"] == 0.75


def test_true_ucb_and_action_classes():
    counts, sums = np.array([2, 1, 0]), np.array([1.0, 0.9, 0.0])
    ucb = true_ucb_values(counts, sums)
    assert ucb[:2] == pytest.approx(reference_ucb([2, 1, 0], [1.0, 0.9, 0.0])[:2])
    assert ucb[2] == math.inf
    assert true_ucb_values(counts, sums, "inverse_sqrt", 1.0)[:2] == pytest.approx(
        [0.5 + math.sqrt(0.5), 1.9])
    assert classify_action(2, counts, ucb) == "optimal"
    assert classify_action(1, counts, ucb) == "greedy"  # green: 0.9 + 1.48 > blue 0.5 + 1.05
    assert classify_action(0, counts, ucb) == "other"
    # When the greedy arm is also optimal it counts as optimal; nothing tried: all optimal.
    assert classify_action(1, np.array([2, 1, 1]), true_ucb_values([2, 1, 1], [1, .9, 0])) \
        == "optimal"
    assert classify_action(1, np.zeros(3), true_ucb_values(np.zeros(3), np.zeros(3))) \
        == "optimal"


def test_parse_ucb_values():
    labels = ("blue", "green", "red", "yellow")
    text = ("<ucb_values>old: 1</ucb_values> thinking... <ucb_values>\n"
            "- **Blue**: 0.5 + sqrt(2*ln(3)/1) = 1.98\n- green = infinity\n- red: NaN\n"
            "- UCB(yellow) = -0.25</ucb_values> ACTION=blue")
    assert parse_ucb_values(text, labels) == {0: 1.98, 1: math.inf, 3: -0.25}
    assert parse_ucb_values("no values here ACTION=red", labels) == {}
    assert parse_ucb_values("<ucb_values>red: 3e-1, blue: ∞", labels) == {2: 0.3, 0: math.inf}
    continuous = tuple(str(arm) for arm in range(10))
    assert parse_ucb_values("<ucb_values>0: 1.5, 1: 2.25, 10: 9</ucb_values>",
                            continuous) == {0: 1.5, 1: 2.25}


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="ucb_formula"):
        KnowingDoingConfig(ucb_formula="ucb2")
    with pytest.raises(ValueError, match="horizon"):
        KnowingDoingConfig(horizon=0)


def test_cli_smoke(tmp_path, tiny_model, monkeypatch):
    import rlft.models

    monkeypatch.setattr(rlft.models, "load_model_and_tokenizer", lambda name, **kw: tiny_model)
    out = tmp_path / "kd"
    assert main(["analyze", "knowing-doing", "--model", "tiny", "--arms", "3", "--episodes",
                 "2", "--horizon", "3", "--max-new-tokens", "12", "--out", str(out),
                 "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["matrix"]["total"] == 6
    assert sum(map(sum, metrics["matrix"]["percent"])) == pytest.approx(100.0)
    first = json.loads((out / "generations.jsonl").read_text().splitlines()[0])
    assert "<ucb_values>" in first["prompt"]
    assert (out / "matrix.png").is_file() and (out / "summary.md").is_file()
