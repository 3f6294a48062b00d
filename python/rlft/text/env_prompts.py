"""Prompts for a batch of env rows: reads the env buffers, keeps each row's history.

Use one prompter per vector env, in step with it::

    prompter = MabPrompter(PromptConfig(), num_envs=B, num_arms=K, horizon=T)
    obs, info = env.reset(seed=0); prompter.reset()
    while ...:
        batch = prompter.render(obs, info)                     # B prompts
        parsed = ActionParser(batch.labels).parse(generations)  # label indices, -1 if none
        parsed = ParseResult(batch.env_actions(parsed.actions), parsed.status)  # undo shuffling
        chosen = step_actions(parsed, K, rng)                  # random action where invalid
        obs, reward, terminated, truncated, info = env.step(chosen.actions)
        prompter.record(chosen.actions, reward, terminated, truncated)

``record`` follows the env's autoreset rule (Gymnasium NEXT_STEP, see ``rlft.envs.vector``):
the step after a row terminated or was truncated starts a new episode there, so that row's
history is cleared instead of extended. Pass the actions the env really executed (for
tic-tac-toe ``info["executed_action"]``). Buffer names are those of docs/architecture.md.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from rlft.text.history import InteractionHistory, as_row_mask
from rlft.text.prompts import (TTT_LABELS, CbContext, CbTask, MabTask, PromptConfig, board_string,
                               cb_shared_text, check_labels, mab_labels, mab_shared_text,
                               render_cb_prompt, render_mab_prompt, render_tictactoe_prompt,
                               tictactoe_shared_text)


class LabelShuffler:
    """Per-row label permutations, a fresh one per draw.

    Row r draws from its own Generator seeded from (seed, r), so a row's permutations do not
    depend on the batch size or on the other rows.
    """

    def __init__(self, num_rows: int, num_actions: int, seed: int = 0) -> None:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be an int >= 0, got {seed!r}")
        self.num_actions = int(num_actions)
        self._generators = [
            np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(seed),
                                                                       spawn_key=(row,))))
            for row in range(int(num_rows))]

    def draw(self) -> np.ndarray:
        """int32[rows, actions]: ``result[r, a]`` = label index shown for env action a."""
        return np.stack([rng.permutation(self.num_actions).astype(np.int32)
                         for rng in self._generators])


@dataclass(frozen=True)
class PromptBatch:
    """The prompts of one step of a batch and how to read the answers back."""

    texts: list[str]
    """One prompt per row (plain text; see ``rlft.text.chat`` for the chat template)."""
    labels: tuple[str, ...]
    """The action labels the prompts list; the parser returns indices into this tuple."""
    action_of_label: np.ndarray
    """int32[rows, labels]: env action meant by label index j in row r (identity unless the
    labels are randomised)."""
    shared_prefix: str = ""
    """The text every prompt begins with, the same at every step (task and instructions)."""

    def displayed_label(self, row: int, action: int) -> str:
        """The label row ``row`` shows for env action ``action`` (e.g. to write a forced step's
        rationale under context randomisation)."""
        rows, count = self.action_of_label.shape
        if not (0 <= row < rows and 0 <= action < count):
            raise ValueError(f"row {row} / action {action} outside [0, {rows}) / [0, {count})")
        return self.labels[int(np.flatnonzero(self.action_of_label[row] == action)[0])]

    def env_actions(self, label_indices: Any) -> np.ndarray:
        """Maps parsed label indices (int[rows]) to env actions; negative indices (no valid
        answer) are passed through unchanged for the caller's fallback rule."""
        indices = np.asarray(label_indices)
        rows = self.action_of_label.shape[0]
        if indices.dtype.kind not in "iu" or indices.shape != (rows,):
            raise ValueError(f"label_indices must be int[{rows}], got {indices.dtype} "
                             f"{indices.shape}")
        if np.any(indices >= len(self.labels)):
            raise ValueError(f"label index {int(indices.max())} is outside [0, {len(self.labels)})")
        valid = indices >= 0
        result = indices.astype(np.int32)
        result[valid] = self.action_of_label[np.flatnonzero(valid), indices[valid]]
        return result


