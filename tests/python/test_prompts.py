"""Prompts, history, batch adapters and chat formatting.

Golden files in tests/golden/prompts/ pin the exact text of every env and variant. After a
deliberate wording change regenerate them with
``RLFT_UPDATE_GOLDEN=1 PYTHONPATH=python python3 -m pytest tests/python/test_prompts.py`` and
review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from rlft.text import templates
from rlft.text.chat import (format_chat, format_plain_text, format_prompt,
                            merge_system_message, shared_chat_prefix, supports_system_role)
from rlft.text.env_prompts import (CbPrompter, LabelShuffler, MabPrompter, PromptBatch,
                                   TicTacToePrompter)
from rlft.text.history import HistoryStep, InteractionHistory
from rlft.text.prompts import (CbContext, CbTask, MabTask, PromptConfig, PromptStyle,
                               board_string, describe_user, epsilon_greedy_rationale, format_number,
                               format_values, mab_labels, render_cb_prompt, render_mab_prompt,
                               render_tictactoe_prompt, try_all_rationale, ucb_thought_rationale,
                               greedy_thought_rationale)

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "golden" / "prompts"
UPDATE_GOLDEN = os.environ.get("RLFT_UPDATE_GOLDEN") == "1"

# ---------------------------------------------------------------- fixed example data

MAB_ACTIONS = [0, 1, 2, 3, 4, 1, 1, 0]
MAB_REWARDS = [0.53, 1.174, -0.3, 0.004, -1.2551, 0.9, 1.25, -0.0042]
MAB_HISTORY = [HistoryStep(t, a, r) for t, (a, r) in enumerate(zip(MAB_ACTIONS, MAB_REWARDS))]
MAB_TASK = MabTask(num_arms=5, horizon=50)
RANDOMISED_DISPLAY = [3, 0, 4, 1, 2]  # env action a is shown as label index display[a]

MOVIES = ("star_wars_(1977)", "contact_(1997)", "fargo_(1996)", "return_of_the_jedi_(1983)",
          "liar_liar_(1997)")
USER_A = describe_user(28, "M", "administrator", "Santa Clara county, CA")
USER_B = describe_user(41, "F", "librarian", "Cook county, IL")
CB_HISTORY = [
    HistoryStep(0, 2, 0.41, CbContext(USER_A, (-0.04, 0.02, -0.02, -0.001, 0.02))),
    HistoryStep(1, 0, 0.87, CbContext(USER_B, (0.11, -0.3, 0.054, 0.0, -0.12))),
]
CB_CURRENT = CbContext(USER_A, (-0.04, 0.02, -0.02, -0.001, 0.02))

TTT_HISTORY = [HistoryStep(0, 0, 0.0, "000000000"), HistoryStep(1, 4, 0.0, "102000000")]
TTT_BOARD = "102010200"

CHATML_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
GEMMA_LIKE_TEMPLATE = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}"
    "{{ raise_exception('System role not supported') }}{% endif %}"
    "{% for m in messages %}<start_of_turn>{{ 'model' if m['role'] == 'assistant' "
    "else m['role'] }}\n{{ m['content'] | trim }}<end_of_turn>\n{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}")
DROPPING_TEMPLATE = (  # ignores system messages without complaint
    "{% for m in messages %}{% if m['role'] != 'system' %}[{{ m['role'] }}] {{ m['content'] }}\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}[assistant] {% endif %}")
SYSTEM_TEXT = "You are a careful decision-making agent."


def make_tokenizer(chat_template: str | None, adds_bos: bool = False):
    """A tiny word-level tokenizer built locally (no downloads) with the given chat template;
    ``adds_bos``: it puts <bos> in front of every text it encodes (as Gemma's does)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"[UNK]": 0, "<bos>": 1, "<eos>": 2, "<pad>": 3}
    for word in "you are a bandit algorithm what do predict next action".split():
        vocab[word] = len(vocab)
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    if adds_bos:
        backend.post_processor = processors.TemplateProcessing(
            single="<bos> $A", pair="<bos> $A $B", special_tokens=[("<bos>", 1)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<bos>",
                                        eos_token="<eos>", pad_token="<pad>", unk_token="[UNK]")
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    return tokenizer


def mab(**options) -> str:
    display = options.pop("display", None)
    task = options.pop("task", MAB_TASK)
    history = options.pop("history", MAB_HISTORY)
    return render_mab_prompt(PromptConfig(**options), task, history, display)


def ucb_rationale_text(counts, sums) -> str:
    return ucb_thought_rationale(templates.BUTTON_COLOURS[:5], counts, sums)[0]


GOLDEN_CASES: dict[str, Callable[[], str]] = {
    "mab_button_cot": lambda: mab(),
    "mab_button_no_cot": lambda: mab(cot=False),
    "mab_button_first_step": lambda: mab(history=[]),
    "mab_button_window3": lambda: mab(history_window=3),
    "mab_button_summary": lambda: mab(summary=True),
    "mab_button_randomised": lambda: mab(randomise_labels=True, summary=True,
                                         display=RANDOMISED_DISPLAY),
    "mab_button_ucb_instructed": lambda: mab(ucb_instructed=True),
    "mab_button_compact_summary_only": lambda: mab(style="compact", cot=False, history_window=0,
                                                   summary=True),
    "mab_button_observation_only": lambda: mab(style="observation", cot=False),
    "mab_button_k20_bernoulli": lambda: mab(task=MabTask(20, 50, "bernoulli"), cot=False),
    "mab_continuous_cot": lambda: mab(variant="continuous"),
    "mab_continuous_no_cot": lambda: mab(variant="continuous", cot=False),
    "cb_cot": lambda: render_cb_prompt(PromptConfig(), CbTask(MOVIES, 50), CB_HISTORY, CB_CURRENT),
    "cb_no_cot_summary": lambda: render_cb_prompt(PromptConfig(cot=False, summary=True),
                                                  CbTask(MOVIES, 50), CB_HISTORY, CB_CURRENT),
    "tictactoe_legal_actions": lambda: render_tictactoe_prompt(PromptConfig(), TTT_HISTORY,
                                                               TTT_BOARD),
    "tictactoe_no_legal_actions": lambda: render_tictactoe_prompt(
        PromptConfig(show_legal_actions=False), TTT_HISTORY, TTT_BOARD),
    "tictactoe_first_move_no_cot": lambda: render_tictactoe_prompt(PromptConfig(cot=False), [],
                                                                   "000000000"),
    "rationale_try_all": lambda: try_all_rationale("purple"),
    "rationale_epsilon_greedy": lambda: epsilon_greedy_rationale("gray"),
    "rationale_ucb_explore": lambda: ucb_rationale_text([1, 2, 0, 1, 0], [-1.91, 1.5, 0, 0.2, 0]),
    "rationale_ucb_exploit": lambda: ucb_rationale_text([1, 2, 3, 1, 1],
                                                        [-1.91, 1.5, 2.7, 0.2, 0.33]),
    "chat_with_system_role": lambda: format_prompt(make_tokenizer(CHATML_TEMPLATE),
                                                   mab(history=MAB_HISTORY[:2]), SYSTEM_TEXT),
    "chat_system_merged_gemma": lambda: format_prompt(make_tokenizer(GEMMA_LIKE_TEMPLATE),
                                                      mab(history=MAB_HISTORY[:2]), SYSTEM_TEXT),
}


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_golden_prompt(name: str) -> None:
    text = GOLDEN_CASES[name]()
    path = GOLDEN_DIR / f"{name}.txt"
    if UPDATE_GOLDEN:
        GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="")
    assert path.exists(), f"missing golden file {path}; run with RLFT_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), (
        f"{name} differs from {path}; if the change is intended, rerun with RLFT_UPDATE_GOLDEN=1")


