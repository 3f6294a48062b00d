"""Tic-tac-toe (paper §2.3), batched in C++: the agent plays 1 against an opponent playing 2.

Cells 0-8 are row-major (``012/345/678``), 0 = empty. Reward +1 win, 0 draw, -1 loss; every
game ends with ``terminated=True``. Observations: ``board`` int8[B, 9] and ``legal_mask``
bool[B, 9] (all false once a game is over); info: ``invalid_action``, ``executed_action``,
``opponent_action``, ``winner``, ``step`` (see docs/architecture.md). When the opponent
starts, its first move is already on the board after reset.

An occupied-cell action is flagged in ``invalid_action``; by default a uniformly random
legal move is played instead (the paper's rule), with ``illegal_action="lose"`` the game
ends with -1. Actions outside 0-8 are bad input and raise ``ValueError``.

Opponents (also usable by agents through :class:`TicTacToeMoveChooser`):

* ``random``: a uniformly random empty cell.
* ``minimax``: perfect play from a table of the game values of all 2 x 3^9 (board, player to
  move) pairs computed once. Values are depth-adjusted (a win sooner beats a win later, a
  loss later beats a loss sooner); ties among the best moves are broken uniformly at random.
* ``mcts``: UCT with uniformly random rollouts, ``mcts_simulations`` playouts per move
  (default 1000: wins 94% of games against random and loses under 2% against minimax).
* ``noisy``: a random move with probability ``noise_prob``, else ``noisy_base`` (the paper:
  p = 0.5 with MCTS).

Every random choice (who starts, the opponent, replacement moves) is drawn from the row's
own RNG, so a row's games depend only on (seed, row).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from rlft import _core
from rlft.envs.registry import register
from rlft.envs.vector import CoreVectorEnv, check_seed

OPPONENTS = ("random", "minimax", "mcts", "noisy")
NOISY_BASES = ("minimax", "mcts")
STARTS = ("agent", "opponent", "random")
ILLEGAL_ACTIONS = ("random_move", "lose")
MAX_MCTS_SIMULATIONS: int = _core.TIC_TAC_TOE_MAX_MCTS_SIMULATIONS

_CORE_DEFAULTS = _core.TicTacToeOpponentConfig()


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def _check_int(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not low <= int(value) <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {value}")
    return int(value)


def _check_float(name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer,
                                                                     np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"{name} must be a finite number in [{low}, {high}], got {value}")
    return float(value)


def opponent_config(kind: str = "minimax",
                    mcts_simulations: int = _CORE_DEFAULTS.mcts_simulations,
                    mcts_exploration: float = _CORE_DEFAULTS.mcts_exploration,
                    noise_prob: float = 0.5, noisy_base: str = "mcts") -> Any:
    """Checked ``_core.TicTacToeOpponentConfig``; raises ValueError/TypeError naming a bad field."""
    core = _core.TicTacToeOpponentConfig()
    core.kind = _core.TicTacToeOpponentKind.__members__[_check_choice("opponent", kind, OPPONENTS)]
    core.mcts_simulations = _check_int("mcts_simulations", mcts_simulations, 1,
                                       MAX_MCTS_SIMULATIONS)
    core.mcts_exploration = _check_float("mcts_exploration", mcts_exploration, 0.0, math.inf)
    core.noise_prob = _check_float("noise_prob", noise_prob, 0.0, 1.0)
    core.noisy_base = _core.TicTacToeOpponentKind.__members__[
        _check_choice("noisy_base", noisy_base, NOISY_BASES)]
    core.validate()
    return core


@dataclass
class TicTacToeConfig:
    """Settings of ``make("tictactoe")``; checked when built and again when an env is made."""

    opponent: str = field(default="random", metadata={
        "help": "who plays 2: 'random' (paper default), 'minimax' (perfect), 'mcts' (UCT) or "
                "'noisy' (random with probability noise_prob, else noisy_base)"})
    mcts_simulations: int = field(default=_CORE_DEFAULTS.mcts_simulations, metadata={
        "help": "UCT playouts per MCTS move (the paper gives none; 1000 nearly never loses)"})
    mcts_exploration: float = field(default=_CORE_DEFAULTS.mcts_exploration, metadata={
        "help": "UCT exploration constant c for returns in [-1, 1]"})
    noise_prob: float = field(default=0.5, metadata={
        "help": "noisy opponent: probability of a uniformly random move (paper: 0.5)"})
    noisy_base: str = field(default="mcts", metadata={
        "help": "noisy opponent: 'mcts' (paper) or 'minimax', played when not random"})
    starts: str = field(default="agent", metadata={
        "help": "who moves first: 'agent', 'opponent' or 'random' (fair coin per episode)"})
    illegal_action: str = field(default="random_move", metadata={
        "help": "occupied-cell action: 'random_move' plays a random legal move instead (paper), "
                "'lose' ends the game with reward -1; both set info['invalid_action']"})

    def __post_init__(self) -> None:
        self.to_core()

    def to_core(self) -> Any:
        """The checked ``_core.TicTacToeConfig``."""
        core = _core.TicTacToeConfig()
        core.opponent = opponent_config(self.opponent, self.mcts_simulations,
                                        self.mcts_exploration, self.noise_prob, self.noisy_base)
        core.starts = _core.TicTacToeStarts.__members__[
            _check_choice("starts", self.starts, STARTS)]
        core.illegal_action = _core.TicTacToeIllegalAction.__members__[
            _check_choice("illegal_action", self.illegal_action, ILLEGAL_ACTIONS)]
        core.validate()
        return core


class TicTacToeEnv(CoreVectorEnv):
    """``num_envs`` games of tic-tac-toe stepped together (Gymnasium vector contract)."""

    observation_keys = ("board", "legal_mask")

    def __init__(self, config: TicTacToeConfig | None = None, num_envs: int = 1, seed: int = 0,
                 num_threads: int = 1) -> None:
        if config is None:
            config = TicTacToeConfig()
        if not isinstance(config, TicTacToeConfig):
            raise TypeError(f"config must be a TicTacToeConfig, got {type(config).__name__}")
        self.config = config
        super().__init__(_core.TicTacToeVec, config.to_core(), num_envs, seed, num_threads)

    def board_strings(self) -> list[str]:
        """The current boards as 9-digit strings (the paper's text encoding), one per row."""
        return board_strings(self.buffers["board"])


def board_strings(boards: np.ndarray) -> list[str]:
    """int8[B, 9] boards -> ["102000000", ...]."""
    digits = np.ascontiguousarray(boards, dtype=np.uint8) + np.uint8(ord("0"))
    return [row.decode("ascii") for row in digits.view("S9").ravel()]


def as_boards(boards: Any) -> np.ndarray:
    """int8[B, 9] boards from an int8 array (passed through for the C++ check), a sequence of
    9-digit strings, or a nested sequence of ints."""
    if isinstance(boards, np.ndarray):
        return boards
    if isinstance(boards, str):
        boards = [boards]
    if isinstance(boards, Sequence) and boards and all(isinstance(b, str) for b in boards):
        for row, text in enumerate(boards):
            if len(text) != 9 or any(ch not in "012" for ch in text):
                raise ValueError(f"board string {row} must be 9 digits in 0-2, got {text!r}")
        return np.frombuffer("".join(boards).encode("ascii"), dtype=np.uint8).reshape(-1, 9) \
            .astype(np.int8) - np.int8(ord("0"))
    array = np.asarray(boards)
    if array.dtype.kind not in "iu":
        raise TypeError(f"boards must hold integers, got dtype {array.dtype}")
    if array.size and (array.min() < 0 or array.max() > 2):
        raise ValueError("board cells must be 0, 1 or 2")
    return np.ascontiguousarray(array, dtype=np.int8)


def _check_player(player: Any) -> int:
    if isinstance(player, (bool, np.bool_)) or not isinstance(player, (int, np.integer)) \
            or player not in (1, 2):
        raise ValueError(f"player must be 1 or 2, got {player!r}")
    return int(player)


class TicTacToeMoveChooser:
    """Chooses moves for batches of boards with the env's opponents (for minimax / MCTS agents).

    Row i of a call draws from the RNG stream (seed, i): the same boards, player and seed give
    the same moves whatever the batch size or thread count. Vary the seed between calls.
    """

    def __init__(self, kind: str = "minimax",
                 mcts_simulations: int = _CORE_DEFAULTS.mcts_simulations,
                 mcts_exploration: float = _CORE_DEFAULTS.mcts_exploration,
                 noise_prob: float = 0.5, noisy_base: str = "mcts", num_threads: int = 1) -> None:
        num_threads = _check_int("num_threads", num_threads, 1, 1024)
        self.kind = kind
        self._core = _core.TicTacToeMoveChooser(
            opponent_config(kind, mcts_simulations, mcts_exploration, noise_prob, noisy_base),
            num_threads)

    def choose(self, boards: Any, player: int, seed: int,
               out: np.ndarray | None = None) -> np.ndarray:
        """int32[B] cells for ``player`` (1 or 2) to play on non-terminal int8[B, 9] boards."""
        return self._core.choose(as_boards(boards), _check_player(player),
                                 check_seed(seed), out)


def game_values(boards: Any, to_move: int) -> np.ndarray:
    """int8[B] game values under perfect play for the player to move: +1 win, 0 draw, -1 loss
    (the outcome itself for finished boards)."""
    return _core.tic_tac_toe_values(as_boards(boards), _check_player(to_move))


def board_status(boards: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(winner int8[B] with 0 = none, terminal bool[B], legal_mask bool[B, 9]) by the C++ rules."""
    return _core.tic_tac_toe_status(as_boards(boards))


register("tictactoe", TicTacToeConfig, TicTacToeEnv,
         "tic-tac-toe against a random, minimax, MCTS or noisy opponent",
         aliases=("tic_tac_toe", "ttt"))
