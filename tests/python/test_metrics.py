"""Metrics against hand-computed numbers on tiny arrays, and against direct transcriptions of
their definitions on random arrays."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlft.analysis import metrics

# Three episodes, four rounds, three arms.
ACTIONS = np.array([[0, 1, 1, 2],
                    [2, 2, 2, 2],
                    [0, 1, 1, 0]])
REWARDS = np.array([[1.0, 2.0, 0.0, 5.0],
                    [0.0, 0.0, 0.0, 0.0],
                    [1.0, 2.0, 0.0, 5.0]])


def test_action_coverage_by_hand():
    coverage = metrics.action_coverage(ACTIONS, 3)
    np.testing.assert_allclose(coverage, [[1 / 3, 2 / 3, 2 / 3, 1.0],
                                          [1 / 3, 1 / 3, 1 / 3, 1 / 3],
                                          [1 / 3, 2 / 3, 2 / 3, 2 / 3]])


def test_suffix_failure_by_hand():
    # Best arms 1, 0, 0: episode 0 last picks arm 1 in round 3, episode 1 never picks arm 0,
    # episode 2 picks arm 0 in round 4.
    freq = metrics.suffix_failure_frequency(ACTIONS, np.array([1, 0, 0]), 3)
    np.testing.assert_allclose(freq, [1 / 3, 1 / 3, 1 / 3, 2 / 3])


def test_min_frac_by_hand():
    # Only episode 0 has tried every arm, at round 4: counts (1, 2, 1) -> 3 * 1/4.
    np.testing.assert_allclose(metrics.min_frac(ACTIONS, 3), [0, 0, 0, 0.75 / 3])
    uniform = np.array([[0, 1, 2, 0, 1, 2]])
    np.testing.assert_allclose(metrics.min_frac(uniform, 3)[[2, 5]], [1.0, 1.0])


def test_greedy_frac_by_hand():
    # Episode 0: round 2 picks untried arm 1 (not greedy); round 3 arm 1 (mean 2 > 1, greedy);
    # round 4 untried arm 2 (not greedy). Episode 1: always the only tried arm. Episode 2:
    # round 4 picks arm 0, tied best with arm 1 (both mean 1): greedy.
    np.testing.assert_allclose(metrics.greedy_frac(ACTIONS, REWARDS, 3), [1 / 3, 1.0, 2 / 3])


def test_regret_curve_t_interval_by_hand():
    mean, ci = metrics.regret_curve([[1.0, 2.0], [3.0, 6.0], [2.0, 4.0]])
    np.testing.assert_allclose(mean, [2.0, 4.0])
    # std (ddof 1) is 1 and 2; t_{0.975, 2} = 4.302652729911275
    np.testing.assert_allclose(ci, 4.302652729911275 * np.array([1.0, 2.0]) / math.sqrt(3))


def test_mean_ci95_single_value_has_nan_interval():
    mean, ci = metrics.mean_ci95([3.0])
    assert mean == 3.0 and math.isnan(ci)


def test_invalid_rate_with_mask():
    invalid = np.array([[True, False], [False, True]])
    valid = np.array([[True, True], [True, False]])
    assert metrics.invalid_rate(invalid, valid) == pytest.approx(1 / 3)
    assert metrics.invalid_rate(invalid) == 0.5
    assert metrics.invalid_rate(np.zeros((2, 0), bool)) == 0.0


def test_tic_tac_toe_summary_by_hand():
    summary = metrics.summarize_tic_tac_toe(returns=[1.0, 1.0, 0.0, -1.0], winner=[1, 1, 0, 2])
    assert summary["win_rate"] == 0.5 and summary["draw_rate"] == 0.25
    assert summary["loss_rate"] == 0.25 and summary["mean_return"] == 0.25
    assert summary["invalid_rate"] == 0.0
    with pytest.raises(ValueError, match="winner"):
        metrics.tic_tac_toe_outcomes([1, 3])


def test_summarize_bandit_by_hand():
    regret = np.array([[0.5, 1.0, 1.5, 1.5], [1.0, 2.0, 3.0, 4.0], [0.5, 0.5, 0.5, 1.0]])
    summary = metrics.summarize_bandit(ACTIONS, REWARDS, regret, 3, best_arm=[1, 0, 0])
    assert summary["final_regret"] == pytest.approx(6.5 / 3)
    sd = np.std([1.5, 4.0, 1.0], ddof=1)
    assert summary["final_regret_ci95"] == pytest.approx(4.302652729911275 * sd / math.sqrt(3))
    assert summary["coverage_final"] == pytest.approx((1 + 1 / 3 + 2 / 3) / 3)
    assert summary["invalid_rate"] == 0.0
    assert summary["greedy_frac"] == pytest.approx((1 / 3 + 1 + 2 / 3) / 3)
    assert summary["suffix_failure_half"] == pytest.approx(1 / 3)  # SuffFailFreq(T/2 = 2)
    assert summary["min_frac_final"] == pytest.approx(0.25)
    assert len(summary["regret_mean"]) == len(summary["coverage"]) == 4


@pytest.mark.parametrize("call, message", [
    (lambda: metrics.action_coverage([[0, 3]], 3), r"\[0, 3\)"),
    (lambda: metrics.action_coverage([0, 1], 3), "shape"),
    (lambda: metrics.action_coverage([[0.0, 1.0]], 3), "integers"),
    (lambda: metrics.suffix_failure_frequency(ACTIONS, [0, 1], 3), "best_arm"),
    (lambda: metrics.greedy_frac(ACTIONS, REWARDS[:, :2], 3), "rewards shape"),
    (lambda: metrics.summarize_bandit(ACTIONS, REWARDS, np.zeros((3, 2)), 3), "cumulative_regret"),
    (lambda: metrics.invalid_rate(np.zeros((2, 2), bool), np.ones((2, 3), bool)), "valid shape"),
])
def test_bad_input_raises_naming_the_problem(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def _greedy_frac_reference(actions, rewards, num_actions):
    """The definition, one round at a time."""
    result = []
    for acts, rews in zip(actions, rewards):
        greedy = []
        for t in range(1, len(acts)):
            means = {a: np.mean(rews[:t][acts[:t] == a]) for a in set(acts[:t].tolist())}
            greedy.append(acts[t] in means and means[acts[t]] == max(means.values()))
        result.append(np.mean(greedy))
    return np.array(result)


episodes = st.integers(1, 4).flatmap(lambda n: st.integers(2, 9).flatmap(lambda t: st.tuples(
    st.integers(1, 4), st.just(n), st.just(t), st.integers(0, 2**32 - 1))))


@settings(max_examples=60, deadline=None)
@given(episodes)
def test_metrics_match_definitions_on_random_episodes(case):
    num_actions, n, t, seed = case
    rng = np.random.default_rng(seed)
    actions = rng.integers(0, num_actions, size=(n, t))
    rewards = rng.integers(0, 3, size=(n, t)).astype(float)  # small integers: many ties
    np.testing.assert_allclose(metrics.greedy_frac(actions, rewards, num_actions),
                               _greedy_frac_reference(actions, rewards, num_actions))
    coverage = metrics.action_coverage(actions, num_actions)
    assert np.all(np.diff(coverage, axis=1) >= 0) and np.all(coverage >= 1 / num_actions)
    best = rng.integers(0, num_actions, size=n)
    suffix = metrics.suffix_failure_frequency(actions, best, num_actions)
    expected = [np.mean([best[i] not in actions[i, s:] for i in range(n)]) for s in range(t)]
    np.testing.assert_allclose(suffix, expected)
    expected_min = [np.mean([num_actions * min(np.sum(actions[i, :s + 1] == a)
                                               for a in range(num_actions)) / (s + 1)
                             for i in range(n)]) for s in range(t)]
    np.testing.assert_allclose(metrics.min_frac(actions, num_actions), expected_min)


def test_action_coverage_counts_only_the_counted_steps():
    from rlft.analysis.metrics import action_coverage

    coverage = action_coverage([[0, 1, 1, 2]], 3, counted=[[True, False, True, False]])
    np.testing.assert_allclose(coverage, [[1 / 3, 1 / 3, 2 / 3, 2 / 3]])
    with pytest.raises(ValueError, match="counted shape"):
        action_coverage([[0, 1]], 3, counted=[[True]])
