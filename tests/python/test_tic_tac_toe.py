"""Tic-tac-toe env: the Python API contract, determinism, the pure-Python twin, and the rules
and minimax opponent checked against OpenSpiel's tic_tac_toe over all reachable states."""

from __future__ import annotations

import numpy as np
import pyspiel
import pytest

from rlft.envs import make, registered
from rlft.envs.tic_tac_toe import (TicTacToeConfig, TicTacToeEnv, TicTacToeMoveChooser,
                                   as_boards, board_status, board_strings, game_values)
from twins import tic_tac_toe_twin as twin

# --------------------------------------------------------------------------- API contract


def test_make_names_and_buffers() -> None:
    for name in ("tictactoe", "tic_tac_toe", "ttt"):
        assert registered()[name].env_class is TicTacToeEnv
    env = make("tictactoe", num_envs=4, seed=0)
    obs, info = env.reset()
    assert set(obs) == {"board", "legal_mask"}
    assert obs["board"].dtype == np.int8 and obs["board"].shape == (4, 9)
    assert obs["legal_mask"].dtype == np.bool_ and obs["legal_mask"].shape == (4, 9)
    assert set(info) == {"invalid_action", "executed_action", "opponent_action", "winner", "step"}
    dtypes = {"invalid_action": np.bool_, "executed_action": np.int32, "opponent_action": np.int32,
              "winner": np.int8, "step": np.int32}
    for key, dtype in dtypes.items():
        assert info[key].dtype == dtype and info[key].shape == (4,)
    assert env.single_action_space.n == 9 and env.num_actions == 9
    assert not obs["board"].any() and obs["legal_mask"].all()  # the agent starts by default
    assert env.board_strings() == ["000000000"] * 4
    obs, reward, terminated, truncated, info = env.step(np.array([4, 0, 8, 2], dtype=np.int32))
    assert reward.dtype == np.float32 and terminated.dtype == np.bool_ and not truncated.any()
    assert (obs["board"][np.arange(4), [4, 0, 8, 2]] == 1).all()
    assert ((obs["board"] == 2).sum(axis=1) == 1).all()
    assert (obs["board"][np.arange(4), info["opponent_action"]] == 2).all()
    assert (info["step"] == 1).all() and (info["executed_action"] == [4, 0, 8, 2]).all()
    strings = env.board_strings()
    assert [int(ch) for ch in strings[0]] == list(obs["board"][0])


def test_opponent_starts_and_random_start() -> None:
    env = make("ttt", num_envs=200, seed=3, starts="opponent")
    obs, info = env.reset()
    assert ((obs["board"] == 2).sum(axis=1) == 1).all() and (info["opponent_action"] >= 0).all()
    env = make("ttt", num_envs=200, seed=3, starts="random")
    _, info = env.reset()
    assert 60 < (info["opponent_action"] >= 0).sum() < 140


def play_random(env: TicTacToeEnv, steps: int, seed: int, legal_only: bool = True,
                reset_seed: int | None = None) -> list:
    """Resets, then steps with random actions (from the legal mask, or any cell); returns
    copies of everything."""
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=reset_seed)
    trace = []
    for _ in range(steps):
        if legal_only:
            scores = rng.random(obs["legal_mask"].shape) + obs["legal_mask"]
            actions = scores.argmax(axis=1).astype(np.int32)
        else:
            actions = rng.integers(0, 9, size=env.num_envs, dtype=np.int32)
        obs, reward, terminated, truncated, info = env.step(actions)
        trace.append({"board": obs["board"].copy(), "reward": reward.copy(),
                      "terminated": terminated.copy(), **{k: v.copy() for k, v in info.items()}})
    return trace


def test_autoreset_next_step() -> None:
    env = make("ttt", num_envs=8, seed=1)
    obs, _ = env.reset()
    finished = 0
    for _ in range(60):
        actions = np.array([np.flatnonzero(m)[0] if m.any() else 0 for m in obs["legal_mask"]],
                           dtype=np.int32)
        obs, reward, terminated, _, info = env.step(actions)
        done = terminated.copy()
        if not done.any():
            continue
        finished += int(done.sum())
        assert set(np.unique(reward[done])) <= {-1.0, 0.0, 1.0}
        assert not obs["legal_mask"][done].any()
        # The next step ignores the finished rows' actions (even out-of-range ones) and resets them.
        actions = np.where(done, 99, 0).astype(np.int32)
        actions[~done] = [np.flatnonzero(m)[0] for m in obs["legal_mask"][~done]]
        obs, reward, terminated, _, info = env.step(actions)
        assert (reward[done] == 0).all() and not terminated[done].any()
        assert not obs["board"][done].any() and (info["step"][done] == 0).all()
        assert obs["legal_mask"][done].all() and (info["winner"][done] == 0).all()
    assert finished > 10