def test_no_stale_golden_files() -> None:
    on_disk = {path.stem for path in GOLDEN_DIR.glob("*.txt")}
    assert on_disk == set(GOLDEN_CASES)


# ---------------------------------------------------------------- prompt content


def test_button_colours_follow_banditbench_and_are_unambiguous() -> None:
    colours = templates.BUTTON_COLOURS
    assert colours[:11] == ("blue", "green", "red", "yellow", "orange", "purple", "pink",
                            "brown", "black", "white", "gray")
    assert len(colours) >= 30 and len(set(colours)) == len(colours)
    for a in colours:
        assert a.isalpha() and a.islower()
        assert not any(b != a and b.startswith(a) for b in colours), a
    assert mab_labels("button", 20) == colours[:20]
    assert mab_labels("continuous", 3) == ("0", "1", "2")
    with pytest.raises(ValueError, match="colour names"):
        mab_labels("button", len(colours) + 1)


def test_paper_fragments_and_history_lines() -> None:
    text = mab()
    assert text.startswith("You are a bandit algorithm in a room with 5 buttons labeled "
                           "blue, green, red, yellow, orange.")
    assert "Think step-by-step and output your final answer in the format ACTION=X" in text
    assert "IMPORTANT: Provide your (SHORT!) thinking process and your answer ACTION=X" in text
    assert "So far you have tried/seen:\nStep=0 Action=blue Reward=0.53\n" in text
    assert "Step=4 Action=orange Reward=-1.26" in text
    assert "Step=7 Action=blue Reward=0.00" in text  # -0.0042 rounds to 0.00, not -0.00
    assert text.endswith("What do you predict next?")
    no_cot = mab(cot=False)
    assert "Output ONLY your final answer in the format ACTION=X" in no_cot
    assert "step-by-step" not in no_cot
    assert mab(variant="continuous").startswith(
        "You are a bandit algorithm interacting with 5 arms labeled 0, 1, 2, 3, 4.")


def test_history_window_keeps_absolute_steps() -> None:
    text = mab(history_window=2)
    assert "Step=6 Action=green Reward=1.25\nStep=7 Action=blue Reward=0.00" in text
    assert "Step=5" not in text and "(only the last 2 of 8 steps are shown)" in text
    assert "only the last" not in mab(history_window=8)
    assert mab(history_window=8) == mab() == mab(history_window=100)
    empty = mab(history_window=0)
    assert "Step=" not in empty and "(only the last 0 of 8 steps are shown)" in empty


def test_summary_covers_whole_episode_even_with_window() -> None:
    text = mab(summary=True, history_window=1)
    assert "green: chosen 3 times, mean reward 1.11" in text  # (1.174 + 0.9 + 1.25) / 3
    assert "blue: chosen 2 times, mean reward 0.26" in text
    assert "yellow: chosen 1 time, mean reward 0.00" in text
    assert "Step=7 Action=blue" in text and "Step=6" not in text
    first = mab(summary=True, history=[])
    assert all(f"{c}: not tried yet" in first for c in templates.BUTTON_COLOURS[:5])


