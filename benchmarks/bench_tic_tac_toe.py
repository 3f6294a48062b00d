"""Tic-tac-toe env throughput: rlft (C++ through its Python API) against a pure-Python loop,
OpenSpiel states and PettingZoo ``tictactoe_v3``, at batch sizes 1, 64 and 4096.

Every implementation plays the same task: the agent (first player) picks a uniformly random
legal cell, then a uniformly random opponent replies inside the env step, and a finished game
is replaced by a new one. What is measured and how:

* Only the env step is timed (``time.perf_counter`` around each call); choosing the agent's
  actions happens outside the timed region for every implementation, so its cost (numpy for
  rlft, a Python loop for the others) is excluded rather than matched.
* Inside the timed step every implementation also produces the next observation the agent
  needs (rlft: board + legal mask buffers; Python loop: board + legal list; OpenSpiel:
  ``legal_actions()``; PettingZoo: ``observe()`` with its action mask).
* ``steps_per_s`` counts agent moves: rlft's next-step autoreset spends a step call on a
  finished row without a move, so those rows are not counted; the others reset in place.
* rlft runs single-threaded (``num_threads=1``) and reuses its buffers (``step`` writes into
  the same numpy arrays every call).

Run: ``RLFT_CORE_DIR=build/dev PYTHONPATH=python python3 benchmarks/bench_tic_tac_toe.py``.
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any, Callable

import numpy as np

BATCH_SIZES = (1, 64, 4096)
LINES = ((0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6))


class _Timer:
    """Accumulates the time spent inside timed calls and the moves they made."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.moves = 0

    def time(self, step: Callable[[], Any], moves: int) -> None:
        start = time.perf_counter()
        step()
        self.seconds += time.perf_counter() - start
        self.moves += moves


def _run_for(seconds: float, one_step: Callable[[_Timer], None], min_steps: int = 3) -> float:
    timer = _Timer()
    one_step(_Timer())  # warm-up, not counted
    deadline = time.perf_counter() + seconds
    steps = 0
    while steps < min_steps or time.perf_counter() < deadline:
        one_step(timer)
        steps += 1
    return timer.moves / timer.seconds


def bench_rlft(batch: int, seconds: float) -> float:
    from rlft.envs import make

    env = make("tictactoe", num_envs=batch, seed=0, num_threads=1, opponent="random")
    obs, _ = env.reset()
    legal = obs["legal_mask"]
    terminated = env.buffers["terminated"]
    rng = np.random.default_rng(0)
    score_pool = rng.random((16, batch, 9), dtype=np.float32)  # random priorities over cells
    actions = np.zeros(batch, dtype=np.int32)
    step_index = [0]

    def one_step(timer: _Timer) -> None:
        scores = score_pool[step_index[0] % len(score_pool)] + legal  # legal cells score >= 1
        actions[:] = np.argmax(scores, axis=1)
        step_index[0] += 1
        moves = batch - int(terminated.sum())  # finished rows only reset on this call
        timer.time(lambda: env.step(actions), moves)

    return _run_for(seconds, one_step)


class PythonTicTacToe:
    """A plain Python loop over rows: lists for boards, one ``random.Random`` per row."""

    def __init__(self, batch: int, seed: int) -> None:
        self.rngs = [random.Random(seed * 1_000_003 + row) for row in range(batch)]
        self.boards = [[0] * 9 for _ in range(batch)]
        self.legal = [list(range(9)) for _ in range(batch)]
        self.rewards = [0.0] * batch

    @staticmethod
    def _winner(board: list[int]) -> int:
        for a, b, c in LINES:
            if board[a] and board[a] == board[b] == board[c]:
                return board[a]
        return 0

    def step(self, actions: list[int]) -> None:
        for row, action in enumerate(actions):
            board = self.boards[row]
            board[action] = 1
            empty = [i for i in range(9) if board[i] == 0]
            reward, done = 0.0, False
            if self._winner(board) == 1:
                reward, done = 1.0, True
            elif not empty:
                done = True
            else:
                board[self.rngs[row].choice(empty)] = 2
                empty = [i for i in range(9) if board[i] == 0]
                if self._winner(board) == 2:
                    reward, done = -1.0, True
                done = done or not empty
            self.rewards[row] = reward
            if done:
                board[:] = [0] * 9
                empty = list(range(9))
            self.legal[row] = empty