def test_rewards_match_winner_and_terminal_boards() -> None:
    trace = play_random(make("ttt", num_envs=64, seed=2, starts="random"), 60, seed=0)
    for record in trace:
        winner, terminal, _ = board_status(record["board"])
        assert (record["winner"] == np.where(record["terminated"], winner, 0)).all()
        assert (record["terminated"] == terminal).all()
        expected = np.select([record["winner"] == 1, record["winner"] == 2], [1.0, -1.0], 0.0)
        assert (record["reward"] == np.where(record["terminated"], expected, 0.0)).all()


@pytest.mark.parametrize("illegal_action", ["random_move", "lose"])
def test_illegal_actions(illegal_action: str) -> None:
    env = make("ttt", num_envs=50, seed=4, starts="opponent", illegal_action=illegal_action)
    obs, info = env.reset()
    occupied = info["opponent_action"].copy()
    before = obs["board"].copy()
    obs, reward, terminated, _, info = env.step(occupied)
    assert info["invalid_action"].all()
    if illegal_action == "lose":
        assert terminated.all() and (reward == -1).all() and (info["winner"] == 2).all()
        assert (obs["board"] == before).all() and (info["executed_action"] == -1).all()
    else:
        executed = info["executed_action"]
        assert not terminated.any() and (before[np.arange(50), executed] == 0).all()
        assert (obs["board"][np.arange(50), executed] == 1).all()
        assert (obs["board"][np.arange(50), occupied] == 2).all()


def test_bad_input_raises_and_leaves_state_unchanged() -> None:
    env = make("ttt", num_envs=3, seed=5)
    with pytest.raises(RuntimeError, match="reset"):
        env.step([0, 1, 2])
    env.reset()
    env.step(np.array([0, 1, 2], dtype=np.int32))
    snapshot = {k: v.copy() for k, v in env.buffers.items()}
    bad_inputs = [
        (np.array([0, 1, 9], dtype=np.int32), ValueError, "action 9 at row 2 is out of range"),
        (np.array([0, -1, 3], dtype=np.int32), ValueError, "out of range"),
        (np.array([0, 1, 2], dtype=np.int64), ValueError, "actions must have dtype int32"),
        (np.array([0, 1], dtype=np.int32), ValueError, r"actions must have shape \(3,\)"),
        (np.arange(6, dtype=np.int32)[::2], ValueError, "C-contiguous"),
        ([0.5, 1, 2], TypeError, "integers"),
    ]
    for actions, error, message in bad_inputs:
        with pytest.raises(error, match=message):
            env.step(actions)
        for key, value in env.buffers.items():
            assert (value == snapshot[key]).all(), key
    # A rejected step changed nothing: the env continues exactly like an untouched twin.
    other = make("ttt", num_envs=3, seed=5)
    other.reset()
    other.step(np.array([0, 1, 2], dtype=np.int32))
    for cell in (4, 5, 6, 7):
        actions = np.full(3, cell, dtype=np.int32)
        env.step(actions)
        other.step(actions)
        for key in env.buffers:
            np.testing.assert_array_equal(env.buffers[key], other.buffers[key], err_msg=key)


@pytest.mark.parametrize("options, error, message", [
    ({"opponent": "alphazero"}, ValueError, "opponent must be one of"),
    ({"starts": "x"}, ValueError, "starts must be one of"),
    ({"illegal_action": "skip"}, ValueError, "illegal_action must be one of"),
    ({"noisy_base": "random"}, ValueError, "noisy_base must be one of"),
    ({"noise_prob": float("nan")}, ValueError, "noise_prob"),
    ({"noise_prob": 1.5}, ValueError, "noise_prob"),
    ({"mcts_simulations": 0}, ValueError, "mcts_simulations"),
    ({"mcts_simulations": 2**40}, ValueError, "mcts_simulations"),
    ({"mcts_simulations": 2.5}, TypeError, "mcts_simulations"),
    ({"mcts_exploration": -1.0}, ValueError, "mcts_exploration"),
    ({"board_size": 4}, TypeError, "board_size"),
])
def test_bad_config_raises(options: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        make("ttt", num_envs=2, **options)


def test_same_seed_same_games_across_batch_sizes_and_threads() -> None:
    def rows(num_envs: int, threads: int) -> list:
        env = make("ttt", num_envs=num_envs, seed=9, num_threads=threads, starts="random",
                   opponent="noisy", mcts_simulations=20)
        obs, _ = env.reset()
        out = []
        for t in range(30):
            actions = (np.arange(num_envs, dtype=np.int32) * 5 + t) % 9
            obs, reward, terminated, _, info = env.step(actions)
            out.append((obs["board"][:3].copy(), reward[:3].copy(),
                        info["executed_action"][:3].copy(), info["opponent_action"][:3].copy()))
        return out

    reference = rows(3, 1)
    for num_envs, threads in ((3, 2), (64, 1), (700, 2)):
        for got, want in zip(rows(num_envs, threads), reference):
            for a, b in zip(got, want):
                np.testing.assert_array_equal(a, b)


def test_reset_with_seed_replays() -> None:
    env = make("ttt", num_envs=5, seed=0, opponent="minimax", starts="random")
    first = play_random(env, 12, seed=1)
    second = play_random(env, 12, seed=1, reset_seed=0)  # reseeded: the same games again
    third = play_random(env, 12, seed=1)  # streams continue: other games
    assert any((a["board"] != c["board"]).any() for a, c in zip(first, third))
    for a, b in zip(first, second):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])