def _buffer(buffers: Mapping[str, Any], name: str, shape: tuple[int, ...],
            kinds: str) -> np.ndarray:
    if name not in buffers:
        raise ValueError(f"missing env buffer {name!r}; got {sorted(buffers)}")
    array = np.asarray(buffers[name])
    if array.shape != shape:
        raise ValueError(f"env buffer {name!r} must have shape {shape}, got {array.shape}")
    if array.dtype.kind not in kinds:
        raise TypeError(f"env buffer {name!r} has dtype {array.dtype}, expected kind {kinds!r}")
    return array


class _EpisodePrompter(ABC):
    """History keeping, autoreset and label randomisation shared by the env prompters."""

    def __init__(self, config: PromptConfig, num_envs: int, labels: Sequence[str],
                 seed: int) -> None:
        if not isinstance(config, PromptConfig):
            raise TypeError(f"config must be a PromptConfig, got {type(config).__name__}")
        self.config = config
        self.labels = check_labels(labels)
        self.num_envs = int(num_envs)
        self.history = InteractionHistory(num_envs, len(self.labels))
        self._shuffler = (LabelShuffler(num_envs, len(self.labels), seed)
                          if config.randomise_labels else None)
        self._pending_reset = np.zeros(self.num_envs, dtype=bool)
        self._states: list[Any] | None = None

    def reset(self, mask: Any = None) -> None:
        """Call after ``env.reset``: empties the history of the reset rows (None: all rows)."""
        rows = as_row_mask(mask, self.num_envs)
        self.history.clear(rows)
        self._pending_reset[rows] = False
        self._states = None

    def render(self, obs: Mapping[str, Any], info: Mapping[str, Any] | None = None) -> PromptBatch:
        """The prompts for the current observations (``obs`` and ``info`` as the env returns
        them)."""
        states = self._read_states(obs, info or {})
        if self._shuffler is None:
            display = np.tile(np.arange(len(self.labels), dtype=np.int32), (self.num_envs, 1))
        else:
            display = self._shuffler.draw()
        texts = [self._render_row(row, states[row], display[row] if self._shuffler else None)
                 for row in range(self.num_envs)]
        self._states = states
        return PromptBatch(texts, self.labels, np.argsort(display, axis=1).astype(np.int32),
                           self.shared_text())

    def record(self, actions: Any, reward: Any, terminated: Any, truncated: Any) -> None:
        """Call after ``env.step``: adds the step to each row's history, or starts the row's
        new episode if this step was its autoreset."""
        if self._states is None:
            raise RuntimeError("record() needs a render() of the same step first")
        done = (as_row_mask(np.asarray(terminated), self.num_envs, "terminated")
                | as_row_mask(np.asarray(truncated), self.num_envs, "truncated"))
        self.history.record(actions, reward, self._states, mask=~self._pending_reset)
        self.history.clear(self._pending_reset)
        self._pending_reset = done.copy()
        self._states = None

    @abstractmethod
    def shared_text(self) -> str:
        """The text every prompt of this prompter begins with, at every step of every row."""

    @abstractmethod
    def _read_states(self, obs: Mapping[str, Any], info: Mapping[str, Any]) -> list[Any]:
        """Per-row state for the prompt, read (and checked) from the env buffers."""

    @abstractmethod
    def _render_row(self, row: int, state: Any, display: np.ndarray | None) -> str:
        """The prompt of one row; ``display`` is its label permutation, if any."""

    def _check_step_counts(self, steps: np.ndarray) -> None:
        """The env's step counter and the recorded history must agree."""
        lengths = self.history.lengths()
        bad = np.flatnonzero(steps != lengths)
        if bad.size:
            row = int(bad[0])
            raise ValueError(f"history out of step with the env: row {row} has {lengths[row]} "
                             f"recorded steps but the env reports step={int(steps[row])}; call "
                             "reset() after env.reset and record() after every env.step")