def test_randomised_display_relabels_history_and_summary() -> None:
    text = mab(randomise_labels=True, summary=True, display=RANDOMISED_DISPLAY)
    shown = [templates.BUTTON_COLOURS[i] for i in RANDOMISED_DISPLAY]
    for step in MAB_HISTORY:
        assert f"Step={step.step} Action={shown[step.action]} " in text
    # env action 1 (3 pulls) is displayed as shown[1] == "blue"
    assert "blue: chosen 3 times, mean reward 1.11" in text
    with pytest.raises(ValueError, match="permutation"):
        mab(display=[0, 0, 1, 2, 3])


def test_ucb_instruction() -> None:
    text = mab(ucb_instructed=True)
    assert "Upper-Confidence-Bound (UCB)" in text and "<ucb_values>...</ucb_values>" in text
    assert templates.UCB_VALUES_OPEN + "..." + templates.UCB_VALUES_CLOSE in text
    assert "for every button" in text and "ACTION=X" in text
    assert "for every arm" in mab(ucb_instructed=True, variant="continuous")
    with pytest.raises(ValueError, match="cot"):
        PromptConfig(ucb_instructed=True, cot=False)


def test_tictactoe_state_and_legal_actions() -> None:
    text = render_tictactoe_prompt(PromptConfig(), TTT_HISTORY, [1, 0, 2, 0, 1, 0, 2, 0, 0])
    assert "Step=0 State=000000000 Action=0 Reward=0\nStep=1 State=102000000 Action=4 Reward=0" \
        in text
    assert "Current state: State=102010200\nLegal actions: 1, 3, 5, 7, 8" in text
    hidden = render_tictactoe_prompt(PromptConfig(show_legal_actions=False), TTT_HISTORY,
                                     TTT_BOARD)
    assert "Legal actions" not in hidden and "legal actions" not in hidden
    assert render_tictactoe_prompt(PromptConfig(), [HistoryStep(0, 3, 1.0, "000000000")],
                                   TTT_BOARD).count("Reward=1\n") == 1
    for bad, field_name in ((PromptConfig(summary=True), "summary"),
                            (PromptConfig(randomise_labels=True), "randomise_labels"),
                            (PromptConfig(ucb_instructed=True), "ucb_instructed"),
                            (PromptConfig(style="compact"), "style")):
        with pytest.raises(ValueError, match=f"{field_name}=.* applies to .* only, not to "
                                             "tictactoe"):
            render_tictactoe_prompt(bad, [], TTT_BOARD)
    with pytest.raises(ValueError, match="9 cells"):
        board_string("10201")
    with pytest.raises(ValueError, match="9 cells"):
        board_string([0, 1, 3, 0, 0, 0, 0, 0, 0])


def test_contextual_bandit_text() -> None:
    assert USER_A == ("This person is a 28-year-old man, working as an administrator and "
                      "living in Santa Clara county, CA.")
    assert describe_user(30, "female", "writer", "X").startswith("This person is a 30-year-old "
                                                                 "woman, working as a writer")
    with pytest.raises(ValueError, match="gender"):
        describe_user(30, "x", "writer", "X")
    text = render_cb_prompt(PromptConfig(), CbTask(MOVIES, 50), CB_HISTORY, CB_CURRENT)
    assert "star_wars_(1977), contact_(1997), fargo_(1996)" in text
    assert "[-0.04, 0.02, -0.02, 0.00, 0.02] Action=fargo_(1996) Reward=0.41" in text
    assert text.endswith("[-0.04, 0.02, -0.02, 0.00, 0.02]\n\nWhat do you predict next?")
    assert "Step=2 This person is a 28-year-old man" in text
    assert format_values([0.126, -0.004]) == "[0.13, 0.00]"
    with pytest.raises(ValueError, match="distinct"):
        CbTask(("a", "a"), 5)


def test_number_format() -> None:
    assert format_number(-0.004) == "0.00"
    assert format_number(-0.005001) == "-0.01"
    assert format_number(2, 0) == "2"
    assert format_number(1.23456, 3) == "1.235"


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="variant"):
        PromptConfig(variant="buttons")
    with pytest.raises(ValueError, match="history_window"):
        PromptConfig(history_window=-1)
    with pytest.raises(ValueError, match="history_window"):
        PromptConfig(history_window=2.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="cot"):
        PromptConfig(cot=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="show_legal_actions"):
        mab(show_legal_actions=False)
    with pytest.raises(ValueError, match="distribution"):
        MabTask(5, 50, "poisson")
    with pytest.raises(ValueError, match="horizon"):
        MabTask(5, 0)
    with pytest.raises(ValueError, match="outside"):
        mab(history=[HistoryStep(0, 5, 0.0)])


def test_forced_step_rationales_end_with_the_action() -> None:
    assert try_all_rationale("red") == ("Action red has not been tried yet, let's explore it. "
                                        "ACTION=red")
    assert epsilon_greedy_rationale("red").endswith("ACTION=red")
    text, action = ucb_thought_rationale(("a", "b", "c"), [1, 0, 0], [0.5, 0.0, 0.0])
    assert action == 1 and text.endswith("ACTION=b")
    assert "Count for action b = 0, Mean = NaN" in text
    text, action = ucb_thought_rationale(("a", "b", "c"), [1, 4, 1], [0.5, 4.0, 0.2])
    # UCB: a 0.5 + 1 = 1.5, b 1.0 + 0.5 = 1.5 (tie -> lowest index), c 0.2 + 1 = 1.2
    assert action == 0 and "Therefore, action a is selected.\nACTION=a" in text
    with pytest.raises(ValueError, match="one entry per label"):
        ucb_thought_rationale(("a", "b"), [1], [0.5])