# --------------------------------------------------------------------------- twin


@pytest.mark.parametrize("options", [
    {"opponent": "random", "starts": "random", "illegal_action": "random_move"},
    {"opponent": "minimax", "starts": "agent", "illegal_action": "lose"},
    {"opponent": "noisy", "starts": "opponent", "illegal_action": "random_move"},
])
def test_env_matches_python_twin(options: dict) -> None:
    num_envs, seed = 16, 21
    core_options = dict(options)
    if options["opponent"] == "noisy":
        core_options["noisy_base"] = "minimax"  # the twin has no MCTS
    env = make("ttt", num_envs=num_envs, seed=seed, **core_options)
    twins = twin.VectorTwin(num_envs, seed, **options)
    obs, info = env.reset()
    rng = np.random.default_rng(0)
    for _ in range(80):
        for i, game in enumerate(twins.envs):
            assert list(obs["board"][i]) == game.board
            assert list(obs["legal_mask"][i]) == game.legal_mask()
            assert info["opponent_action"][i] == game.opponent_action
        actions = rng.integers(0, 9, size=num_envs, dtype=np.int32)  # illegal ones included
        obs, reward, terminated, _, info = env.step(actions)
        results = twins.step(actions)
        for i, game in enumerate(twins.envs):
            assert (reward[i], terminated[i]) == results[i]
            assert info["invalid_action"][i] == game.invalid
            assert info["executed_action"][i] == game.executed
            assert info["winner"][i] == game.winner and info["step"][i] == game.step_count


# --------------------------------------------------------------------------- OpenSpiel


def openspiel_states() -> list[tuple[list[int], int, list[int], bool, int, int]]:
    """Every reachable state of OpenSpiel's tic_tac_toe as (board with x = 1 and o = 2,
    player to move (1/2, 0 if over), legal moves, terminal, winner, game value for x)."""
    game = pyspiel.load_game("tic_tac_toe")
    values: dict[str, int] = {}
    states = []

    def visit(state: pyspiel.State) -> int:
        key = str(state)
        if key in values:
            return values[key]
        board = [{"x": 1, "o": 2, ".": 0}[ch] for ch in key.replace("\n", "")]
        x_return = int(state.returns()[0]) if state.is_terminal() else 0
        if state.is_terminal():
            value = x_return
        else:
            child_values = [visit(state.child(a)) for a in state.legal_actions()]
            value = max(child_values) if state.current_player() == 0 else min(child_values)
        winner = {1: 1, -1: 2, 0: 0}[x_return]
        to_move = 0 if state.is_terminal() else state.current_player() + 1
        legal = [] if state.is_terminal() else list(state.legal_actions())
        states.append((board, to_move, legal, state.is_terminal(), winner, value))
        values[key] = value
        return value

    visit(game.new_initial_state())
    return states


@pytest.fixture(scope="module")
def spiel_states() -> list:
    states = openspiel_states()
    assert len(states) == 5478  # the known number of legal positions
    return states


def relabel(board: list[int], swap: bool) -> list[int]:
    """x/o -> 1/2, or 2/1 when the opponent (2) moved first."""
    return [(3 - c if c else 0) for c in board] if swap else board


@pytest.mark.parametrize("swap", [False, True])
def test_rules_match_openspiel(spiel_states: list, swap: bool) -> None:
    boards = np.array([relabel(s[0], swap) for s in spiel_states], dtype=np.int8)
    winner, terminal, legal = board_status(boards)
    for row, (board, _, moves, is_terminal, spiel_winner, _) in enumerate(spiel_states):
        expected_winner = (3 - spiel_winner if spiel_winner and swap else spiel_winner)
        assert terminal[row] == is_terminal
        assert winner[row] == expected_winner
        assert list(np.flatnonzero(legal[row])) == moves
        twin_board = list(boards[row])
        assert twin.is_terminal(twin_board) == is_terminal
        assert twin.winner(twin_board) == expected_winner
        assert twin.legal_moves(twin_board) == moves