class MabPrompter(_EpisodePrompter):
    """Multi-armed bandit prompts (``make("mab")``), button or continuous per the config."""

    def __init__(self, config: PromptConfig, num_envs: int, num_arms: int, horizon: int,
                 distribution: str = "gaussian", seed: int = 0) -> None:
        self.task = MabTask(num_arms, horizon, distribution)
        super().__init__(config, num_envs, mab_labels(config.variant, num_arms), seed)

    def _read_states(self, obs: Mapping[str, Any], info: Mapping[str, Any]) -> list[Any]:
        self._check_step_counts(_buffer(obs, "step", (self.num_envs,), "iu"))
        return [None] * self.num_envs

    def shared_text(self) -> str:
        return mab_shared_text(self.config, self.task)

    def _render_row(self, row: int, state: Any, display: np.ndarray | None) -> str:
        return render_mab_prompt(self.config, self.task, self.history.episode(row), display)


class CbPrompter(_EpisodePrompter):
    """Contextual-bandit (MovieLens) prompts (``make("contextual_bandit")``).

    user_descriptions[u] is the sentence for row u of the dataset's user table (see
    ``rlft.text.prompts.describe_user``).
    """

    def __init__(self, config: PromptConfig, num_envs: int, movie_names: Sequence[str],
                 horizon: int, user_descriptions: Sequence[str], seed: int = 0) -> None:
        self.task = CbTask(tuple(movie_names), horizon)
        self.user_descriptions = list(user_descriptions)
        super().__init__(config, num_envs, self.task.movie_names, seed)

    def _read_states(self, obs: Mapping[str, Any], info: Mapping[str, Any]) -> list[Any]:
        self._check_step_counts(_buffer(obs, "step", (self.num_envs,), "iu"))
        users = _buffer(obs, "user", (self.num_envs,), "iu")
        if "context" not in obs:
            raise ValueError(f"missing env buffer 'context'; got {sorted(obs)}")
        context = np.asarray(obs["context"])
        if context.ndim != 2 or context.shape[0] != self.num_envs or context.dtype.kind != "f":
            raise ValueError(f"env buffer 'context' must be float[{self.num_envs}, d], got "
                             f"{context.dtype} {context.shape}")
        bad = np.flatnonzero((users < 0) | (users >= len(self.user_descriptions)))
        if bad.size:
            raise ValueError(f"user {int(users[bad[0]])} of row {int(bad[0])} has no description "
                             f"({len(self.user_descriptions)} users known)")
        return [CbContext(self.user_descriptions[int(users[row])],
                          tuple(float(value) for value in context[row]))
                for row in range(self.num_envs)]

    def shared_text(self) -> str:
        return cb_shared_text(self.config, self.task)

    def _render_row(self, row: int, state: Any, display: np.ndarray | None) -> str:
        return render_cb_prompt(self.config, self.task, self.history.episode(row), state, display)


class TicTacToePrompter(_EpisodePrompter):
    """Tic-tac-toe prompts (``make("tictactoe")``); record the env's ``executed_action``."""

    def __init__(self, config: PromptConfig, num_envs: int, seed: int = 0) -> None:
        if config.randomise_labels:
            raise ValueError("randomise_labels applies to bandits only")
        super().__init__(config, num_envs, TTT_LABELS, seed)
        self._legal: np.ndarray | None = None

    def _read_states(self, obs: Mapping[str, Any], info: Mapping[str, Any]) -> list[Any]:
        board = _buffer(obs, "board", (self.num_envs, 9), "iu")
        self._legal = _buffer(obs, "legal_mask", (self.num_envs, 9), "b")
        return [board_string(board[row]) for row in range(self.num_envs)]

    def shared_text(self) -> str:
        return tictactoe_shared_text(self.config)

    def _render_row(self, row: int, state: Any, display: np.ndarray | None) -> str:
        assert self._legal is not None
        legal = np.flatnonzero(self._legal[row]).tolist()
        return render_tictactoe_prompt(self.config, self.history.episode(row), state, legal)
