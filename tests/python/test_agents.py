"""Classic agents: decisions on hand-made observations, regret on the real bandit env against
an independent numpy simulation, determinism, and the registry."""

import math

import numpy as np
import pytest

from rlft.agents import (GreedyAgent, LinUCBAgent, RandomAgent, ThompsonAgent, known_agents,
                         make_agent, run_episodes)
from rlft.analysis import summarize_bandit, summarize_tic_tac_toe
from rlft.envs import make


def bandit_obs(counts, sums):
    counts = np.atleast_2d(np.asarray(counts, dtype=np.int32))
    return {"counts": counts, "reward_sums": np.atleast_2d(np.asarray(sums, dtype=np.float32)),
            "step": counts.sum(axis=1).astype(np.int32)}


def choices(agent, obs, num_seeds=200):
    """Actions of row 0 over many seeds."""
    picks = []
    for seed in range(num_seeds):
        agent.reset(obs["counts"].shape[0], obs["counts"].shape[1], seed)
        picks.append(int(agent.act(obs, {})[0]))
    return np.bincount(picks, minlength=obs["counts"].shape[1])


# ---------------------------------------------------------------- decisions by hand

def test_ucb_tries_untried_arms_first_uniformly():
    counts = choices(make_agent("ucb"), bandit_obs([3, 0, 1, 0], [9.0, 0.0, 5.0, 0.0]))
    assert counts[0] == counts[2] == 0 and counts[1] > 60 and counts[3] > 60


def test_ucb_breaks_index_ties_at_random():
    # Indices: 0.5 + 1 = 1.5, 0.2 + 1 = 1.2, 4/4 + sqrt(1/4) = 1.5: arms 0 and 2 tie.
    counts = choices(make_agent("ucb"), bandit_obs([1, 1, 4], [0.5, 0.2, 4.0]))
    assert counts[1] == 0 and counts[0] > 60 and counts[2] > 60


def test_ucb1_index_by_hand():
    # t = 6: 0 + sqrt(2 ln6) = 1.89, 0.9 + sqrt(ln6) = 2.24, 0.9 + sqrt(2 ln6 / 3) = 1.99
    assert choices(make_agent("ucb1"), bandit_obs([1, 2, 3], [0.0, 1.8, 2.7]), 20)[1] == 20
    # A smaller constant favours the empirical mean: 0.9 + 0.1 * ... for arms 1 and 2 vs 0.19
    c_small = make_agent("ucb1", c=0.1)
    assert choices(c_small, bandit_obs([1, 2, 3], [0.0, 1.8, 2.7 + 0.3]), 20)[2] == 20


def test_greedy_untried_value_rule():
    obs = bandit_obs([2, 0, 1], [-1.0, 0.0, -0.5])  # means -0.5, untried, -0.5
    assert choices(make_agent("greedy"), obs, 20)[1] == 20  # untried arm counts as 0
    only_tried = choices(GreedyAgent(untried_value=None), obs)
    assert only_tried[1] == 0 and only_tried[0] > 60 and only_tried[2] > 60
    first = choices(GreedyAgent(untried_value=None), bandit_obs([0, 0, 0], [0, 0, 0]))
    assert np.all(first > 40)  # before any pull every arm is a candidate


def test_epsilon_greedy_extremes():
    obs = bandit_obs([1, 1, 1, 1], [0.0, 3.0, 1.0, 2.0])
    assert choices(make_agent("epsilon_greedy", epsilon=0.0), obs, 30)[1] == 30
    spread = choices(make_agent("epsilon_greedy", epsilon=1.0), obs, 400)
    assert np.all(spread > 60)


def test_random_respects_legal_mask():
    agent = RandomAgent()
    agent.reset(64, 9, seed=3)
    legal = np.zeros((64, 9), bool)
    legal[:, [2, 5, 7]] = True
    legal[0] = False
    legal[0, 4] = True
    actions = agent.act({"legal_mask": legal, "board": np.zeros((64, 9), np.int8)}, {})
    assert actions[0] == 4 and set(actions[1:].tolist()) == {2, 5, 7}


