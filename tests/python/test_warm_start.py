"""The warm start's examples: real env prompts; the format expert's answers name uniformly
random labels in the ACTION=X format, the greedy expert's are its counts-and-means rationale."""

from __future__ import annotations

import re
from collections import Counter

from scipy.stats import binomtest, chisquare

from rlft.models.loading import load_tokenizer
from rlft.trainer.config import TrainConfig
from rlft.text.prompts import PromptConfig
from rlft.trainer.evaluate import make_env
from rlft.trainer.warm_start import expert_examples, make_expert

LABELS = ("blue", "green", "red", "yellow", "orange")


def _config() -> TrainConfig:
    config = TrainConfig()
    config.env.num_arms = 5
    config.env.horizon = 6
    config.prompt = PromptConfig(style="compact", cot=False, history_window=0, summary=True)
    return config


def _examples(count: int, seed: int, env_name: str = "mab", answer_prefix: bool = False,
              expert: str = "format", epsilon: float = 0.0, cot: bool = False
              ) -> list[tuple[str, str]]:
    config = _config()
    config.prompt.answer_prefix = answer_prefix
    config.prompt.cot = cot
    if env_name == "tictactoe":
        config.env.name = "tictactoe"
        config.prompt = PromptConfig(cot=False)
    tokenizer = load_tokenizer("tiny")
    env = make_env(config, 8, 3, "train")
    prompts, answers = expert_examples(env, tokenizer, config.prompt,
                                       make_expert(expert, env, config.prompt, epsilon), count,
                                       seed=seed, max_prompt_tokens=512)
    assert all(a[-1] == tokenizer.eos_token_id for a in answers)
    return [(tokenizer.decode(p), tokenizer.decode(a, skip_special_tokens=True))
            for p, a in zip(prompts, answers)]


def test_answers_are_uniform_random_labels_for_real_prompts() -> None:
    examples = _examples(1000, seed=5)
    assert all(prompt.rstrip().endswith("<|im_start|>assistant") for prompt, _ in examples)
    assert all("Times chosen, mean reward:" in prompt for prompt, _ in examples)
    counts = Counter(answer.removeprefix("ACTION=") for _, answer in examples)
    assert set(counts) == set(LABELS)
    # Uniform over 5 labels. An expert favouring one label by 0.05 (250 of 1000, not 200)
    # expects a chi-square of about 20 here, a uniform one 4 (p = 0.01 at 13.3).
    assert chisquare(list(counts.values())).pvalue > 0.01, counts


def test_tic_tac_toe_answers_name_a_legal_cell() -> None:
    examples = _examples(100, seed=3, env_name="tictactoe")
    assert len(examples) == 100
    for prompt, answer in examples:
        legal = re.findall(r"Legal actions: ([\d, ]+)", prompt)[-1].split(", ")
        assert answer.removeprefix("ACTION=") in legal, (legal, answer)


def test_answer_prefix_examples_end_the_prompt_at_action_and_answer_the_label() -> None:
    """As the LLM agent asks under prompt.answer_prefix: the prompt ends with 'ACTION=' and
    the model completes the label; the same states and labels as without the prefix."""
    examples = _examples(40, seed=5, answer_prefix=True)
    assert all(prompt.endswith("<|im_start|>assistant\nACTION=") for prompt, _ in examples)
    assert [answer for _, answer in examples] == [
        answer.removeprefix("ACTION=") for _, answer in _examples(40, seed=5)]


def test_examples_are_deterministic_for_a_seed() -> None:
    assert _examples(40, seed=1) == _examples(40, seed=1)
    assert _examples(40, seed=1) != _examples(40, seed=2)


def _summary(prompt: str) -> dict[str, tuple[int, str]]:
    """label -> (count, mean as written) read from the compact prompt's summary lines."""
    lines = re.findall(r"^(\w+): (\d+)(?:, (-?[\d.]+))?$", prompt, flags=re.M)
    return {label: (int(count), mean) for label, count, mean in lines}


def test_greedy_expert_keeps_the_best_mean_and_explores_at_its_rate() -> None:
    """Greedy answers: the tried arms' lines, then the best mean, unless the step explores an
    untried arm (chances: steps with an arm left untried and a tried mean above 0)."""
    for epsilon in (0.0, 0.5):
        examples = _examples(1000, seed=2, expert="greedy", epsilon=epsilon, cot=True)
        explored = chances = 0
        for prompt, answer in examples:
            summary = _summary(prompt.split("Times chosen, mean reward:")[-1])
            tried = {label: value for label, value in summary.items() if value[0] > 0}
            chosen = answer.rsplit("ACTION=", 1)[1]
            assert answer.startswith("Means:\n")
            for label, (count, mean) in tried.items():
                assert f"\n{label} {mean}\n" in answer
            if len(tried) < len(summary) and not any(float(m) > 0 for _, m in tried.values()):
                # Nothing tried beats an untried arm's 0: the greedy choice is an untried one.
                assert f"Untried: {chosen}." in answer and chosen not in tried
                continue
            chances += len(tried) < len(summary)
            if f"Untried: {chosen}." in answer:
                assert chosen not in tried
                explored += 1
            else:
                best = max(float(mean) for _, mean in tried.values())
                assert f"Best mean: {chosen}." in answer and float(tried[chosen][1]) == best
        # Each chance explores with probability epsilon, independently: binomial counts.
        assert binomtest(explored, chances, epsilon).pvalue > 0.01, (epsilon, explored, chances)


def test_greedy_expert_without_cot_answers_the_action_only() -> None:
    examples = _examples(60, seed=2, expert="greedy")
    assert all(re.fullmatch(r"ACTION=\w+", answer) for _, answer in examples)
    assert _examples(60, seed=2, expert="greedy") == examples