def test_compact_ucb_rationale_repeats_the_prompt_lines_and_adds_ucb() -> None:
    text, action = ucb_thought_rationale(("a", "b", "c"), [1, 4, 0], [0.5, 4.0, 0.0],
                                         compact=True)
    assert action == 2
    assert text == "Count, mean, UCB:\na: 1, 0.50, 1.50\nb: 4, 1.00, 1.50\nc: 0\nUntried: c.\nACTION=c"
    text, action = ucb_thought_rationale(("a", "b", "c"), [1, 4, 1], [0.5, 4.0, 0.2],
                                         compact=True)
    assert action == 0 and text.endswith("c: 1, 0.20, 1.20\nHighest UCB: a.\nACTION=a")


def test_greedy_rationale_lists_tried_arms_then_the_best_mean() -> None:
    text, action = greedy_thought_rationale(("a", "b", "c"), [2, 1, 0], [1.2, 0.9, 0.0], 1)
    assert (text, action) == ("Means:\na 0.6\nb 0.9\nBest mean: b.\nACTION=b", 1)
    # An exploring step names the untried arm it was given.
    text, action = greedy_thought_rationale(("a", "b", "c"), [2, 1, 0], [1.2, 0.9, 0.0], 1,
                                            explore=2)
    assert action == 2 and text.endswith("b 0.9\nUntried: c.\nACTION=c")
    # Untried arms count as 0: below every tried mean <= 0 one is taken (the first).
    text, action = greedy_thought_rationale(("a", "b", "c"), [2, 0, 0], [-1.2, 0.0, 0.0], 1)
    assert (text, action) == ("Means:\na -0.6\nUntried: b.\nACTION=b", 1)
    # A mean that prints as 0.0 is no better than an untried arm's 0.
    text, action = greedy_thought_rationale(("a", "b"), [1, 0], [0.04, 0.0], 1)
    assert (text, action) == ("Means:\na 0.0\nUntried: b.\nACTION=b", 1)
    # Every arm tried: the best mean, negative or not; ties go to the lowest index.
    _, action = greedy_thought_rationale(("a", "b"), [1, 1], [-0.5, -0.5])
    assert action == 0
    assert greedy_thought_rationale(("a", "b"), [0, 0], [0.0, 0.0])[0] == (
        "Means:\nUntried: a.\nACTION=a")
    with pytest.raises(ValueError, match="untried"):
        greedy_thought_rationale(("a", "b"), [1, 0], [0.5, 0.0], explore=0)
    with pytest.raises(ValueError, match="one entry per label"):
        greedy_thought_rationale(("a", "b"), [1], [0.5])


# ---------------------------------------------------------------- history


def test_history_records_windows_and_clears() -> None:
    history = InteractionHistory(num_rows=3, num_actions=4)
    history.record([0, 1, 2], [0.5, 1.0, -1.0], states=["s0", "s1", "s2"])
    history.record([3, 1, 2], [1.5, 2.0, 3.0], mask=np.array([True, False, True]))
    assert history.lengths().tolist() == [2, 1, 2]
    assert history.episode(0) == (HistoryStep(0, 0, 0.5, "s0"), HistoryStep(1, 3, 1.5, None))
    assert history.window(0, 1) == (HistoryStep(1, 3, 1.5, None),)
    assert history.window(0, 0) == () and history.window(0, None) == history.episode(0)
    assert history.counts(2).tolist() == [0, 0, 2, 0]
    assert history.reward_sums(2).tolist() == [0.0, 0.0, 2.0, 0.0]
    history.clear(np.array([False, False, True]))
    assert history.lengths().tolist() == [2, 1, 0] and history.counts(2).sum() == 0


@pytest.mark.parametrize("actions, rewards, states, error", [
    ([0, 1], [0.0, 0.0], None, ValueError),             # wrong length
    ([0.0, 1.0, 2.0], [0.0, 0.0, 0.0], None, TypeError),  # float actions
    ([0, 4, 1], [0.0, 0.0, 0.0], None, ValueError),     # out of range
    ([0, -1, 1], [0.0, 0.0, 0.0], None, ValueError),
    ([0, 1, 2], [0.0, np.nan, 0.0], None, ValueError),  # not finite
    ([0, 1, 2], ["a", "b", "c"], None, TypeError),
    ([0, 1, 2], [0.0, 0.0, 0.0], ["only one"], ValueError),
])
def test_history_rejects_bad_input_unchanged(actions, rewards, states, error) -> None:
    history = InteractionHistory(3, 4)
    history.record([1, 1, 1], [1.0, 1.0, 1.0])
    with pytest.raises(error):
        history.record(actions, rewards, states)
    assert history.lengths().tolist() == [1, 1, 1]
    assert history.counts(0).tolist() == [0, 1, 0, 0]
    with pytest.raises(ValueError):
        history.window(3)
    with pytest.raises(TypeError):
        history.record([0, 1, 2], [0.0, 0.0, 0.0], mask=[1, 0, 1])


# ---------------------------------------------------------------- label randomisation


