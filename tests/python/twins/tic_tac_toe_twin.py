"""Pure-Python twin of the C++ tic-tac-toe env, used only by the tests.

The rules are written out again here, independently of the C++ code. The env twin draws from
the core's RNG (``rlft._core.Rng``, the same xoshiro stream per (seed, row)) in the same order
as the C++ env, so with the random, minimax or noisy-minimax opponent it must reproduce the
C++ games exactly. (MCTS is not twinned: its playouts would need the tree written out again.)
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Sequence

from rlft import _core

LINES = ((0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6))


def winner(board: Sequence[int]) -> int:
    """Owner of the first full line (0 if none)."""
    for a, b, c in LINES:
        if board[a] != 0 and board[a] == board[b] == board[c]:
            return board[a]
    return 0


def is_terminal(board: Sequence[int]) -> bool:
    return winner(board) != 0 or all(cell != 0 for cell in board)


def legal_moves(board: Sequence[int]) -> list[int]:
    """Empty cells in increasing order; none once the game is over."""
    return [] if is_terminal(board) else [i for i, cell in enumerate(board) if cell == 0]


@lru_cache(maxsize=None)
def minimax_score(board: tuple[int, ...], to_move: int) -> int:
    """Depth-adjusted negamax score for the player to move (same definition as the C++ table):
    +-(1 + empty cells at the end) for a win / loss, 0 for a draw."""
    empty = [i for i, cell in enumerate(board) if cell == 0]
    won = winner(board)
    if won:
        return (1 if won == to_move else -1) * (1 + len(empty))
    if not empty:
        return 0
    return max(-minimax_score(board[:i] + (to_move,) + board[i + 1:], 3 - to_move) for i in empty)


def minimax_moves(board: Sequence[int], player: int) -> list[int]:
    board = tuple(board)
    scores = {i: -minimax_score(board[:i] + (player,) + board[i + 1:], 3 - player)
              for i in legal_moves(board)}
    best = max(scores.values())
    return [i for i, score in scores.items() if score == best]


class TicTacToeTwin:
    """One game, mirroring ``rlft::tic_tac_toe::Env`` step for step (opponent: random,
    minimax, or noisy with the minimax base)."""

    def __init__(self, seed: int, row: int, opponent: str = "random", starts: str = "agent",
                 illegal_action: str = "random_move", noise_prob: float = 0.5) -> None:
        assert opponent in ("random", "minimax", "noisy")
        self.rng = _core.Rng(seed, row)
        self.opponent, self.starts = opponent, starts
        self.illegal_action, self.noise_prob = illegal_action, noise_prob
        self.reset()

    def _random_move(self) -> int:
        empty = [i for i, cell in enumerate(self.board) if cell == 0]
        return empty[self.rng.uniform_int(len(empty))]

    def _opponent_move(self) -> None:
        kind = self.opponent
        if kind == "noisy":
            kind = "random" if self.rng.bernoulli(self.noise_prob) else "minimax"
        if kind == "random":
            move = self._random_move()
        else:
            moves = minimax_moves(self.board, 2)
            move = moves[self.rng.uniform_int(len(moves))]
        self.board[move] = 2
        self.opponent_action = move
        self.winner = winner(self.board)
        self.game_over = is_terminal(self.board)

    def reset(self) -> None:
        self.board = [0] * 9
        self.step_count, self.invalid, self.executed, self.opponent_action = 0, False, -1, -1
        self.winner, self.game_over = 0, False
        opponent_first = self.starts == "opponent"
        if self.starts == "random":
            opponent_first = self.rng.uniform_int(2) == 1
        if opponent_first:
            self._opponent_move()

    def step(self, action: int) -> tuple[float, bool]:
        """Returns (reward, terminated)."""
        self.step_count += 1
        self.opponent_action = -1
        self.invalid = self.board[action] != 0
        cell = action
        if self.invalid:
            if self.illegal_action == "lose":
                self.executed, self.winner, self.game_over = -1, 2, True
                return -1.0, True
            cell = self._random_move()
        self.board[cell] = 1
        self.executed = cell
        self.winner = winner(self.board)
        self.game_over = is_terminal(self.board)
        if not self.game_over:
            self._opponent_move()
        return {0: 0.0, 1: 1.0, 2: -1.0}[self.winner], self.game_over

    def legal_mask(self) -> list[bool]:
        return [not self.game_over and cell == 0 for cell in self.board]


class VectorTwin:
    """B twins with the vector env's next-step autoreset rule."""

    def __init__(self, num_envs: int, seed: int, **options: Any) -> None:
        self.envs = [TicTacToeTwin(seed, row, **options) for row in range(num_envs)]
        self.needs_reset = [False] * num_envs

    def step(self, actions: Sequence[int]) -> list[tuple[float, bool]]:
        results = []
        for i, env in enumerate(self.envs):
            if self.needs_reset[i]:
                env.reset()
                self.needs_reset[i] = False
                results.append((0.0, False))
                continue
            reward, done = env.step(int(actions[i]))
            self.needs_reset[i] = done
            results.append((reward, done))
        return results