def test_thompson_concentrates_on_a_clear_winner():
    obs = bandit_obs([400, 400, 400], [0.0, 400.0, 200.0])  # means 0, 1, 0.5
    assert choices(ThompsonAgent(), obs, 30)[1] == 30
    assert choices(ThompsonAgent(family="bernoulli"), obs, 30)[1] == 30


def test_thompson_bernoulli_rejects_rewards_outside_unit_interval():
    agent = ThompsonAgent(family="bernoulli")
    agent.reset(1, 2, 0)
    with pytest.raises(ValueError, match="rewards in \\[0, 1\\]"):
        agent.act(bandit_obs([2, 1], [3.0, 0.0]), {})


def test_agents_never_read_info():
    """Hidden info is not consulted: an empty info gives the same actions."""
    obs = bandit_obs([[1, 2, 0], [3, 1, 1]], [[0.5, 1.0, 0.0], [0.3, 0.9, -1.0]])
    hidden = {"arm_means": np.ones((2, 3), np.float32), "optimal_arm": np.array([2, 2], np.int32)}
    for name in ("random", "greedy", "epsilon_greedy", "ucb", "ucb1", "thompson"):
        a, b = make_agent(name), make_agent(name)
        a.reset(2, 3, 7)
        b.reset(2, 3, 7)
        np.testing.assert_array_equal(a.act(obs, hidden), b.act(obs, {}))