def test_label_shuffler_is_per_row_and_fresh_each_step() -> None:
    small, large = LabelShuffler(2, 10, seed=7), LabelShuffler(5, 10, seed=7)
    draws = []
    for _ in range(4):
        a, b = small.draw(), large.draw()
        np.testing.assert_array_equal(a, b[:2])
        assert a.dtype == np.int32
        for row in b:
            assert sorted(row.tolist()) == list(range(10))
        draws.append(b)
    assert not np.array_equal(draws[0], draws[1])
    assert not np.array_equal(draws[0][0], draws[0][1])
    assert not np.array_equal(LabelShuffler(2, 10, seed=8).draw(), LabelShuffler(2, 10, 7).draw())


def test_prompt_batch_maps_labels_back() -> None:
    action_of_label = np.array([[2, 0, 1], [0, 1, 2]], dtype=np.int32)
    batch = PromptBatch(["", ""], ("a", "b", "c"), action_of_label)
    assert batch.env_actions(np.array([0, 2])).tolist() == [2, 2]
    assert batch.env_actions(np.array([-1, 1])).tolist() == [-1, 1]
    assert [batch.displayed_label(0, action) for action in range(3)] == ["b", "c", "a"]
    assert batch.displayed_label(1, 2) == "c"
    with pytest.raises(ValueError, match="outside"):
        batch.displayed_label(2, 0)
    with pytest.raises(ValueError, match="outside"):
        batch.env_actions(np.array([3, 0]))
    with pytest.raises(ValueError, match="int"):
        batch.env_actions(np.array([0.0, 1.0]))


# ---------------------------------------------------------------- batch adapters


class FakeMab:
    """A numpy bandit with the buffer names of docs/architecture.md and NEXT_STEP autoreset."""

    def __init__(self, num_envs: int, num_arms: int, horizon: int) -> None:
        self.num_envs, self.num_arms, self.horizon = num_envs, num_arms, horizon
        self.obs = {"step": np.zeros(num_envs, np.int32),
                    "counts": np.zeros((num_envs, num_arms), np.int32),
                    "reward_sums": np.zeros((num_envs, num_arms), np.float32),
                    "last_action": np.full(num_envs, -1, np.int32),
                    "last_reward": np.zeros(num_envs, np.float32)}
        self.done = np.zeros(num_envs, bool)
        self.means = np.linspace(0.0, 1.0, num_arms, dtype=np.float32)

    def reset(self):
        for value in self.obs.values():
            value[...] = 0
        self.obs["last_action"][:] = -1
        self.done[:] = False
        return self.obs, {}

    def step(self, actions):
        reward = np.zeros(self.num_envs, np.float32)
        for row, action in enumerate(actions):
            if self.done[row]:
                for value in self.obs.values():
                    value[row] = 0
                self.obs["last_action"][row] = -1
                self.done[row] = False
                continue
            reward[row] = self.means[action] + 0.01 * self.obs["step"][row]
            self.obs["step"][row] += 1
            self.obs["counts"][row, action] += 1
            self.obs["reward_sums"][row, action] += reward[row]
            self.obs["last_action"][row] = action
            self.obs["last_reward"][row] = reward[row]
            self.done[row] = self.obs["step"][row] == self.horizon
        return self.obs, reward, self.done.copy(), np.zeros(self.num_envs, bool), {}


def test_mab_prompter_follows_env_and_autoreset() -> None:
    env = FakeMab(num_envs=2, num_arms=4, horizon=3)
    config = PromptConfig(summary=True)
    prompter = MabPrompter(config, num_envs=2, num_arms=4, horizon=3)
    obs, info = env.reset()
    prompter.reset()
    script = [[0, 1], [2, 1], [3, 3], [1, 1], [0, 2]]  # the 4th step is the autoreset
    expected_rows: list[list[HistoryStep]] = [[], []]
    for t, actions in enumerate(script):
        batch = prompter.render(obs, info)
        for row in range(2):
            assert batch.texts[row] == render_mab_prompt(config, prompter.task,
                                                         expected_rows[row])
        np.testing.assert_array_equal(batch.action_of_label, np.tile(np.arange(4), (2, 1)))
        actions = batch.env_actions(np.array(actions))
        obs, reward, terminated, truncated, info = env.step(actions)
        prompter.record(actions, reward, terminated, truncated)
        for row in range(2):
            if t == 3:
                expected_rows[row] = []
            else:
                expected_rows[row].append(HistoryStep(len(expected_rows[row]),
                                                      int(actions[row]), float(reward[row])))
    assert [len(rows) for rows in expected_rows] == prompter.history.lengths().tolist() == [1, 1]
    with pytest.raises(RuntimeError, match="render"):
        prompter.record(np.zeros(2, np.int32), np.zeros(2), np.zeros(2, bool), np.zeros(2, bool))


def test_mab_prompter_detects_history_out_of_step() -> None:
    env = FakeMab(num_envs=2, num_arms=3, horizon=5)
    prompter = MabPrompter(PromptConfig(), 2, 3, 5)
    obs, info = env.reset()
    prompter.render(obs, info)
    obs, *_ = env.step(np.array([0, 1]))  # no record(): the prompter missed a step
    with pytest.raises(ValueError, match="out of step"):
        prompter.render(obs, info)
    with pytest.raises(ValueError, match="missing env buffer 'step'"):
        prompter.render({}, {})


