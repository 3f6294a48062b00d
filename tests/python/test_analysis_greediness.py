"""Greediness analysis: coverage of scripted agents whose exploration is known exactly."""

import json

import numpy as np
import pytest

from rlft.agents import GreedyAgent
from rlft.agents.base import BatchedAgent
from rlft.analysis.config import GreedinessConfig
from rlft.analysis.greediness import greediness_metrics, run_greediness
from rlft.cli import main


class RoundRobinAgent(BatchedAgent):
    """Plays arm (step mod K): tries a new arm every step until all are tried."""

    name = "round_robin"

    def act(self, obs, info):
        self._require_reset()
        return (np.asarray(obs["step"]) % self.num_actions).astype(np.int32)


def always_greedy(arms, cot):
    """Never leaves the first arm it tried: untried arms are worth -inf."""
    return lambda env, seed: GreedyAgent(untried_value=-np.inf)


def test_always_greedy_agent_covers_one_arm(tmp_path):
    config = GreedinessConfig(arms=[4, 10], cot_settings=["cot", "no_cot"], episodes=6, seeds=2,
                              horizon=12, out=str(tmp_path / "greedy"))
    result = run_greediness(config, agent_factory=always_greedy, show_progress=False)
    assert set(result["settings"]) == {"K4_cot", "K4_no_cot", "K10_cot", "K10_no_cot"}
    for arms in (4, 10):
        metrics = result["settings"][f"K{arms}_cot"]
        assert metrics["num_episodes"] == 12
        assert metrics["coverage"] == pytest.approx([1 / arms] * 12)
        assert metrics["coverage_final"] == pytest.approx(1 / arms)
        assert metrics["unexplored_share"] == pytest.approx(1 - 1 / arms)
        assert metrics["untried_arms_mean"] == pytest.approx(arms - 1)
        assert metrics["coverage_model_final"] == pytest.approx(1 / arms)  # no invalid steps
        assert metrics["invalid_rate"] == 0.0
    for name in ("config.json", "metrics.json", "summary.md", "coverage_by_step.png",
                 "regret_vs_coverage.png"):
        assert (tmp_path / "greedy" / name).is_file(), name
    assert "K10_cot" in (tmp_path / "greedy" / "summary.md").read_text()


def test_round_robin_agent_covers_one_new_arm_per_step(tmp_path):
    config = GreedinessConfig(arms=[5], cot_settings=["no_cot"], episodes=3, seeds=1, horizon=8,
                              out=str(tmp_path / "rr"))
    result = run_greediness(config, agent_factory=lambda arms, cot: (
        lambda env, seed: RoundRobinAgent()), show_progress=False)
    metrics = result["settings"]["K5_no_cot"]
    assert metrics["coverage"] == pytest.approx([min(t, 5) / 5 for t in range(1, 9)])
    assert metrics["unexplored_share"] == 0.0
    saved = json.loads((tmp_path / "rr" / "metrics.json").read_text())
    assert saved["settings"]["K5_no_cot"]["coverage_final"] == 1.0


def test_regret_and_model_only_coverage():
    actions = np.array([[0, 1, 2, 2], [1, 1, 1, 1]])
    regret = np.array([[0.5, 0.5, 1.0, 1.5], [0.0, 0.0, 0.0, 0.0]])
    chose = np.array([[True, False, True, True], [True, True, True, True]])
    metrics = greediness_metrics(actions, regret, 4, chose)
    assert metrics["coverage"] == pytest.approx([0.25, 0.375, 0.5, 0.5])
    # Row 0's arm 1 came from a random fallback: the model itself tried arms 0 and 2 only.
    assert metrics["coverage_model"] == pytest.approx([0.25, 0.25, 0.375, 0.375])
    assert metrics["final_regret"] == pytest.approx(0.75)
    assert metrics["episode_final_coverage"] == pytest.approx([0.75, 0.25])
    assert metrics["episode_final_regret"] == pytest.approx([1.5, 0.0])
    assert metrics["model_chose_rate"] == pytest.approx(7 / 8)
    with pytest.raises(ValueError, match="cumulative_regret shape"):
        greediness_metrics(actions, regret[:, :2], 4)


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="arms"):
        GreedinessConfig(arms=["ten"])
    with pytest.raises(ValueError, match="cot_settings"):
        GreedinessConfig(cot_settings=["maybe"])
    with pytest.raises(ValueError, match="episodes"):
        GreedinessConfig(episodes=0)
    assert GreedinessConfig(arms=["10,20"]).arms == [10, 20]


def test_cli_classic_agent(tmp_path, capsys):
    out = tmp_path / "cli"
    code = main(["analyze", "greediness", "--agent", "greedy", "--agent-option",
                 "untried_value=-inf", "--arms", "6", "--episodes", "4", "--horizon", "5",
                 "--out", str(out), "--quiet"])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics["settings"]) == ["K6"]  # a classic agent reads no prompt
    assert metrics["settings"]["K6"]["coverage_final"] == pytest.approx(1 / 6)
    assert main(["analyze", "greediness", "--arms", "1", "--out", str(out)]) == 2
    assert "arms" in capsys.readouterr().err