def bench_python(batch: int, seconds: float) -> float:
    env = PythonTicTacToe(batch, seed=0)
    agent = random.Random(1)

    def one_step(timer: _Timer) -> None:
        actions = [legal[agent.randrange(len(legal))] for legal in env.legal]
        timer.time(lambda: env.step(actions), batch)

    return _run_for(seconds, one_step)


def bench_openspiel(batch: int, seconds: float) -> float:
    import pyspiel

    game = pyspiel.load_game("tic_tac_toe")
    states = [game.new_initial_state() for _ in range(batch)]
    legal = [state.legal_actions() for state in states]
    opponent = random.Random(0)
    agent = random.Random(1)

    def step(actions: list[int]) -> None:
        for row, action in enumerate(actions):
            state = states[row]
            state.apply_action(action)
            if not state.is_terminal():
                moves = state.legal_actions()
                state.apply_action(moves[opponent.randrange(len(moves))])
            if state.is_terminal():
                state = states[row] = game.new_initial_state()
            legal[row] = state.legal_actions()

    def one_step(timer: _Timer) -> None:
        actions = [moves[agent.randrange(len(moves))] for moves in legal]
        timer.time(lambda: step(actions), batch)

    return _run_for(seconds, one_step)


def bench_pettingzoo(batch: int, seconds: float) -> float:
    from pettingzoo.classic import tictactoe_v3

    envs = [tictactoe_v3.env() for _ in range(batch)]
    for row, env in enumerate(envs):
        env.reset(seed=row)
    masks = [env.observe("player_1")["action_mask"] for env in envs]
    opponent = np.random.default_rng(0)
    agent = random.Random(1)

    def game_over(env: Any) -> bool:
        return any(env.terminations.values()) or any(env.truncations.values())

    def step(actions: list[int]) -> None:
        for row, action in enumerate(actions):
            env = envs[row]
            env.step(action)  # player_1, the agent
            if not game_over(env):
                mask = env.observe("player_2")["action_mask"]
                legal = np.flatnonzero(mask)
                env.step(int(legal[opponent.integers(len(legal))]))
            if game_over(env):
                env.reset()
            masks[row] = env.observe("player_1")["action_mask"]

    def one_step(timer: _Timer) -> None:
        actions = []
        for mask in masks:
            legal = [i for i in range(9) if mask[i]]
            actions.append(legal[agent.randrange(len(legal))])
        timer.time(lambda: step(actions), batch)

    return _run_for(seconds, one_step)


IMPLEMENTATIONS: dict[str, Callable[[int, float], float]] = {
    "rlft": bench_rlft,
    "python": bench_python,
    "openspiel": bench_openspiel,
    "pettingzoo": bench_pettingzoo,
}


def run(seconds_per_case: float = 1.0) -> list[dict]:
    """Measures every implementation at every batch size; rows of env, impl, batch, steps_per_s."""
    rows = []
    for batch in BATCH_SIZES:
        for impl, bench in IMPLEMENTATIONS.items():
            rows.append({"env": "tictactoe", "impl": impl, "batch": batch,
                         "steps_per_s": bench(batch, seconds_per_case)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="timed seconds per case")
    parser.add_argument("--smoke", action="store_true", help="every case for a moment")
    args = parser.parse_args()
    rows = run(0.002 if args.smoke else args.seconds)
    rate = {(row["impl"], row["batch"]): row["steps_per_s"] for row in rows}
    print(f"{'batch':>6} " + " ".join(f"{impl:>12}" for impl in IMPLEMENTATIONS)
          + "  rlft/openspiel")
    for batch in BATCH_SIZES:
        rates = " ".join(f"{rate[(impl, batch)]:>12,.0f}" for impl in IMPLEMENTATIONS)
        ratio = rate[("rlft", batch)] / rate[("openspiel", batch)]
        print(f"{batch:>6} {rates}  {ratio:>13.1f}x")


if __name__ == "__main__":
    main()
