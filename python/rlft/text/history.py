"""Per-row interaction history for a batch of env rows.

Prompts show the recent steps of the current episode (``Step=t Action=a Reward=r``, plus the
state for tic-tac-toe and the contextual bandit) and, optionally, per-action counts and mean
rewards over the whole episode. The env buffers hold only the current step, so the text layer
records each step here. Actions are env action indices (not displayed labels): the labels can
be permuted afresh every step, so the mapping to text happens at render time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np


@dataclass(frozen=True)
class HistoryStep:
    """One recorded step of one row."""

    step: int
    """Index of the step in its episode, from 0."""
    action: int
    """The env action that was executed (an index into the env's action labels)."""
    reward: float
    """The env reward of the step (without any shaping penalty)."""
    state: Any = None
    """What the agent saw before acting, for envs whose prompt shows it (tic-tac-toe: the
    9-digit board string; contextual bandit: a ``CbContext``); None for plain bandits."""


def _check_int(value: Any, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    return int(value)


def as_row_mask(mask: Any, num_rows: int, name: str = "mask") -> np.ndarray:
    """Checks a bool[num_rows] row mask (None means every row) and returns it as numpy."""
    if mask is None:
        return np.ones(num_rows, dtype=bool)
    array = np.asarray(mask)
    if array.dtype != np.bool_:
        raise TypeError(f"{name} must be a bool array, got dtype {array.dtype}")
    if array.shape != (num_rows,):
        raise ValueError(f"{name} must have shape ({num_rows},), got {array.shape}")
    return array


class InteractionHistory:
    """The steps of the current episode of each of ``num_rows`` rows.

    Besides the step list it keeps each row's per-action counts and reward sums over the whole
    episode, so a context summary stays exact when the prompt shows only the last C steps.
    """

    def __init__(self, num_rows: int, num_actions: int) -> None:
        num_rows = _check_int(num_rows, "num_rows")
        num_actions = _check_int(num_actions, "num_actions")
        if num_rows < 1:
            raise ValueError(f"num_rows must be positive, got {num_rows}")
        if num_actions < 1:
            raise ValueError(f"num_actions must be positive, got {num_actions}")
        self.num_rows = num_rows
        self.num_actions = num_actions
        self._steps: list[list[HistoryStep]] = [[] for _ in range(num_rows)]
        self._counts = np.zeros((num_rows, num_actions), dtype=np.int64)
        self._reward_sums = np.zeros((num_rows, num_actions), dtype=np.float64)

    def clear(self, mask: Any = None) -> None:
        """Starts a new, empty episode in the rows selected by ``mask`` (bool[rows]; None: all)."""
        rows = np.flatnonzero(as_row_mask(mask, self.num_rows))
        for row in rows:
            self._steps[row] = []
        self._counts[rows] = 0
        self._reward_sums[rows] = 0.0

    def record(self, actions: Any, rewards: Any, states: Sequence[Any] | None = None,
               mask: Any = None) -> None:
        """Appends one step to every row selected by ``mask``.

        actions: int[rows] executed env actions; rewards: float[rows] env rewards;
        states: optional sequence of ``rows`` states (see ``HistoryStep.state``).
        Everything is checked before anything is stored, so a bad call changes nothing.
        """
        selected = as_row_mask(mask, self.num_rows)
        action_array = np.asarray(actions)
        if action_array.dtype.kind not in "iu":
            raise TypeError(f"actions must be integers, got dtype {action_array.dtype}")
        if action_array.shape != (self.num_rows,):
            raise ValueError(f"actions must have shape ({self.num_rows},), "
                             f"got {action_array.shape}")
        reward_array = np.asarray(rewards)
        if reward_array.dtype.kind not in "iuf":
            raise TypeError(f"rewards must be numbers, got dtype {reward_array.dtype}")
        if reward_array.shape != (self.num_rows,):
            raise ValueError(f"rewards must have shape ({self.num_rows},), "
                             f"got {reward_array.shape}")
        chosen = action_array[selected]
        bad = np.flatnonzero((chosen < 0) | (chosen >= self.num_actions))
        if bad.size:
            row = int(np.flatnonzero(selected)[bad[0]])
            raise ValueError(f"action {int(action_array[row])} of row {row} is outside "
                             f"[0, {self.num_actions})")
        if not np.all(np.isfinite(reward_array[selected])):
            row = int(np.flatnonzero(selected & ~np.isfinite(reward_array))[0])
            raise ValueError(f"reward of row {row} is not finite: {reward_array[row]}")
        if states is not None and len(states) != self.num_rows:
            raise ValueError(f"states must have {self.num_rows} entries, got {len(states)}")
        for row in np.flatnonzero(selected):
            action = int(action_array[row])
            reward = float(reward_array[row])
            state = None if states is None else states[row]
            self._steps[row].append(HistoryStep(len(self._steps[row]), action, reward, state))
            self._counts[row, action] += 1
            self._reward_sums[row, action] += reward

    def length(self, row: int) -> int:
        """Number of steps recorded in the row's current episode."""
        return len(self._steps[self._row(row)])

    def lengths(self) -> np.ndarray:
        """int64[rows]: steps recorded in each row's current episode."""
        return np.array([len(steps) for steps in self._steps], dtype=np.int64)

    def episode(self, row: int) -> tuple[HistoryStep, ...]:
        """All steps of the row's current episode, oldest first."""
        return tuple(self._steps[self._row(row)])

    def window(self, row: int, last: int | None = None) -> tuple[HistoryStep, ...]:
        """The last ``last`` steps of the row's episode (None: all of them)."""
        steps = self._steps[self._row(row)]
        if last is None:
            return tuple(steps)
        last = _check_int(last, "last")
        if last < 0:
            raise ValueError(f"last must be >= 0 or None, got {last}")
        return tuple(steps[len(steps) - last:]) if last else ()

    def counts(self, row: int) -> np.ndarray:
        """int64[actions]: how often each action was taken this episode (a copy)."""
        return self._counts[self._row(row)].copy()

    def reward_sums(self, row: int) -> np.ndarray:
        """float64[actions]: total reward per action this episode (a copy)."""
        return self._reward_sums[self._row(row)].copy()

    def _row(self, row: Any) -> int:
        row = _check_int(row, "row")
        if not 0 <= row < self.num_rows:
            raise ValueError(f"row {row} is outside [0, {self.num_rows})")
        return row