def test_mab_prompter_randomised_labels_round_trip() -> None:
    env = FakeMab(num_envs=3, num_arms=5, horizon=10)
    config = PromptConfig(randomise_labels=True)
    prompter = MabPrompter(config, 3, 5, 10, seed=11)
    obs, info = env.reset()
    prompter.reset()
    labels = mab_labels("button", 5)
    seen_orders = set()
    for t in range(4):
        batch = prompter.render(obs, info)
        chosen_label = np.array([t % 5, (t + 1) % 5, (t + 2) % 5])
        actions = batch.env_actions(chosen_label)
        for row in range(3):
            order = tuple(batch.action_of_label[row].tolist())
            seen_orders.add(order)
            display = np.argsort(batch.action_of_label[row])
            assert batch.texts[row] == render_mab_prompt(config, prompter.task,
                                                         prompter.history.episode(row), display)
            assert labels[display[actions[row]]] == labels[chosen_label[row]]
        obs, reward, terminated, truncated, info = env.step(actions)
        prompter.record(actions, reward, terminated, truncated)
    assert len(seen_orders) > 1
    # The same seed gives the same permutations whatever the batch size.
    again = MabPrompter(config, 1, 5, 10, seed=11)
    single_env = FakeMab(1, 5, 10)
    obs1, _ = single_env.reset()
    first = MabPrompter(config, 3, 5, 10, seed=11).render(env.reset()[0], {})
    np.testing.assert_array_equal(again.render(obs1, {}).action_of_label[0],
                                  first.action_of_label[0])


def test_round_trip_prompt_answer_parser_env() -> None:
    """Scripted answers naming a displayed label reach the env as the action that label meant."""
    from rlft.text.parser import ActionParser, ParseResult, step_actions

    env = FakeMab(num_envs=4, num_arms=6, horizon=20)
    prompter = MabPrompter(PromptConfig(randomise_labels=True), 4, 6, 20, seed=5)
    obs, info = env.reset()
    prompter.reset()
    rng = np.random.default_rng(0)
    for t in range(5):
        batch = prompter.render(obs, info)
        wanted = np.array([t % 6, 2, 5, 0])  # env actions the scripted agent wants
        answers = [f"I pick {batch.displayed_label(row, int(wanted[row]))}. "
                   f"ACTION={batch.displayed_label(row, int(wanted[row]))}" for row in range(3)]
        answers.append("no idea")
        parsed = ActionParser(batch.labels).parse(answers)
        parsed = ParseResult(batch.env_actions(parsed.actions), parsed.status)
        chosen = step_actions(parsed, 6, rng)
        np.testing.assert_array_equal(chosen.actions[:3], wanted[:3])
        assert chosen.invalid.tolist() == [False, False, False, True]
        obs, reward, terminated, truncated, info = env.step(chosen.actions)
        prompter.record(chosen.actions, reward, terminated, truncated)
        np.testing.assert_array_equal(obs["last_action"], chosen.actions)
    assert prompter.history.lengths().tolist() == [5, 5, 5, 5]


def test_tictactoe_prompter_records_board_before_move() -> None:
    prompter = TicTacToePrompter(PromptConfig(), num_envs=1)
    prompter.reset()
    board = np.zeros((1, 9), np.int8)
    obs = {"board": board, "legal_mask": board == 0}
    prompter.render(obs)
    board[0, [0, 2]] = [1, 2]
    prompter.record(np.array([0]), np.zeros(1, np.float32), np.zeros(1, bool), np.zeros(1, bool))
    obs = {"board": board, "legal_mask": board == 0}
    text = prompter.render(obs).texts[0]
    assert "Step=0 State=000000000 Action=0 Reward=0" in text
    assert "Current state: State=102000000\nLegal actions: 1, 3, 4, 5, 6, 7, 8" in text
    with pytest.raises(ValueError, match="legal_mask"):
        prompter.render({"board": board})
    with pytest.raises(TypeError, match="board"):
        prompter.render({"board": board.astype(np.float32), "legal_mask": board == 0})
    with pytest.raises(ValueError, match="bandits only"):
        TicTacToePrompter(PromptConfig(randomise_labels=True), 1)


def test_cb_prompter_reads_user_and_context() -> None:
    users = [USER_A, USER_B]
    prompter = CbPrompter(PromptConfig(), 2, MOVIES, 50, users)
    prompter.reset()
    obs = {"step": np.zeros(2, np.int32), "user": np.array([1, 0], np.int32),
           "context": np.array([[0.1, -0.2], [0.3, 0.4]], np.float32)}
    batch = prompter.render(obs)
    assert batch.labels == MOVIES
    assert batch.texts[0] == render_cb_prompt(PromptConfig(), CbTask(MOVIES, 50), [],
                                              CbContext(USER_B, (0.1, -0.2)))
    prompter.record(np.array([4, 0]), np.array([0.5, 0.25]), np.zeros(2, bool), np.zeros(2, bool))
    assert prompter.history.episode(0)[0].state.description == USER_B
    obs["step"][:] = 1
    text = prompter.render(obs).texts[0]
    assert "[0.10, -0.20] Action=liar_liar_(1997) Reward=0.50" in text
    obs["user"][0] = 2
    with pytest.raises(ValueError, match="no description"):
        prompter.render(obs)


@pytest.mark.parametrize("options", [
    {}, {"variant": "continuous", "summary": True}, {"cot": False, "history_window": 2},
    {"randomise_labels": True, "summary": True}, {"ucb_instructed": True},
    {"style": "compact", "summary": True, "history_window": 0, "cot": False}])
