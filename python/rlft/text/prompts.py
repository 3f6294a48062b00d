"""Prompt renderers: plain data in, the paper's prompt text out.

Each renderer takes the prompt config, a small task description, the row's whole episode so far
(``HistoryStep``s, oldest first) and what the agent sees now, and returns one string. The
wording lives in ``templates.py``. For a batch of env rows use ``rlft.text.env_prompts``.

Number formats: rewards with ``PromptConfig.reward_decimals`` decimals (2 by default; tic-tac-toe
rewards, always whole numbers, as integers), contextual-bandit values with 2 decimals; a
negative zero is written without its sign.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Sequence

import numpy as np

from rlft.text import templates as T
from rlft.text.history import HistoryStep

MAB_VARIANTS = ("button", "continuous")
DISTRIBUTIONS = tuple(T.DISTRIBUTION_NAMES)


class PromptStyle(str, Enum):
    """How much a multi-armed bandit prompt says around its numbers."""

    FULL = "full"
    """The paper's wording: task, output instruction, history, optional summary, question."""
    COMPACT = "compact"
    """A one-sentence task and terse summary lines (about half the tokens; with
    history_window=0 and summary, no history section): for small models trained on a CPU."""
    OBSERVATION = "observation"
    """Only the per-arm summary lines and the closing question, no task or instruction (a
    from-scratch model learns the format from a warm start and reads the lines far sooner)."""


PROMPT_STYLES = tuple(style.value for style in PromptStyle)
ENVS = ("mab", "contextual_bandit", "tictactoe")


