"""The format-only warm start's examples: real env prompts, answers naming uniformly random
labels in the ACTION=X format."""

from __future__ import annotations

import re
from collections import Counter

from rlft.models.loading import load_tokenizer
from rlft.trainer.config import TrainConfig
from rlft.text.prompts import PromptConfig
from rlft.trainer.evaluate import make_env
from rlft.trainer.warm_start import format_examples

LABELS = ("blue", "green", "red", "yellow", "orange")


def _config() -> TrainConfig:
    config = TrainConfig()
    config.env.num_arms = 5
    config.env.horizon = 6
    config.prompt = PromptConfig(style="compact", cot=False, history_window=0, summary=True)
    return config


def _examples(count: int, seed: int, env_name: str = "mab",
              answer_prefix: bool = False) -> list[tuple[str, str]]:
    config = _config()
    config.prompt.answer_prefix = answer_prefix
    if env_name == "tictactoe":
        config.env.name = "tictactoe"
        config.prompt = PromptConfig(cot=False)
    tokenizer = load_tokenizer("tiny")
    env = make_env(config, 8, 3, "train")
    prompts, answers = format_examples(env, tokenizer, config.prompt, count, seed=seed,
                                       max_prompt_tokens=512)
    assert all(a[-1] == tokenizer.eos_token_id for a in answers)
    return [(tokenizer.decode(p), tokenizer.decode(a, skip_special_tokens=True))
            for p, a in zip(prompts, answers)]


def test_answers_are_uniform_random_labels_for_real_prompts() -> None:
    examples = _examples(300, seed=5)
    assert all(prompt.rstrip().endswith("<|im_start|>assistant") for prompt, _ in examples)
    assert all("Times chosen, mean reward:" in prompt for prompt, _ in examples)
    counts = Counter(answer.removeprefix("ACTION=") for _, answer in examples)
    assert set(counts) == set(LABELS)
    # 300 uniform draws over 5 labels: each count is 60 +- about 7 (one stddev).
    assert all(30 <= n <= 90 for n in counts.values()), counts


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