def test_every_bandit_prompt_starts_with_the_shared_text(options) -> None:
    config = PromptConfig(**options)
    env = FakeMab(num_envs=2, num_arms=4, horizon=3)
    prompter = MabPrompter(config, num_envs=2, num_arms=4, horizon=3, seed=1)
    obs, info = env.reset()
    prompter.reset()
    shared = prompter.shared_text()
    # The instruction ends it: the separator's whitespace goes with the rows' own part, where a
    # tokenizer's pre-tokens start anyway.
    assert shared and shared == shared.rstrip()
    for actions in ([0, 1], [2, 1], [3, 3], [1, 1]):
        batch = prompter.render(obs, info)
        assert batch.shared_prefix == shared
        assert all(text.startswith(shared + templates.SECTION_SEPARATOR) for text in batch.texts)
        obs, reward, terminated, truncated, info = env.step(np.array(actions))
        prompter.record(np.array(actions), reward, terminated, truncated)


def test_observation_only_prompts_share_nothing_but_the_chat_header() -> None:
    config = PromptConfig(style="observation", cot=False)
    assert MabPrompter(config, 1, 3, 5).shared_text() == ""
    chatml = make_tokenizer(CHATML_TEMPLATE)
    assert shared_chat_prefix(chatml, "") == "<|im_start|>user\n"


def test_tictactoe_and_cb_prompts_start_with_the_shared_text() -> None:
    board = np.zeros((1, 9), np.int8)
    ttt = TicTacToePrompter(PromptConfig(), num_envs=1)
    ttt.reset()
    text = ttt.render({"board": board, "legal_mask": board == 0}).texts[0]
    assert ttt.shared_text().startswith(templates.TTT_TASK)
    assert text.startswith(ttt.shared_text() + templates.SECTION_SEPARATOR)
    cb = CbPrompter(PromptConfig(), 2, MOVIES, 50, [USER_A, USER_B])
    cb.reset()
    obs = {"step": np.zeros(2, np.int32), "user": np.array([1, 0], np.int32),
           "context": np.array([[0.1, -0.2], [0.3, 0.4]], np.float32)}
    batch = cb.render(obs)
    assert batch.shared_prefix == cb.shared_text() and MOVIES[0] in batch.shared_prefix
    assert all(t.startswith(batch.shared_prefix + templates.SECTION_SEPARATOR)
               for t in batch.texts)


def test_shared_chat_prefix_is_the_header_and_the_shared_text() -> None:
    chatml, gemma = make_tokenizer(CHATML_TEMPLATE), make_tokenizer(GEMMA_LIKE_TEMPLATE)
    for tokenizer in (chatml, gemma):
        head = shared_chat_prefix(tokenizer, "Task.\n\nInstruction.")
        chat = format_chat(tokenizer, [{"role": "user",
                                        "content": "Task.\n\nInstruction.\n\nHistory?"}])
        assert head.endswith("Task.\n\nInstruction.") and chat.startswith(head)
    assert shared_chat_prefix(chatml, "Task.") == "<|im_start|>user\nTask."


# ---------------------------------------------------------------- chat formatting


def test_system_role_detection_and_merge() -> None:
    chatml, gemma, dropping = (make_tokenizer(CHATML_TEMPLATE), make_tokenizer(GEMMA_LIKE_TEMPLATE),
                               make_tokenizer(DROPPING_TEMPLATE))
    assert supports_system_role(chatml) is True
    assert supports_system_role(gemma) is False
    assert supports_system_role(dropping) is False
    merged = format_prompt(gemma, "What do you predict next?", SYSTEM_TEXT)
    assert merged == (f"<bos><start_of_turn>user\n{SYSTEM_TEXT}\n\nWhat do you predict next?"
                      "<end_of_turn>\n<start_of_turn>model\n")
    assert SYSTEM_TEXT in format_prompt(dropping, "hi", SYSTEM_TEXT)
    kept = format_prompt(chatml, "hi", SYSTEM_TEXT)
    assert kept.startswith(f"<|im_start|>system\n{SYSTEM_TEXT}<|im_end|>\n<|im_start|>user\nhi")
    forced = format_prompt(chatml, "hi", SYSTEM_TEXT, system_role=False)
    assert forced == f"<|im_start|>user\n{SYSTEM_TEXT}\n\nhi<|im_end|>\n<|im_start|>assistant\n"
    with pytest.raises(ValueError, match="System role not supported"):
        format_prompt(gemma, "hi", SYSTEM_TEXT, system_role=True)
    assert format_prompt(gemma, "hi") == ("<bos><start_of_turn>user\nhi<end_of_turn>\n"
                                          "<start_of_turn>model\n")


def test_system_role_probe_is_cached_per_template() -> None:
    tokenizer = make_tokenizer(CHATML_TEMPLATE)
    calls = []
    original = tokenizer.apply_chat_template

    def counting(*args, **kwargs):
        calls.append(args[0][0]["role"])
        return original(*args, **kwargs)

    tokenizer.apply_chat_template = counting
    for _ in range(3):
        format_prompt(tokenizer, "hi", SYSTEM_TEXT)
    assert calls.count("system") == 4  # one probe, then three real renders
    tokenizer.chat_template = GEMMA_LIKE_TEMPLATE  # a new template is probed again
    assert supports_system_role(tokenizer) is False