@pytest.mark.parametrize("swap", [False, True])
def test_minimax_matches_openspiel_values_and_never_loses(spiel_states: list, swap: bool) -> None:
    """From every non-terminal state, the minimax player keeps the game value computed from
    OpenSpiel's tree (so it never loses where the value allows a draw or a win)."""
    live = [s for s in spiel_states if not s[3]]
    value_of = {tuple(s[0]): s[5] for s in spiel_states}
    for mover_x in (1, 2):  # the states where x resp. o is to move
        rows = [s for s in live if s[1] == mover_x]
        boards = np.array([relabel(s[0], swap) for s in rows], dtype=np.int8)
        player = (3 - mover_x) if swap else mover_x
        sign = 1 if mover_x == 1 else -1  # OpenSpiel values are for x
        expected = np.array([sign * s[5] for s in rows], dtype=np.int8)
        np.testing.assert_array_equal(game_values(boards, player), expected)
        chooser = TicTacToeMoveChooser("minimax")
        for seed in range(4):  # several tie-breaks per state
            moves = chooser.choose(boards, player, seed)
            for (board, _, legal, _, _, value), move in zip(rows, moves):
                assert move in legal
                child = list(board)
                child[move] = mover_x
                assert value_of[tuple(child)] == value  # value kept: never a worse outcome


# --------------------------------------------------------------------------- move chooser


def test_move_chooser_is_deterministic_per_row() -> None:
    env = make("ttt", num_envs=40, seed=6, starts="random")
    trace = play_random(env, 3, seed=2)
    boards = np.concatenate([r["board"][~r["terminated"]] for r in trace])
    player = 2
    for kind, options in (("mcts", {"mcts_simulations": 50}), ("noisy", {"mcts_simulations": 50}),
                          ("random", {}), ("minimax", {})):
        full = TicTacToeMoveChooser(kind, **options).choose(boards, player, seed=7)
        threaded = TicTacToeMoveChooser(kind, num_threads=2, **options).choose(boards, player, 7)
        np.testing.assert_array_equal(full, threaded)
        head = TicTacToeMoveChooser(kind, **options).choose(boards[:5], player, seed=7)
        np.testing.assert_array_equal(full[:5], head)
        assert (boards[np.arange(len(boards)), full] == 0).all()
    out = np.full(len(boards), -1, dtype=np.int32)
    result = TicTacToeMoveChooser("minimax").choose(boards, 1, 3, out=out)
    assert result is out or np.shares_memory(result, out)
    assert (boards[np.arange(len(boards)), out] == 0).all()


def test_move_chooser_bad_input() -> None:
    chooser = TicTacToeMoveChooser("minimax")
    boards = np.zeros((2, 9), dtype=np.int8)
    cases = [
        ((boards, 3, 0), ValueError, "player must be 1 or 2"),
        ((boards, True, 0), ValueError, "player must be 1 or 2"),
        ((boards.astype(np.int32), 1, 0), ValueError, "boards must have dtype int8"),
        ((boards[:, :8].copy(), 1, 0), ValueError, "boards must have shape"),
        ((boards[0], 1, 0), ValueError, "2-D"),
        ((np.array([[0, 0, 0, 0, 5, 0, 0, 0, 0]], dtype=np.int8), 1, 0), ValueError,
         "row 0 cell 4"),
        ((["111220000"], 2, 0), ValueError, "finished game"),
        ((["12"], 2, 0), ValueError, "9 digits"),
        ((boards, 1, -1), ValueError, "seed"),
        ((boards, 1, 0.5), TypeError, "seed"),
    ]
    for args, error, message in cases:
        with pytest.raises(error, match=message):
            chooser.choose(*args)
    with pytest.raises(ValueError, match="out must have dtype int32"):
        chooser.choose(boards, 1, 0, out=np.zeros(2, dtype=np.int64))
    with pytest.raises(ValueError, match="opponent must be one of"):
        TicTacToeMoveChooser("perfect")


def test_board_string_helpers() -> None:
    boards = as_boards(["102000000", "000000012"])
    assert boards.dtype == np.int8 and boards.tolist()[0] == [1, 0, 2, 0, 0, 0, 0, 0, 0]
    assert board_strings(boards) == ["102000000", "000000012"]
    assert game_values(["000000000"], 1).tolist() == [0]
    assert game_values(["110220000"], 1).tolist() == [1]  # 1 completes the top row
    assert TicTacToeConfig().opponent == "random"