def test_rows_do_not_depend_on_batch_size():
    small = bandit_obs([[1, 0, 2], [0, 0, 0]], [[0.4, 0.0, 1.0], [0.0, 0.0, 0.0]])
    big = bandit_obs([[1, 0, 2], [0, 0, 0], [5, 5, 5], [1, 1, 1]],
                     [[0.4, 0.0, 1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    for name in ("random", "epsilon_greedy", "ucb", "thompson"):
        a, b = make_agent(name), make_agent(name)
        a.reset(2, 3, 11)
        b.reset(4, 3, 11)
        for _ in range(5):
            np.testing.assert_array_equal(a.act(small, {}), b.act(big, {})[:2])


# ---------------------------------------------------------------- bad input

def test_registry_names_and_errors():
    assert set(known_agents()) >= {"random", "greedy", "epsilon_greedy", "ucb", "ucb1",
                                   "thompson", "linucb", "minimax", "mcts"}
    with pytest.raises(ValueError, match="known agents.*ucb1"):
        make_agent("ucb2")
    with pytest.raises(TypeError, match="agent 'ucb'"):
        make_agent("ucb", alpha=1.0)
    with pytest.raises(ValueError, match="epsilon"):
        make_agent("epsilon_greedy", epsilon=1.5)
    with pytest.raises(ValueError, match="family"):
        make_agent("thompson", family="poisson")
    with pytest.raises(ValueError, match="noise_std"):
        make_agent("thompson", noise_std=0.0)


def test_bad_calls_raise_clear_errors():
    agent = make_agent("ucb")
    with pytest.raises(RuntimeError, match="reset"):
        agent.act(bandit_obs([0, 0], [0, 0]), {})
    with pytest.raises(ValueError, match="num_actions"):
        agent.reset(2, 0, 0)
    with pytest.raises(TypeError, match="seed"):
        agent.reset(2, 2, 1.5)
    agent.reset(1, 3, 0)
    with pytest.raises(ValueError, match="'counts' has shape"):
        agent.act(bandit_obs([0, 0], [0, 0]), {})
    with pytest.raises(ValueError, match="needs observation 'reward_sums'"):
        agent.act({"counts": np.zeros((1, 3), np.int32)}, {})


# ---------------------------------------------------------------- LinUCB

def linucb_scores(history, x, num_arms, alpha):
    """Direct LinUCB: A_a = I + sum x x^T, b_a = sum r x, p = theta.x + alpha sqrt(x A^-1 x)."""
    dim = len(x)
    scores = []
    for arm in range(num_arms):
        a = np.eye(dim)
        b = np.zeros(dim)
        for context, chosen, reward in history:
            if chosen == arm:
                a += np.outer(context, context)
                b += reward * context
        a_inv = np.linalg.inv(a)
        scores.append(a_inv @ b @ x + alpha * math.sqrt(x @ a_inv @ x))
    return np.array(scores)


def test_linucb_matches_direct_computation():
    rng = np.random.default_rng(0)
    agent = LinUCBAgent(alpha=0.5)
    agent.reset(1, 3, seed=0)
    history = []
    for step in range(30):
        x = rng.normal(size=4)
        obs = {"context": x[None].astype(np.float32), "step": np.array([step], np.int32)}
        action = agent.act(obs, {})
        expected = linucb_scores(history, x.astype(np.float32).astype(np.float64), 3, 0.5)
        if step >= 3:  # early steps may tie (all zero means, equal widths)
            assert action[0] == int(np.argmax(expected))
        reward = float(rng.normal())
        history.append((x.astype(np.float32).astype(np.float64), int(action[0]), reward))
        agent.observe(action, np.array([reward], np.float32),
                      {"context": x[None].astype(np.float32),
                       "step": np.array([step + 1], np.int32)}, {})


def test_linucb_forgets_at_a_new_episode():
    agent = LinUCBAgent()
    agent.reset(2, 2, seed=0)
    x = np.ones((2, 3), np.float32)
    agent.act({"context": x, "step": np.array([0, 0], np.int32)}, {})
    agent.observe(np.array([0, 1], np.int32), np.array([5.0, 5.0], np.float32),
                  {"context": x, "step": np.array([1, 0], np.int32)}, {})  # row 1 autoreset
    assert agent.b[0, 0].sum() == pytest.approx(15.0) and np.all(agent.b[1] == 0)
    agent.act({"context": x, "step": np.array([0, 1], np.int32)}, {})  # row 0 starts anew
    assert np.all(agent.b[0] == 0) and np.allclose(agent.a_inv[0], np.eye(3))


# ---------------------------------------------------------------- against the real env

K, T, NUM_INSTANCES = 10, 50, 1000


def simulate(policy, num_instances, seed):
    """Independent plain-numpy simulation of the default Gaussian bandit (mu ~ U(0, 1),
    sigma 1, K = 10, T = 50); returns the final pseudo-regret of every instance."""
    rng = np.random.default_rng(seed)
    means = rng.random((num_instances, K))
    counts = np.zeros((num_instances, K))
    sums = np.zeros((num_instances, K))
    regret = np.zeros(num_instances)
    rows = np.arange(num_instances)
    for _ in range(T):
        if policy == "random":
            arms = rng.integers(0, K, num_instances)
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                index = np.where(counts > 0, sums / counts + np.sqrt(1 / counts), np.inf)
            ties = index == index.max(axis=1, keepdims=True)
            arms = np.argmax(np.where(ties, rng.random(index.shape), -1), axis=1)
        regret += means.max(axis=1) - means[rows, arms]
        counts[rows, arms] += 1
        sums[rows, arms] += means[rows, arms] + rng.normal(size=num_instances)
    return regret


def env_regret(agent_name, num_instances=NUM_INSTANCES, seed=0, **env_options):
    env = make("mab", num_envs=num_instances // 2, seed=seed, num_arms=K, horizon=T,
               **env_options)
    rollout = run_episodes(env, make_agent(agent_name), num_episodes=2, seed=seed)
    return rollout, rollout.cumulative_regret[:, -1].astype(np.float64)


@pytest.mark.parametrize("agent_name", ["random", "ucb"])
def test_regret_agrees_with_independent_simulation(agent_name):
    _, ours = env_regret(agent_name)
    theirs = simulate(agent_name, NUM_INSTANCES, seed=123)
    stderr = math.sqrt(ours.var(ddof=1) / ours.size + theirs.var(ddof=1) / theirs.size)
    assert abs(ours.mean() - theirs.mean()) < 4 * stderr, (ours.mean(), theirs.mean())
    if agent_name == "random":  # E[max of K uniforms] - 1/2 per step
        assert ours.mean() == pytest.approx(T * (K / (K + 1) - 0.5), abs=4 * stderr)


def test_ucb_and_thompson_beat_random_clearly():
    _, random_regret = env_regret("random", 400)
    _, ucb_regret = env_regret("ucb", 400)
    _, thompson_regret = env_regret("thompson", 400)
    assert ucb_regret.mean() < 0.75 * random_regret.mean()
    assert thompson_regret.mean() < 0.85 * random_regret.mean()


def test_bernoulli_thompson_beats_random():
    env_options = {"reward_type": "bernoulli", "noise": "low"}
    _, random_regret = env_regret("random", 400, **env_options)
    env = make("mab", num_envs=200, seed=0, num_arms=K, horizon=T, **env_options)
    rollout = run_episodes(env, make_agent("thompson", family="bernoulli"), 2, seed=0)
    assert rollout.cumulative_regret[:, -1].mean() < 0.8 * random_regret.mean()


def test_rollout_records_and_summary():
    rollout, final = env_regret("ucb", 8)
    assert rollout.actions.shape == (8, T) and rollout.valid.all()
    assert np.all(rollout.lengths == T) and rollout.num_actions == K
    # UCB tries every arm in the first K steps.
    assert all(sorted(row[:K].tolist()) == list(range(K)) for row in rollout.actions)
    summary = summarize_bandit(rollout.actions, rollout.rewards, rollout.cumulative_regret,
                               rollout.num_actions, best_arm=rollout.best_arm)
    assert summary["coverage_final"] == 1.0
    assert summary["final_regret"] == pytest.approx(final.mean())
    np.testing.assert_allclose(rollout.returns, rollout.rewards.sum(axis=1), rtol=1e-5)


def test_rollout_replays_pool_instances_and_checks_arguments():
    env = make("mab", num_envs=8, seed=0, num_arms=4, horizon=5, pooled=True, split="eval",
               eval_pool_size=8)
    rollout = run_episodes(env, make_agent("random"), num_episodes=3, seed=1,
                           reset_options={"task_ids": env.eval_task_ids()})
    best = rollout.best_arm.reshape(3, 8)
    assert np.all(best == best[0]) and not np.all(rollout.actions[:8] == rollout.actions[8:16])
    with pytest.raises(ValueError, match="num_episodes"):
        run_episodes(env, make_agent("random"), num_episodes=0)
    with pytest.raises(RuntimeError, match="max_steps=3"):
        run_episodes(env, make_agent("random"), max_steps=3)


def test_rollouts_do_not_depend_on_batch_size():
    for name in ("random", "epsilon_greedy", "ucb", "thompson"):
        records = [run_episodes(make("mab", num_envs=num_envs, seed=5, num_arms=4, horizon=12),
                                make_agent(name), num_episodes=2, seed=9)
                   for num_envs in (3, 8)]
        small, big = records
        for episode in range(2):
            rows_small = slice(episode * 3, episode * 3 + 3)
            rows_big = slice(episode * 8, episode * 8 + 3)
            np.testing.assert_array_equal(small.actions[rows_small], big.actions[rows_big])
            np.testing.assert_array_equal(small.rewards[rows_small], big.rewards[rows_big])


# ---------------------------------------------------------------- tic-tac-toe

def play_tic_tac_toe(agent_name, opponent="random", num_envs=100, seed=0, **config):
    env = make("tictactoe", num_envs=num_envs, seed=seed, opponent=opponent, **config)
    rollout = run_episodes(env, make_agent(agent_name), num_episodes=2, seed=seed)
    return rollout, summarize_tic_tac_toe(rollout.returns, rollout.winner, rollout.invalid,
                                          rollout.valid)


@pytest.mark.parametrize("opponent", ["random", "mcts"])
def test_minimax_never_loses(opponent):
    rollout, summary = play_tic_tac_toe("minimax", opponent, starts="random")
    assert summary["loss_rate"] == 0.0 and summary["invalid_rate"] == 0.0
    if opponent == "random":
        assert summary["win_rate"] > 0.85


def test_mcts_beats_random():
    _, summary = play_tic_tac_toe("mcts", "random", starts="random")
    assert summary["win_rate"] > 0.8 and summary["loss_rate"] < 0.05
    assert summary["mean_return"] > 0.75


def test_random_player_plays_legal_moves_and_games_are_recorded():
    rollout, summary = play_tic_tac_toe("random", "random")
    assert summary["invalid_rate"] == 0.0
    assert np.all((rollout.lengths >= 3) & (rollout.lengths <= 5))  # the agent moves first
    assert np.all(rollout.valid.sum(axis=1) == rollout.lengths)
    np.testing.assert_array_equal(rollout.returns, np.select(
        [rollout.winner == 1, rollout.winner == 2], [1.0, -1.0], 0.0))
    # Random against random: the first player wins more often than it loses.
    assert summary["win_rate"] > summary["loss_rate"]


@pytest.mark.parametrize("agent_name", ["minimax", "mcts", "random"])
def test_tic_tac_toe_rows_do_not_depend_on_batch_size(agent_name):
    small, _ = play_tic_tac_toe(agent_name, "mcts", num_envs=3, seed=4, mcts_simulations=50)
    big, _ = play_tic_tac_toe(agent_name, "mcts", num_envs=7, seed=4, mcts_simulations=50)
    for episode in range(2):
        rows_small = slice(episode * 3, episode * 3 + 3)
        rows_big = slice(episode * 7, episode * 7 + 3)
        horizon = small.actions.shape[1]
        np.testing.assert_array_equal(small.actions[rows_small],
                                      big.actions[rows_big, :horizon])
        np.testing.assert_array_equal(small.winner[rows_small], big.winner[rows_big])


def test_search_agents_check_their_input():
    with pytest.raises(ValueError, match="mcts_simulations"):
        make_agent("mcts", mcts_simulations=0)
    agent = make_agent("minimax")
    with pytest.raises(ValueError, match="num_actions = 9"):
        agent.reset(2, 10, 0)
    agent.reset(2, 9, 0)
    with pytest.raises(ValueError, match="'board' has shape"):
        agent.act({"board": np.zeros((3, 9), np.int8), "legal_mask": np.ones((3, 9), bool)}, {})


# ---------------------------------------------------------------- contextual bandit

def test_linucb_beats_random_on_the_contextual_bandit():
    finals = {}
    for name in ("random", "linucb"):
        env = make("contextual_bandit", num_envs=100, seed=0, num_arms=10, split="eval")
        rollout = run_episodes(env, make_agent(name), num_episodes=2, seed=0)
        summary = summarize_bandit(rollout.actions, rollout.rewards, rollout.cumulative_regret,
                                   rollout.num_actions)
        finals[name] = (summary["final_regret"], summary["final_regret_ci95"])
    (linucb, linucb_ci), (random, random_ci) = finals["linucb"], finals["random"]
    assert linucb + linucb_ci < random - random_ci and linucb < 0.9 * random


def test_linucb_rows_do_not_depend_on_batch_size():
    small, big = [run_episodes(make("contextual_bandit", num_envs=num_envs, seed=2, num_arms=5,
                                    horizon=20), make_agent("linucb"), num_episodes=2, seed=3)
                  for num_envs in (2, 5)]
    for episode in range(2):
        np.testing.assert_array_equal(small.actions[episode * 2:episode * 2 + 2],
                                      big.actions[episode * 5:episode * 5 + 2])
