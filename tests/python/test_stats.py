"""Confidence intervals of evaluation results against numbers computed by hand."""

import math

import numpy as np
import pytest

from rlft.analysis.stats import mean_ci95, paired_difference

# Two-sided 95% Student-t critical values from the tables.
T_975 = {2: 4.302652729911275, 3: 3.182446305284263, 9: 2.262157162798205}


def test_mean_ci95_is_a_t_interval_over_instances():
    mean, half = mean_ci95([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5
    assert half == pytest.approx(T_975[3] * np.std([1, 2, 3, 4], ddof=1) / 2)
    mean, half = mean_ci95(np.array([[1.0, 2.0], [3.0, 6.0], [2.0, 4.0]]), axis=0)
    np.testing.assert_allclose(half, T_975[2] * np.array([1.0, 2.0]) / math.sqrt(3))
    assert math.isnan(mean_ci95([3.0])[1])
    with pytest.raises(ValueError, match="at least one"):
        mean_ci95([])


def test_paired_difference_removes_the_instances_own_spread():
    # Instances differ a lot (0..9) but the policy after is better by 1 +- 0.1 on each:
    # the paired interval is tight and excludes 0; independent intervals would overlap.
    before = np.arange(10.0)
    noise = np.array([0.1, -0.1] * 5)
    after = before - 1.0 + noise
    paired = paired_difference(after, before)
    assert paired.mean == pytest.approx(-1.0)
    half = T_975[9] * np.std(noise, ddof=1) / math.sqrt(10)
    assert (paired.low, paired.high) == pytest.approx((-1.0 - half, -1.0 + half))
    assert paired.excludes_zero and paired.instances == 10
    _, half_after = mean_ci95(after)
    _, half_before = mean_ci95(before)
    assert after.mean() + half_after > before.mean() - half_before  # the unpaired CIs overlap
    assert paired.to_dict()["excludes_zero"] is True
    assert paired.describe() == f"-1.00 (95% CI {paired.low:.2f} to {paired.high:.2f})"


def test_paired_difference_of_noise_includes_zero():
    rng = np.random.default_rng(0)
    values = rng.normal(size=200)
    assert not paired_difference(values, values[::-1]).excludes_zero
    assert paired_difference(values, values).to_dict()["mean"] == 0.0


@pytest.mark.parametrize("after, before, message", [
    ([1.0, 2.0], [1.0], "equal 1-d shapes"),
    ([[1.0, 2.0]], [[1.0, 2.0]], "equal 1-d shapes"),
    ([1.0], [2.0], "at least 2 instances"),
])
def test_paired_difference_rejects_bad_input(after, before, message):
    with pytest.raises(ValueError, match=message):
        paired_difference(after, before)