def test_cli_llm_smoke(tmp_path, tiny_model, monkeypatch):
    """End to end with the tiny model: both prompts, a real LLM agent, all files written."""
    import rlft.models

    monkeypatch.setattr(rlft.models, "load_model_and_tokenizer", lambda name, **kw: tiny_model)
    out = tmp_path / "llm"
    assert main(["analyze", "greediness", "--model", "tiny", "--arms", "5", "--episodes", "2",
                 "--horizon", "3", "--max-new-tokens", "8", "--no-cot-max-new-tokens", "4",
                 "--out", str(out), "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["settings"]) == {"K5_cot", "K5_no_cot"}
    lines = (out / "generations.jsonl").read_text().splitlines()
    assert len(lines) == 2 * 2 * 3
    record = json.loads(lines[0])
    assert {"prompt", "generation", "status", "action"} <= set(record)
    for setting in metrics["settings"].values():
        assert 0 < setting["coverage_final"] <= 1
        assert setting["coverage_model_final"] <= setting["coverage_final"]


def test_scripted_llm_answers_and_answer_patterns(tmp_path, tiny_model, monkeypatch):
    """The LLM agent path with scripted generations: an answer in prose ('the button labeled
    "red"') is invalid under the paper's parse (random actions, full coverage from the
    fallback alone) and always red with the extra pattern (coverage exactly 1/K)."""
    import rlft.models
    from rlft.agents.generation import Generations, HFGenerator

    monkeypatch.setattr(rlft.models, "load_model_and_tokenizer", lambda name, **kw: tiny_model)
    answer = 'The next action is to press the button labeled "red" and receive a reward'
    monkeypatch.setattr(HFGenerator, "generate", lambda self, prompts, sampling, seed:
                        Generations([answer] * len(prompts), [list(p) for p in prompts],
                                    [[1]] * len(prompts)))
    common = dict(arms=[5], cot_settings=["no_cot"], episodes=4, horizon=10)
    strict = run_greediness(GreedinessConfig(out=str(tmp_path / "strict"), **common),
                            show_progress=False)["settings"]["K5_no_cot"]
    assert strict["invalid_rate"] == 1.0
    assert strict["coverage_model_final"] == 0.0
    assert strict["coverage_final"] > 0.5  # the random fallback explores for the model
    lenient = run_greediness(GreedinessConfig(out=str(tmp_path / "lenient"),
                                              answer_pattern=["button labeled {action}"],
                                              **common), show_progress=False)
    metrics = lenient["settings"]["K5_no_cot"]
    assert metrics["invalid_rate"] == 0.0
    assert metrics["coverage"] == pytest.approx([0.2] * 10)
    assert lenient["answer_patterns"] == ["ACTION={action}", "button labeled {action}"]
    with pytest.raises(ValueError, match="answer_pattern"):
        GreedinessConfig(answer_pattern=["labeled"])


@pytest.mark.parametrize("completion, invalid_rate", [("red\nStep=1 Action=blue Reward=0.5", 0.0),
                                                     ("X\nStep=1 Action=blue Reward=0.5", 1.0)])
def test_answer_prefix_setting_reads_the_completed_label(tmp_path, tiny_model, monkeypatch,
                                                         completion, invalid_rate):
    """no_cot_prefix: the prompt ends with 'ACTION=' and the completion's first line is the
    answer, so a made-up history line after it is never read as the choice."""
    import rlft.agents.llm_agent as llm_agent_module
    import rlft.models
    from rlft.agents.generation import Generations

    monkeypatch.setattr(rlft.models, "load_model_and_tokenizer", lambda name, **kw: tiny_model)
    seen = []

    def scripted(self, prompts, *args, **kwargs):
        seen.extend(self.tokenizer.decode(p) for p in prompts)
        return Generations([completion] * len(prompts), [[]] * len(prompts),
                           [[1]] * len(prompts))

    monkeypatch.setattr(llm_agent_module.HFGenerator, "generate", scripted)
    config = GreedinessConfig(out=str(tmp_path), arms=[5], cot_settings=["no_cot_prefix"],
                              episodes=4, horizon=6)
    metrics = run_greediness(config, show_progress=False)["settings"]["K5_no_cot_prefix"]
    assert seen and all(prompt.endswith("ACTION=") for prompt in seen)
    assert metrics["invalid_rate"] == invalid_rate
    if invalid_rate == 0.0:
        assert metrics["coverage"] == pytest.approx([0.2] * 6)  # always red
    else:
        assert metrics["coverage_model_final"] == 0.0
