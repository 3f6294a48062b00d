"""Minimax and MCTS tic-tac-toe players, reusing the env's C++ opponents
(:class:`rlft.envs.tic_tac_toe.TicTacToeMoveChooser`) to play the agent's side (player 1)."""

from __future__ import annotations

from typing import Any

import numpy as np

from rlft.agents.base import BatchedAgent, Observation
from rlft.envs.tic_tac_toe import TicTacToeMoveChooser

AGENT_PLAYER = 1
NUM_CELLS = 9


class TicTacToeSearchAgent(BatchedAgent):
    """Plays the move the C++ chooser of ``kind`` picks for player 1.

    Determinism: call n of ``act`` uses chooser seed SeedSequence([seed, n]); the chooser
    draws row b from stream (that seed, b), so row b's moves do not depend on the batch size.
    Finished games (no legal cell) get an empty board in their slot, so every row keeps its
    index, and their move is ignored by the env's autoreset.
    """

    def __init__(self, kind: str, **chooser_options: Any) -> None:
        super().__init__()
        self.chooser = TicTacToeMoveChooser(kind, **chooser_options)  # validates the options
        self._seed = 0
        self._calls = 0

    def reset(self, num_envs: int, num_actions: int, seed: int) -> None:
        if num_actions != NUM_CELLS:
            raise ValueError(f"tic-tac-toe agents need num_actions = {NUM_CELLS}, "
                             f"got {num_actions}")
        super().reset(num_envs, num_actions, seed)
        self._seed = int(seed)
        self._calls = 0

    def act(self, obs: Observation, info: Observation) -> np.ndarray:
        self._require_reset()
        board = self._obs_array(obs, "board", (NUM_CELLS,))
        legal = self._obs_array(obs, "legal_mask", (NUM_CELLS,)).astype(bool)
        playing = legal.any(axis=1)
        boards = np.where(playing[:, None], board, 0).astype(np.int8)
        call_seed = int(np.random.SeedSequence([self._seed, self._calls])
                        .generate_state(1, np.uint64)[0])
        moves = self.chooser.choose(np.ascontiguousarray(boards), AGENT_PLAYER, call_seed)
        self._calls += 1
        return np.where(playing, moves, 0).astype(np.int32)


class MinimaxAgent(TicTacToeSearchAgent):
    """Perfect play (depth-adjusted minimax values, ties broken at random)."""

    name = "minimax"

    def __init__(self, num_threads: int = 1) -> None:
        super().__init__("minimax", num_threads=num_threads)


class MCTSAgent(TicTacToeSearchAgent):
    """UCT with random rollouts; ``mcts_simulations`` playouts per move."""

    name = "mcts"

    def __init__(self, mcts_simulations: int = 1000, mcts_exploration: float | None = None,
                 num_threads: int = 1) -> None:
        options: dict[str, Any] = {"mcts_simulations": mcts_simulations, "num_threads": num_threads}
        if mcts_exploration is not None:
            options["mcts_exploration"] = mcts_exploration
        super().__init__("mcts", **options)
