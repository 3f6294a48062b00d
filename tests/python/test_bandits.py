"""Multi-armed bandit: the API contract, batch/thread independence, reward statistics,
pool mode, bad input, and exact agreement with the pure-Python twin."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rlft import _core
from rlft.envs import make, registered
from rlft.envs.bandits import MultiArmedBanditConfig, MultiArmedBanditEnv
from twins.bandit_twins import MabInstance, MabParams, VectorTwin, ziggurat_normal

OBS = {"step": (np.int32, ()), "counts": (np.int32, ("K",)),
       "reward_sums": (np.float32, ("K",)), "last_action": (np.int32, ()),
       "last_reward": (np.float32, ())}
INFO = {"arm_means": (np.float32, ("K",)), "optimal_arm": (np.int32, ()),
        "regret": (np.float32, ()), "task_id": (np.int64, ())}


def test_make_and_aliases():
    env = make("mab", num_envs=64, seed=0, num_arms=10, noise="medium")
    assert isinstance(env, MultiArmedBanditEnv)
    assert env.num_envs == 64 and env.num_actions == 10
    for alias in ("multi_armed_bandit", "bandit"):
        assert registered()[alias].env_class is MultiArmedBanditEnv


def test_buffer_shapes_dtypes_and_first_observation():
    env = make("mab", num_envs=3, seed=1, num_arms=4)
    obs, info = env.reset()
    for spec, source in ((OBS, obs), (INFO, info)):
        assert set(spec) <= set(source)
        for name, (dtype, tail) in spec.items():
            assert source[name].dtype == dtype, name
            assert source[name].shape == (3, *(4 for _ in tail)), name
    assert set(obs) == set(OBS)
    assert (obs["step"] == 0).all() and (obs["last_action"] == -1).all()
    assert (obs["counts"] == 0).all() and (info["task_id"] == -1).all()
    assert (info["optimal_arm"] == info["arm_means"].argmax(axis=1)).all()
    assert env.observation_space["counts"].shape == (3, 4)


def test_step_returns_and_bookkeeping():
    env = make("mab", num_envs=2, seed=2, num_arms=3, horizon=4)
    obs, info = env.reset()
    means = info["arm_means"].astype(np.float64).copy()
    sums = np.zeros((2, 3))
    regret = np.zeros(2)
    for t, a in enumerate([0, 2, 2, 1]):
        actions = np.array([a, 1], dtype=np.int32)
        obs, reward, terminated, truncated, info = env.step(actions)
        sums[[0, 1], actions] += reward
        regret += means.max(axis=1) - means[[0, 1], actions]
        assert reward.dtype == np.float32 and terminated.dtype == np.bool_
        assert (obs["step"] == t + 1).all()
        assert (obs["last_action"] == actions).all()
        assert (obs["last_reward"] == reward).all()
        assert (terminated == (t == 3)).all() and not truncated.any()
    assert obs["counts"].tolist() == [[1, 1, 2], [0, 4, 0]]
    np.testing.assert_allclose(obs["reward_sums"], sums, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(info["regret"], regret, rtol=1e-5, atol=1e-6)


def test_next_step_autoreset_ignores_action():
    env = make("mab", num_envs=2, seed=3, num_arms=3, horizon=2)
    env.reset()
    env.step(np.zeros(2, np.int32))
    _, _, terminated, _, info = env.step(np.zeros(2, np.int32))
    assert terminated.all()
    old_means = info["arm_means"].copy()
    # Out-of-range actions are fine here: every row is resetting and ignores its action.
    obs, reward, terminated, truncated, info = env.step(np.array([99, -1], np.int32))
    assert (reward == 0).all() and not terminated.any() and not truncated.any()
    assert (obs["step"] == 0).all() and (obs["counts"] == 0).all()
    assert (obs["last_action"] == -1).all() and (info["regret"] == 0).all()
    assert not np.array_equal(info["arm_means"], old_means)


def test_list_actions_are_accepted():
    env = make("mab", num_envs=2, seed=0, num_arms=3)
    env.reset()
    obs, *_ = env.step([0, 2])
    assert obs["last_action"].tolist() == [0, 2]


@pytest.mark.parametrize("actions, error, words", [
    (np.zeros(4, np.int64), ValueError, "dtype int32"),
    (np.zeros(5, np.int32), ValueError, "shape"),
    (np.zeros((4, 1), np.int32), ValueError, "shape"),
    (np.zeros(8, np.int32)[::2], ValueError, "C-contiguous"),
    (np.array([0, 1, 2, 3], np.int32), ValueError, "out of range"),
    (np.array([0, -1, 0, 0], np.int32), ValueError, "out of range"),
    ([0.5, 1.0, 0.0, 0.0], TypeError, "integers"),
    ("0123", TypeError, "integers"),
])
def test_bad_actions_raise_and_leave_state_unchanged(actions, error, words):
    env = make("mab", num_envs=4, seed=5, num_arms=3)
    env.reset()
    env.step(np.array([0, 1, 2, 0], np.int32))
    before = {k: v.copy() for k, v in env.buffers.items()}
    with pytest.raises(error, match=words):
        env.step(actions)
    for name, value in env.buffers.items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)
    # The rejected call drew nothing: the next good step matches an env that never saw it.
    twin = make("mab", num_envs=4, seed=5, num_arms=3)
    twin.reset()
    twin.step(np.array([0, 1, 2, 0], np.int32))
    good = np.array([2, 2, 1, 0], np.int32)
    np.testing.assert_array_equal(env.step(good)[1], twin.step(good)[1])


def test_step_before_reset_and_bad_reset_options():
    env = make("mab", num_envs=2, seed=0)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(2, np.int32))
    with pytest.raises(ValueError, match="unknown reset option"):
        env.reset(options={"bogus": 1})
    with pytest.raises(ValueError, match="task_ids"):
        env.reset(options={"task_ids": np.array([0, -5], np.int64)})
    with pytest.raises(ValueError, match="task_ids"):
        env.reset(options={"task_ids": np.zeros(3, np.int64)})
    with pytest.raises(TypeError, match="seed"):
        env.reset(seed=1.5)


@pytest.mark.parametrize("options, error, words", [
    ({"num_arms": 1}, ValueError, "num_arms"),
    ({"num_arms": True}, TypeError, "num_arms"),
    ({"num_arms": 2.0}, TypeError, "num_arms"),
    ({"horizon": 0}, ValueError, "horizon"),
    ({"sigma": float("nan")}, ValueError, "sigma"),
    ({"sigma": -1.0}, ValueError, "sigma"),
    ({"gap": 1.5}, ValueError, "gap"),
    ({"gap": float("inf")}, ValueError, "gap"),
    ({"mean_low": 2.0}, ValueError, "mean_low"),
    ({"mean_high": float("nan")}, ValueError, "mean_high"),
    ({"mean_scale": -1.0}, ValueError, "mean_scale"),
    ({"noise": "extreme"}, ValueError, "noise"),
    ({"reward_type": "poisson"}, ValueError, "reward_type"),
    ({"split": "test"}, ValueError, "split"),
    ({"pool_size": 0}, ValueError, "pool_size"),
    ({"task_seed": -1}, ValueError, "task_seed"),
    ({"num_arms_typo": 3}, TypeError, "num_arms_typo"),
])
def test_bad_config_raises_naming_the_field(options, error, words):
    with pytest.raises(error, match=words):
        make("mab", num_envs=2, seed=0, **options)


def test_bad_env_arguments():
    with pytest.raises(ValueError, match="num_envs"):
        make("mab", num_envs=0)
    with pytest.raises(ValueError, match="num_threads"):
        make("mab", num_envs=2, num_threads=0)
    with pytest.raises(TypeError, match="seed"):
        make("mab", num_envs=2, seed="x")
    with pytest.raises(ValueError, match="unknown env"):
        make("mab_typo")


def _rollout(num_envs, seed, threads, steps=120, rows=None, **config):
    env = make("mab", num_envs=num_envs, seed=seed, num_threads=threads, **config)
    env.reset()
    rows = rows or num_envs
    actions = np.zeros(num_envs, np.int32)
    out = []
    for t in range(steps):
        actions[:] = (np.arange(num_envs) * 3 + t) % env.num_actions
        obs, reward, terminated, _, info = env.step(actions)
        out.append((reward[:rows].copy(), obs["reward_sums"][:rows].copy(),
                    info["regret"][:rows].copy(), info["arm_means"][:rows].copy()))
    return out


@pytest.mark.parametrize("config", [{"num_arms": 5, "horizon": 7},
                                    {"num_arms": 3, "reward_type": "bernoulli", "horizon": 9},
                                    {"num_arms": 4, "pooled": True, "pool_size": 16}])
def test_same_results_across_batch_sizes_and_threads(config):
    single = _rollout(1, 42, 1, **config)
    b64 = _rollout(64, 42, 1, **config)
    b1000 = _rollout(1000, 42, 1, rows=64, **config)
    b1000_threads = _rollout(1000, 42, 3, rows=64, **config)
    for t in range(len(single)):
        for part in range(4):
            np.testing.assert_array_equal(single[t][part][0], b64[t][part][0])
            np.testing.assert_array_equal(b64[t][part], b1000[t][part])
            np.testing.assert_array_equal(b64[t][part], b1000_threads[t][part])


def test_reseeding_reproduces_and_seeds_differ():
    env = make("mab", num_envs=8, seed=9, num_arms=5)
    first = env.reset(seed=123)[1]["arm_means"].copy()
    a = env.step(np.ones(8, np.int32))[1].copy()
    again = env.reset(seed=123)[1]["arm_means"].copy()
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(a, env.step(np.ones(8, np.int32))[1])
    assert not np.array_equal(first, env.reset(seed=124)[1]["arm_means"])


@pytest.mark.parametrize("noise, sigma", [("low", 0.1), ("medium", 1.0), ("high", 3.0)])
def test_gaussian_reward_mean_and_spread(noise, sigma):
    env = make("mab", num_envs=500, seed=7, num_arms=5, noise=noise, horizon=10_000)
    _, info = env.reset()
    means = info["arm_means"][np.arange(500), np.arange(500) % 5].astype(np.float64)
    actions = (np.arange(500) % 5).astype(np.int32)
    residuals = np.stack([env.step(actions)[1] - means for _ in range(40)])  # 20000 draws
    n = residuals.size
    assert abs(residuals.mean()) < 5 * sigma / math.sqrt(n)
    assert residuals.std() == pytest.approx(sigma, rel=0.03)
    # Gaussian shape: about 4.55% of draws beyond 2 sigma.
    assert abs(np.mean(np.abs(residuals) > 2 * sigma) - 0.0455) < 0.006


def test_arm_means_distributions():
    uniform = make("mab", num_envs=2000, seed=1, num_arms=10).reset()[1]["arm_means"]
    assert uniform.min() >= 0.0 and uniform.max() < 1.0
    assert uniform.mean() == pytest.approx(0.5, abs=0.01)
    assert uniform.std() == pytest.approx(math.sqrt(1 / 12), abs=0.01)
    normal = make("mab", num_envs=2000, seed=1, num_arms=10, mean_distribution="normal",
                  mean_loc=-1.0, mean_scale=2.0).reset()[1]["arm_means"]
    assert normal.mean() == pytest.approx(-1.0, abs=0.05)
    assert normal.std() == pytest.approx(2.0, rel=0.03)


@pytest.mark.parametrize("noise, gap", [("low", 0.5), ("medium", 0.2), ("high", 0.1)])
def test_bernoulli_arms(noise, gap):
    env = make("mab", num_envs=400, seed=4, num_arms=5, reward_type="bernoulli",
               noise=noise, horizon=10_000)
    _, info = env.reset()
    best = info["optimal_arm"].copy()
    expected = np.where(np.arange(5) == best[:, None], 0.5 + gap / 2, 0.5 - gap / 2)
    np.testing.assert_allclose(info["arm_means"], expected, rtol=1e-6)
    assert np.bincount(best, minlength=5).min() > 40  # best arm varies per instance
    rewards = np.stack([env.step(best.astype(np.int32))[1] for _ in range(50)])
    assert set(np.unique(rewards)) <= {0.0, 1.0}
    p = 0.5 + gap / 2
    assert abs(rewards.mean() - p) < 5 * math.sqrt(p * (1 - p) / rewards.size)


def test_explicit_sigma_and_gap_override_noise():
    cfg = MultiArmedBanditConfig(noise="high", sigma=0.5, gap=0.3)
    assert cfg.to_core().sigma == 0.5 and cfg.to_core().gap == 0.3
    assert MultiArmedBanditConfig(noise="low").to_core().sigma == 0.1


def test_pool_train_and_eval_ids_are_disjoint():
    train = make("mab", num_envs=2000, seed=0, num_arms=5, pooled=True, pool_size=512,
                 eval_pool_size=64)
    ids = train.reset()[1]["task_id"].copy()
    assert ids.min() >= 0 and ids.max() < 512
    assert np.unique(ids).size > 450  # uniform over the pool
    evaluation = make("mab", num_envs=64, seed=0, num_arms=5, pooled=True, split="eval",
                      pool_size=512, eval_pool_size=64)
    eval_ids = evaluation.eval_task_ids()
    assert eval_ids.tolist() == list(range(512, 576))
    assert not set(eval_ids) & set(train.train_task_ids())
    # Every held-out instance exactly once, then the autoreset draws from the eval range.
    _, info = evaluation.reset(options={"task_ids": eval_ids})
    assert sorted(info["task_id"].tolist()) == list(range(512, 576))
    random_ids = evaluation.reset(seed=5)[1]["task_id"]
    assert random_ids.min() >= 512 and random_ids.max() < 576


def test_task_id_names_the_same_instance_in_any_env():
    a = make("mab", num_envs=3, seed=1, num_arms=6, pooled=True, task_seed=11)
    b = make("mab", num_envs=3, seed=99, num_arms=6, task_seed=11)  # not pooled
    ids = np.array([7, 600, 3], np.int64)
    np.testing.assert_array_equal(a.reset(options={"task_ids": ids})[1]["arm_means"],
                                  b.reset(options={"task_ids": ids})[1]["arm_means"])
    c = make("mab", num_envs=3, seed=1, num_arms=6, task_seed=12)
    assert not np.array_equal(c.reset(options={"task_ids": ids})[1]["arm_means"],
                              a.buffers["arm_means"])
    # -1 lets a row draw its own instance.
    mixed = b.reset(options={"task_ids": np.array([7, -1, 3], np.int64)})[1]["task_id"]
    assert mixed.tolist() == [7, -1, 3]


def test_ziggurat_twin_matches_core_and_is_normal():
    # The twin's ziggurat consumes the core Rng exactly like the C++ one: a Gaussian MAB
    # with mean 0 (mean_low = mean_high = 0) and sigma 1 emits the raw draws.
    env = make("mab", num_envs=1, seed=3, num_arms=2, mean_low=0.0, mean_high=0.0,
               sigma=1.0, horizon=100_000)
    env.reset()
    rng = _core.Rng(3, 0)
    for _ in range(2):
        rng.uniform()  # the reset's two mean draws
    draws = [float(env.step(np.zeros(1, np.int32))[1][0]) for _ in range(20_000)]
    twin = [float(np.float32(ziggurat_normal(rng))) for _ in range(20_000)]
    assert draws == twin
    assert np.mean(np.abs(draws) > 3.6541528853610088) > 0  # the tail branch was exercised
    assert np.std(draws) == pytest.approx(1.0, rel=0.03)


def _compare_with_twin(options, num_envs=6, steps=300, seed=17, task_ids=None):
    env = make("mab", num_envs=num_envs, seed=seed, **options)
    params = MabParams.from_core(env.config.to_core())
    twin = VectorTwin(lambda: MabInstance(params), num_envs, seed)
    env.reset(options=None if task_ids is None else {"task_ids": task_ids})
    twin.reset(task_ids)
    picker = np.random.default_rng(0)
    for t in range(steps):
        actions = picker.integers(0, params.num_arms, num_envs).astype(np.int32)
        obs, reward, terminated, _, info = env.step(actions)
        twin.step(actions)
        for i, row in enumerate(twin.envs):
            expected = row.buffers()
            assert reward[i] == np.float32(twin.reward[i]), (t, i)
            assert terminated[i] == twin.terminated[i]
            for name, value in expected.items():
                got = obs[name][i] if name in obs else info[name][i]
                np.testing.assert_array_equal(got, value, err_msg=f"{name} t={t} row={i}")


@pytest.mark.parametrize("options", [
    {"num_arms": 5, "horizon": 13, "noise": "high"},
    {"num_arms": 4, "horizon": 11, "reward_type": "bernoulli", "noise": "low"},
    {"num_arms": 3, "horizon": 8, "mean_distribution": "normal", "mean_loc": 1.0},
    {"num_arms": 6, "horizon": 10, "pooled": True, "pool_size": 20, "task_seed": 4},
    {"num_arms": 2, "horizon": 10, "pooled": True, "split": "eval", "pool_size": 20,
     "eval_pool_size": 5},
])
def test_twin_agrees_exactly(options):
    _compare_with_twin(options)


def test_twin_agrees_with_given_task_ids():
    _compare_with_twin({"num_arms": 4, "horizon": 6, "pooled": True, "pool_size": 8},
                       num_envs=3, steps=40, task_ids=np.array([100, -1, 5], np.int64))