def test_chat_input_errors() -> None:
    chatml = make_tokenizer(CHATML_TEMPLATE)
    with pytest.raises(ValueError, match="empty"):
        format_chat(chatml, [])
    with pytest.raises(ValueError, match="unknown role"):
        format_chat(chatml, [{"role": "tool", "content": "x"}])
    with pytest.raises(ValueError, match="first message"):
        format_chat(chatml, [{"role": "user", "content": "x"}, {"role": "system", "content": "y"}])
    with pytest.raises(TypeError, match="content"):
        format_chat(chatml, [{"role": "user", "content": 3}])  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="user message"):
        merge_system_message([{"role": "system", "content": "x"}])
    multi = [{"role": "system", "content": "S"}, {"role": "user", "content": "U1"},
             {"role": "assistant", "content": "A"}, {"role": "user", "content": "U2"}]
    assert merge_system_message(multi)[0] == {"role": "user", "content": "S\n\nU1"}
    assert merge_system_message(multi)[1:] == multi[2:]


SELF_CORRECTION_TURNS = [{"role": "system", "content": "S"}, {"role": "user", "content": "U1"},
                         {"role": "assistant", "content": "A1"}, {"role": "user", "content": "U2"}]


@pytest.mark.parametrize("template", [None, ""])
def test_tokenizer_without_chat_template_gets_the_plain_text_format(template) -> None:
    plain = make_tokenizer(template)
    assert supports_system_role(plain) is False
    assert format_prompt(plain, "What do you predict next?") == "Q: What do you predict next?\nA:"
    assert format_prompt(plain, "hi", SYSTEM_TEXT) == f"Q: {SYSTEM_TEXT}\n\nhi\nA:"
    assert format_chat(plain, SELF_CORRECTION_TURNS) == "Q: S\n\nU1\nA: A1\nQ: U2\nA:"
    assert format_chat(plain, SELF_CORRECTION_TURNS, add_generation_prompt=False) == (
        "Q: S\n\nU1\nA: A1\nQ: U2\n")
    assert format_chat(plain, SELF_CORRECTION_TURNS, system_role=False) == format_chat(
        plain, SELF_CORRECTION_TURNS)
    # A generated answer keeps the space the model wrote after "A:", so the turn reads as generated.
    generated = [{"role": "user", "content": "U"}, {"role": "assistant", "content": " ACTION=red\n"},
                 {"role": "user", "content": "  two spaces"}]
    assert format_chat(plain, generated) == "Q: U\nA: ACTION=red\n\nQ:  two spaces\nA:"
    with pytest.raises(ValueError, match="plain-text format has no system role"):
        format_prompt(plain, "hi", SYSTEM_TEXT, system_role=True)
    with pytest.raises(ValueError, match="unknown role"):
        format_chat(plain, [{"role": "tool", "content": "x"}])


def test_plain_text_format_starts_with_bos_when_the_tokenizer_adds_one() -> None:
    adds_bos = make_tokenizer(None, adds_bos=True)
    bos = adds_bos.bos_token_id
    assert adds_bos("you are")["input_ids"][0] == bos
    text = format_prompt(adds_bos, "you are")
    assert text == "<bos>Q: you are\nA:"
    # rlft tokenizes formatted text without special tokens: BOS comes once, from the format.
    ids = adds_bos(text, add_special_tokens=False)["input_ids"]
    assert ids[0] == bos and ids.count(bos) == 1
    assert not format_prompt(make_tokenizer(None), "you are").startswith("<bos>")
    assert format_plain_text(SELF_CORRECTION_TURNS, bos_token="<s>") == (
        "<s>" + format_chat(make_tokenizer(None), SELF_CORRECTION_TURNS))


def test_plain_text_format_rejects_bad_turns() -> None:
    with pytest.raises(ValueError, match="empty"):
        format_plain_text([])
    with pytest.raises(ValueError, match="user message"):
        format_plain_text([{"role": "system", "content": "x"}])
    with pytest.raises(TypeError, match="bos_token"):
        format_plain_text([{"role": "user", "content": "x"}], bos_token=None)  # type: ignore[arg-type]


def test_observation_style_shows_only_the_summary_lines() -> None:
    for options in ({}, {"cot": False, "summary": True}, {"cot": False, "history_window": 0}):
        with pytest.raises(ValueError, match="style 'observation' shows only the per-arm"):
            PromptConfig(style="observation", **options)
    with pytest.raises(ValueError, match="style must be one of"):
        PromptConfig(style="terse")
    assert PromptConfig(style="observation", cot=False).style is PromptStyle.OBSERVATION
    assert PromptConfig(style="compact").to_dict()["style"] == "compact"


def test_compact_prompt_keeps_the_facts_in_fewer_words() -> None:
    full = mab(cot=False, history_window=0, summary=True)
    compact = mab(style="compact", cot=False, history_window=0, summary=True)
    assert len(compact) < len(full) / 3
    # Same labels, horizon, output format and per-arm statistics.
    for fact in ("blue, green, red, yellow, orange", "50 steps", "ACTION=X", "green: 3, 1.11"):
        assert fact in compact
    assert "So far you have tried/seen" not in compact  # summary-only: no history section
    with_history = mab(style="compact", cot=False, summary=True)
    assert "So far you have tried/seen" in with_history
    with pytest.raises(ValueError, match="style=.* applies to the multi-armed bandit only"):
        render_cb_prompt(PromptConfig(style="compact"), CbTask(MOVIES, 50), CB_HISTORY,
                         CB_CURRENT)