@dataclass
class PromptConfig:
    """How prompts are rendered: the one prompt specification of training, evaluation, SFT
    data and the analyses. Fields that do not apply to an env are rejected by
    ``check_env`` (and by its renderer) when set away from their defaults."""

    style: PromptStyle = field(default=PromptStyle.FULL, metadata={
        "help": "multi-armed bandit wording: 'full' (the paper's), 'compact' (a one-sentence "
                "task, terse summary lines, about half the tokens) or 'observation' (only the "
                "per-arm summary lines and the closing question; no CoT, no history)"})
    variant: str = field(default="button", metadata={
        "help": "multi-armed bandit labels: 'button' (colour-named buttons, 'press') or "
                "'continuous' (arms numbered 0..K-1, 'use')"})
    cot: bool = field(default=True, metadata={
        "help": "ask for short step-by-step thinking before ACTION=X; False asks for ONLY the "
                "answer (the paper's no-CoT prompt)"})
    ucb_instructed: bool = field(default=False, metadata={
        "help": "knowing-doing prompt (bandits): act by UCB, write the algorithm, put the UCB "
                "value of every arm inside <ucb_values>...</ucb_values>, then ACTION=X; needs cot"})
    history_window: int | None = field(default=None, metadata={
        "help": "C: show only the last C steps of the episode (None: the whole episode; 0 with "
                "summary: a summary-only observation)"})
    summary: bool = field(default=False, metadata={
        "help": "append per-action counts and mean rewards over the whole episode after the "
                "history (bandits; the 'context summary' exploration mechanism)"})
    randomise_labels: bool = field(default=False, metadata={
        "help": "show the bandit's action labels under a fresh random permutation every step and "
                "row ('context randomisation'); answers are mapped back to env actions"})
    show_legal_actions: bool = field(default=True, metadata={
        "help": "tic-tac-toe: list the legal actions (empty cells) after the current state"})
    reward_decimals: int = field(default=2, metadata={
        "help": "decimals of bandit rewards in history and summary lines"})
    answer_prefix: bool = field(default=False, metadata={
        "help": "answer-prefix protocol, for models that do not follow the output format: the "
                "prompt ends with the format's prefix 'ACTION=' (after the chat's generation "
                "prompt) and the model completes the label: the first line of the completion is "
                "parsed as 'ACTION=' + that line (later lines are not the answer); needs "
                "cot=False"})

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """The checks that need no env; raises ValueError or TypeError naming the field."""
        if not isinstance(self.style, PromptStyle):
            if self.style not in PROMPT_STYLES:
                raise ValueError(f"style must be one of {list(PROMPT_STYLES)}, got "
                                 f"{self.style!r}")
            self.style = PromptStyle(self.style)
        if self.variant not in MAB_VARIANTS:
            raise ValueError(f"variant must be one of {MAB_VARIANTS}, got {self.variant!r}")
        for name in ("cot", "ucb_instructed", "summary", "randomise_labels",
                     "show_legal_actions", "answer_prefix"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be a bool, got {getattr(self, name)!r}")
        if self.ucb_instructed and not self.cot:
            raise ValueError("ucb_instructed asks the model to write its UCB values, so it needs "
                             "cot=True")
        if self.answer_prefix and self.cot:
            raise ValueError("answer_prefix ends the prompt at 'ACTION=', leaving no room for a "
                             "rationale: it needs cot=False")
        window = self.history_window
        if window is not None and (isinstance(window, (bool, np.bool_))
                                   or not isinstance(window, (int, np.integer)) or window < 0):
            raise ValueError(f"history_window must be None or an int >= 0, got {window!r}")
        if window is not None:
            self.history_window = int(window)
        decimals = self.reward_decimals
        if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 8:
            raise ValueError(f"reward_decimals must be an int in [0, 8], got {decimals!r}")
        if self.style is PromptStyle.OBSERVATION and (
                self.cot or self.ucb_instructed or self.summary
                or self.history_window is not None):
            raise ValueError("style 'observation' shows only the per-arm summary lines: leave "
                             "summary and history_window at their defaults and set cot=False")

    def check_env(self, env: str) -> None:
        """Raises ValueError naming the first field that does not apply to `env` ('mab',
        'contextual_bandit' or 'tictactoe')."""
        if env not in ENVS:
            raise ValueError(f"env must be one of {list(ENVS)}, got {env!r}")
        defaults = PromptConfig()
        only = {"style": "mab", "variant": "mab", "show_legal_actions": "tictactoe",
                "summary": "bandits", "randomise_labels": "bandits", "ucb_instructed": "bandits"}
        for name, where in only.items():
            applies = env == where or (where == "bandits" and env != "tictactoe")
            if not applies and getattr(self, name) != getattr(defaults, name):
                scope = {"mab": "the multi-armed bandit", "tictactoe": "tic-tac-toe",
                         "bandits": "bandits"}[where]
                value = getattr(self, name)
                shown = value.value if isinstance(value, Enum) else value
                raise ValueError(f"{name}={shown!r} applies to {scope} only, not to {env}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (the style as its name)."""
        values = dataclasses.asdict(self)
        values["style"] = self.style.value
        return values


@dataclass(frozen=True)
class MabTask:
    """What the multi-armed bandit prompt tells the agent about its task."""

    num_arms: int
    """K, the number of arms."""
    horizon: int
    """T, the number of steps of an episode."""
    distribution: str = "gaussian"
    """Reward distribution named in the task text: 'gaussian' or 'bernoulli'."""

    def __post_init__(self) -> None:
        _check_positive(self.num_arms, "num_arms")
        _check_positive(self.horizon, "horizon")
        if self.distribution not in DISTRIBUTIONS:
            raise ValueError(f"distribution must be one of {DISTRIBUTIONS}, "
                             f"got {self.distribution!r}")


@dataclass(frozen=True)
class CbTask:
    """What the contextual-bandit prompt tells the agent: the movies and the horizon."""

    movie_names: tuple[str, ...]
    """Action labels, one per movie, in env action order (e.g. 'star_wars_(1977)')."""
    horizon: int
    """T, the number of steps of an episode."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "movie_names", check_labels(self.movie_names, "movie_names"))
        _check_positive(self.horizon, "horizon")


@dataclass(frozen=True)
class CbContext:
    """What the agent sees of one contextual-bandit user: the description and the values."""

    description: str
    """The user sentence, e.g. from ``describe_user``."""
    values: tuple[float, ...]
    """The numerical context vector (shown rounded to 2 decimals)."""


def _check_positive(value: object, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def check_labels(labels: Sequence[str], name: str = "labels") -> tuple[str, ...]:
    """Labels must be distinct, non-empty, single-line strings without surrounding spaces."""
    labels = tuple(labels)
    if not labels:
        raise ValueError(f"{name} must not be empty")
    for label in labels:
        if not isinstance(label, str) or not label or label != label.strip() or "\n" in label:
            raise ValueError(f"{name} must be non-empty single-line strings without surrounding "
                             f"spaces, got {label!r}")
    if len(set(labels)) != len(labels):
        raise ValueError(f"{name} must be distinct, got {labels}")
    return labels


def mab_labels(variant: str, num_arms: int) -> tuple[str, ...]:
    """Action labels of a K-armed bandit: colour names for 'button', '0'..'K-1' for 'continuous'."""
    _check_positive(num_arms, "num_arms")
    if variant == "button":
        if num_arms > len(T.BUTTON_COLOURS):
            raise ValueError(f"the button variant has {len(T.BUTTON_COLOURS)} colour names, "
                             f"got num_arms={num_arms}")
        return T.BUTTON_COLOURS[:num_arms]
    if variant == "continuous":
        return tuple(str(arm) for arm in range(num_arms))
    raise ValueError(f"variant must be one of {MAB_VARIANTS}, got {variant!r}")


def format_number(value: float, decimals: int = 2) -> str:
    """Fixed decimals, and no '-0.00'."""
    text = f"{float(value):.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text) == 0.0 else text


def format_values(values: Sequence[float], decimals: int = T.CB_CONTEXT_DECIMALS) -> str:
    """A context vector as '[0.12, -0.04, ...]'."""
    return "[" + ", ".join(format_number(value, decimals) for value in values) + "]"


def describe_user(age: int, gender: str, occupation: str, location: str) -> str:
    """The MovieLens user sentence: 'This person is a 28-year-old man, working as an
    administrator and living in Santa Clara county, CA.'"""
    gender_word = T.CB_GENDER_WORDS.get(str(gender).strip().lower())
    if gender_word is None:
        raise ValueError(f"gender must be one of {sorted(T.CB_GENDER_WORDS)}, got {gender!r}")
    _check_positive(age, "age")
    occupation = str(occupation).strip()
    if not occupation:
        raise ValueError("occupation must not be empty")
    article = "an" if occupation[0].lower() in "aeiou" else "a"
    return T.CB_USER_DESCRIPTION.format(age=int(age), gender=gender_word, article=article,
                                        occupation=occupation, location=str(location).strip())


def _display_labels(labels: tuple[str, ...], display: Sequence[int] | None) -> tuple[str, ...]:
    """Label shown for each env action: ``labels[display[action]]`` (identity if None)."""
    if display is None:
        return labels
    order = np.asarray(display)
    if order.shape != (len(labels),) or order.dtype.kind not in "iu" \
            or not np.array_equal(np.sort(order), np.arange(len(labels))):
        raise ValueError(f"display must be a permutation of 0..{len(labels) - 1}, got {display}")
    return tuple(labels[int(index)] for index in order)


def _instruction(config: PromptConfig, choices: str, singular: str) -> str:
    if config.style is PromptStyle.COMPACT and not config.cot and not config.ucb_instructed:
        return T.COMPACT_INSTRUCTION
    if config.ucb_instructed:
        return T.UCB_INSTRUCTION.format(choices=choices, singular=singular)
    template = T.COT_INSTRUCTION if config.cot else T.NO_COT_INSTRUCTION
    return template.format(choices=choices)


def _format_reward(config: PromptConfig, reward: float) -> str:
    return format_number(reward, config.reward_decimals)


def _history_block(config: PromptConfig, history: Sequence[HistoryStep], line) -> str:
    """Header, then one line per step of the last C steps (a note says when steps are cut)."""
    window = config.history_window
    shown = list(history)
    if window is not None:
        shown = shown[len(shown) - window:] if window else []
    lines = [T.HISTORY_HEADER]
    if len(shown) < len(history):
        lines.append(T.HISTORY_WINDOW_NOTE.format(shown=len(shown), total=len(history)))
    if not history:
        lines.append(T.NO_HISTORY)
    lines.extend(line(step) for step in shown)
    return "\n".join(lines)


def _summary_block(config: PromptConfig, history: Sequence[HistoryStep], labels: tuple[str, ...],
                   shown: tuple[str, ...], singular: str) -> str:
    """Counts and mean rewards over the whole episode, one line per label in the task's label
    order (so under context randomisation the line order does not reveal the permutation)."""
    counts = [0] * len(labels)
    sums = [0.0] * len(labels)
    for step in history:
        counts[step.action] += 1
        sums[step.action] += step.reward
    action_of_label = {label: action for action, label in enumerate(shown)}
    header, line, untried = (
        (T.COMPACT_SUMMARY_HEADER, T.COMPACT_SUMMARY_LINE, T.COMPACT_SUMMARY_LINE_UNTRIED)
        if config.style is not PromptStyle.FULL
        else (T.SUMMARY_HEADER, T.SUMMARY_LINE, T.SUMMARY_LINE_UNTRIED))
    lines = [] if config.style is PromptStyle.OBSERVATION else [header.format(singular=singular)]
    for label in labels:
        action = action_of_label[label]
        if counts[action]:
            lines.append(line.format(
                label=label, count=counts[action],
                times="time" if counts[action] == 1 else "times",
                mean=_format_reward(config, sums[action] / counts[action])))
        else:
            lines.append(untried.format(label=label))
    return "\n".join(lines)


def _check_history(history: Sequence[HistoryStep], num_actions: int) -> None:
    for step in history:
        if not isinstance(step, HistoryStep):
            raise TypeError(f"history entries must be HistoryStep, got {type(step).__name__}")
        if not 0 <= step.action < num_actions:
            raise ValueError(f"history action {step.action} is outside [0, {num_actions})")


def _mab_fixed_sections(config: PromptConfig, task: MabTask) -> list[str]:
    """The task text and the output instruction: the same at every step of every row."""
    if config.style is PromptStyle.OBSERVATION:
        return []
    singular, plural, _ = T.MAB_NOUNS[config.variant]
    task_template = T.MAB_BUTTON_TASK if config.variant == "button" else T.MAB_CONTINUOUS_TASK
    if config.style is PromptStyle.COMPACT:
        task_template = T.MAB_COMPACT_TASK
    labels = mab_labels(config.variant, task.num_arms)
    return [
        task_template.format(num_arms=task.num_arms, labels=T.LABEL_SEPARATOR.join(labels),
                             distribution=T.DISTRIBUTION_NAMES[task.distribution],
                             horizon=task.horizon, plural=plural),
        _instruction(config, T.LISTED_CHOICES.format(plural=plural), singular),
    ]


def mab_shared_text(config: PromptConfig, task: MabTask) -> str:
    """The text every multi-armed bandit prompt of this config and task begins with (the
    prompts' shared prefix; empty for observation-only prompts)."""
    return T.SECTION_SEPARATOR.join(_mab_fixed_sections(config, task))


def render_mab_prompt(config: PromptConfig, task: MabTask, history: Sequence[HistoryStep],
                      display: Sequence[int] | None = None) -> str:
    """The multi-armed bandit prompt for one row.

    history: the whole episode so far (the config's window picks what is shown; the summary
    covers all of it). display: optional permutation, ``display[action]`` = index of the label
    shown for that env action (context randomisation).
    """
    config.check_env("mab")
    labels = mab_labels(config.variant, task.num_arms)
    _check_history(history, task.num_arms)
    shown = _display_labels(labels, display)
    singular, _, _ = T.MAB_NOUNS[config.variant]
    if config.style is PromptStyle.OBSERVATION:
        return T.SECTION_SEPARATOR.join(
            [_summary_block(config, history, labels, shown, singular), T.COMPACT_CLOSING_QUESTION])
    sections = _mab_fixed_sections(config, task)
    if not (config.style is PromptStyle.COMPACT and config.history_window == 0
            and config.summary):
        sections.append(_history_block(config, history, lambda step: T.MAB_HISTORY_LINE.format(
            step=step.step, action=shown[step.action],
            reward=_format_reward(config, step.reward))))
    if config.summary:
        sections.append(_summary_block(config, history, labels, shown, singular))
    sections.append(T.CLOSING_QUESTION if config.style is PromptStyle.FULL
                    else T.COMPACT_CLOSING_QUESTION)
    return T.SECTION_SEPARATOR.join(sections)


def cb_context_text(context: CbContext) -> str:
    """The user description followed by the rounded context values."""
    if not isinstance(context, CbContext):
        raise TypeError(f"expected a CbContext, got {type(context).__name__}")
    return T.CB_CONTEXT.format(description=context.description,
                               values=format_values(context.values))


def _cb_fixed_sections(config: PromptConfig, task: CbTask) -> list[str]:
    labels = task.movie_names
    return [T.CB_TASK.format(num_movies=len(labels), labels=T.LABEL_SEPARATOR.join(labels),
                             horizon=task.horizon),
            _instruction(config, T.CB_CHOICES, "movie")]


def cb_shared_text(config: PromptConfig, task: CbTask) -> str:
    """The text every contextual-bandit prompt of this config and task begins with."""
    return T.SECTION_SEPARATOR.join(_cb_fixed_sections(config, task))


def render_cb_prompt(config: PromptConfig, task: CbTask, history: Sequence[HistoryStep],
                     current: CbContext, display: Sequence[int] | None = None) -> str:
    """The contextual-bandit (MovieLens) prompt for one row.

    history: the whole episode so far, each step's ``state`` a ``CbContext``; current: the user
    to recommend a movie to now; display: as in ``render_mab_prompt``.
    """
    config.check_env("contextual_bandit")
    labels = task.movie_names
    _check_history(history, len(labels))
    shown = _display_labels(labels, display)
    sections = [
        *_cb_fixed_sections(config, task),
        _history_block(config, history, lambda step: T.CB_HISTORY_LINE.format(
            step=step.step, context=cb_context_text(step.state), action=shown[step.action],
            reward=_format_reward(config, step.reward))),
    ]
    if config.summary:
        sections.append(_summary_block(config, history, labels, shown, "movie"))
    sections.append(T.CB_CURRENT.format(step=len(history), context=cb_context_text(current)))
    sections.append(T.CLOSING_QUESTION)
    return T.SECTION_SEPARATOR.join(sections)


TTT_LABELS = tuple(str(cell) for cell in range(9))


def board_string(board: Sequence[int] | str) -> str:
    """A board (9 cells of 0/1/2, or such a string) as the 9-digit state string."""
    text = board if isinstance(board, str) else "".join(str(int(cell)) for cell in board)
    if len(text) != 9 or any(char not in "012" for char in text):
        raise ValueError(f"a board is 9 cells of 0, 1 or 2, got {board!r}")
    return text


def _format_ttt_reward(config: PromptConfig, reward: float) -> str:
    return str(int(reward)) if float(reward).is_integer() else _format_reward(config, reward)


def _tictactoe_fixed_sections(config: PromptConfig) -> list[str]:
    choices = T.TTT_CHOICES if config.show_legal_actions else T.TTT_CHOICES_NO_LEGAL
    return [T.TTT_TASK, _instruction(config, choices, "cell")]


def tictactoe_shared_text(config: PromptConfig) -> str:
    """The text every tic-tac-toe prompt of this config begins with."""
    return T.SECTION_SEPARATOR.join(_tictactoe_fixed_sections(config))


def render_tictactoe_prompt(config: PromptConfig, history: Sequence[HistoryStep],
                            board: Sequence[int] | str,
                            legal_actions: Sequence[int] | None = None) -> str:
    """The tic-tac-toe prompt for one row.

    history: the agent's moves this game, each step's ``state`` the 9-digit board before the
    move; board: the current board; legal_actions: the empty cells (None: derived from board).
    """
    config.check_env("tictactoe")
    _check_history(history, 9)
    state = board_string(board)
    if legal_actions is None:
        legal_actions = [cell for cell, mark in enumerate(state) if mark == "0"]
    legal = sorted(int(action) for action in legal_actions)
    if any(not 0 <= action < 9 for action in legal):
        raise ValueError(f"legal actions must be cells 0-8, got {legal}")
    sections = [
        *_tictactoe_fixed_sections(config),
        _history_block(config, history, lambda step: T.TTT_HISTORY_LINE.format(
            step=step.step, state=board_string(step.state), action=step.action,
            reward=_format_ttt_reward(config, step.reward))),
    ]
    current = [T.TTT_CURRENT_STATE.format(state=state)]
    if config.show_legal_actions:
        current.append(T.TTT_LEGAL_ACTIONS.format(
            actions=T.LABEL_SEPARATOR.join(str(action) for action in legal)))
    sections.append("\n".join(current))
    sections.append(T.CLOSING_QUESTION)
    return T.SECTION_SEPARATOR.join(sections)


def try_all_rationale(label: str) -> str:
    """The answer written for a step the try-all mechanism forces onto an untried action."""
    return T.TRY_ALL_RATIONALE.format(label=label)


def epsilon_greedy_rationale(label: str) -> str:
    """The answer written for a step epsilon-greedy replaces with a random action."""
    return T.EPSILON_GREEDY_RATIONALE.format(label=label)


def _arm_statistics(labels: Sequence[str], counts: Sequence[int], reward_sums: Sequence[float]
                    ) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """An expert rationale's inputs, checked: (labels, counts int[K], reward sums float[K])."""
    labels = check_labels(labels)
    counts_array = np.asarray(counts)
    sums_array = np.asarray(reward_sums, dtype=np.float64)
    if counts_array.shape != (len(labels),) or sums_array.shape != (len(labels),):
        raise ValueError(f"counts and reward_sums need one entry per label ({len(labels)})")
    if counts_array.dtype.kind not in "iu" or np.any(counts_array < 0):
        raise ValueError(f"counts must be non-negative integers, got {counts}")
    return labels, counts_array, sums_array


def ucb_thought_rationale(labels: Sequence[str], counts: Sequence[int],
                          reward_sums: Sequence[float], decimals: int = 2,
                          compact: bool = False) -> tuple[str, int]:
    """Thought-cloning answer of the UCB expert (Fig. 12) and the action it picks.

    UCB = mean + sqrt(1 / count). While an action is untried the expert picks the first untried
    one; otherwise the highest UCB, the lowest index on ties. ``compact`` writes the same lines
    in the compact prompt's wording. Returns (text, env action).
    """
    labels, counts_array, sums_array = _arm_statistics(labels, counts, reward_sums)
    opening, tried, untried_line, explore, exploit = (
        (T.UCB_RATIONALE_COMPACT_OPENING, T.UCB_RATIONALE_COMPACT_LINE,
         T.UCB_RATIONALE_COMPACT_LINE_UNTRIED, T.UCB_RATIONALE_COMPACT_EXPLORE,
         T.UCB_RATIONALE_COMPACT_EXPLOIT) if compact else
        (T.UCB_RATIONALE_OPENING, T.UCB_RATIONALE_LINE, T.UCB_RATIONALE_LINE_UNTRIED,
         T.UCB_RATIONALE_EXPLORE, T.UCB_RATIONALE_EXPLOIT))
    lines = [opening]
    ucb_values = np.full(len(labels), -np.inf)
    for action, label in enumerate(labels):
        count = int(counts_array[action])
        if count == 0:
            lines.append(untried_line.format(label=label))
            continue
        mean = sums_array[action] / count
        ucb_values[action] = mean + math.sqrt(1.0 / count)
        lines.append(tried.format(
            label=label, count=count, total=format_number(sums_array[action], decimals),
            mean=format_number(mean, decimals), ucb=format_number(ucb_values[action], decimals)))
    untried = np.flatnonzero(counts_array == 0)
    if untried.size:
        action = int(untried[0])
        lines.append(explore.format(label=labels[action]))
    else:
        action = int(np.argmax(ucb_values))
        lines.append(exploit.format(label=labels[action]))
    lines.append(T.ACTION_ANSWER.format(label=labels[action]))
    return "\n".join(lines), action


def shown_means(counts: np.ndarray, reward_sums: np.ndarray, decimals: int) -> np.ndarray:
    """Each action's mean reward as the prompt prints it (``decimals`` decimals), 0 for an
    untried action: what a reader of the prompt can compare."""
    means = np.divide(reward_sums, counts, out=np.zeros(len(counts)), where=counts > 0)
    return np.array([float(format_number(mean, decimals)) for mean in means])


def greedy_thought_rationale(labels: Sequence[str], counts: Sequence[int],
                             reward_sums: Sequence[float], decimals: int = 2,
                             explore: int | None = None) -> tuple[str, int]:
    """The greedy expert's answer and the action it picks: the mean of every tried action,
    then the highest mean as printed (untried actions count as 0; lowest index on
    ties), so that the choice follows from the numbers the prompt and the rationale show.
    Before any tried action has a printed mean above 0 it names an untried action, the first
    one, or the untried action ``explore`` when given (an exploring step). Returns (text, env
    action)."""
    labels, counts_array, sums_array = _arm_statistics(labels, counts, reward_sums)
    untried = np.flatnonzero(counts_array == 0)
    if explore is not None and explore not in untried:
        raise ValueError(f"explore must name an untried action, got {explore}")
    means = shown_means(counts_array, sums_array, decimals)
    lines = [T.GREEDY_RATIONALE_OPENING]
    for action in np.flatnonzero(counts_array > 0):
        lines.append(T.GREEDY_RATIONALE_LINE.format(
            label=labels[action], mean=format_number(means[action], decimals)))
    best = int(np.argmax(means))
    if explore is None and (untried.size == 0 or (counts_array[best] > 0 and means[best] > 0)):
        action, line = best, T.GREEDY_RATIONALE_EXPLOIT
    else:
        action = int(untried[0]) if explore is None else int(explore)
        line = T.GREEDY_RATIONALE_EXPLORE
    lines += [line.format(label=labels[action]), T.ACTION_ANSWER.format(label=labels[action])]
    return "\n".join(lines), action
