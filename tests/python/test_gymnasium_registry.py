"""rlft's envs through Gymnasium's registry: ``gymnasium.make`` gives a checked single env,
``gymnasium.make_vec`` the batched env that ``rlft.envs.make`` builds, value for value."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from rlft.envs import make
from rlft.envs import movielens as ml
from rlft.envs.gymnasium_registry import GYMNASIUM_IDS, register_gymnasium_envs


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(ml.write_synthetic_movielens(tmp_path_factory.mktemp("ml"), 300, 60, seed=0))


@pytest.fixture(params=sorted(GYMNASIUM_IDS))
def env_id(request) -> str:
    return request.param


def options_for(env_id: str, data_dir: str) -> dict:
    """Small settings; the contextual bandit reads a test-local synthetic dataset."""
    name = GYMNASIUM_IDS[env_id]
    if name == "mab":
        return {"num_arms": 4, "horizon": 6}
    if name == "contextual_bandit":
        return {"data_dir": data_dir, "num_arms": 5, "horizon": 6}
    return {"opponent": "random"}


def test_ids_are_registered_once() -> None:
    assert set(GYMNASIUM_IDS) <= set(gym.registry)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an override would warn
        register_gymnasium_envs()


# Any checker warning fails, but the bandits' unbounded float buffers (sums, contexts).
@pytest.mark.filterwarnings("ignore:.*Box observation space (min|max)imum value is -?infinity")
@pytest.mark.filterwarnings("error")
def test_single_env_passes_the_env_checker(env_id: str, data_dir: str) -> None:
    env = gym.make(env_id, **options_for(env_id, data_dir))
    vector = make(GYMNASIUM_IDS[env_id], num_envs=1, **options_for(env_id, data_dir))
    assert env.observation_space == vector.single_observation_space
    assert env.action_space == vector.single_action_space
    check_env(env.unwrapped, skip_render_check=True)
    env.close()


def test_single_env_plays_row_zero_until_the_end(env_id: str, data_dir: str) -> None:
    options = options_for(env_id, data_dir)
    env = gym.make(env_id, **options)
    vector = make(GYMNASIUM_IDS[env_id], num_envs=1, **options)
    obs, info = env.reset(seed=5)
    batch_obs, batch_info = vector.reset(seed=5)
    for key in batch_obs:
        np.testing.assert_array_equal(obs[key], batch_obs[key][0])
    for _ in range(20):
        action = int(np.flatnonzero(obs["legal_mask"])[0]) if "legal_mask" in obs else 1
        obs, reward, terminated, truncated, info = env.step(action)
        batch = vector.step(np.array([action], dtype=np.int32))
        for key in batch[0]:
            np.testing.assert_array_equal(obs[key], batch[0][key][0])
        assert (reward, terminated, truncated) == (batch[1][0], batch[2][0], batch[3][0])
        assert isinstance(reward, float) and isinstance(terminated, bool)
        if terminated or truncated:
            break
    assert terminated and not truncated  # every env ends within 20 steps, by its task
    with pytest.raises(RuntimeError, match="reset"):
        env.unwrapped.step(0)


def test_make_vec_is_the_batched_env(env_id: str, data_dir: str) -> None:
    options = options_for(env_id, data_dir)
    envs = gym.make_vec(env_id, num_envs=4, seed=7, **options)
    reference = make(GYMNASIUM_IDS[env_id], num_envs=4, seed=7, **options)
    assert type(envs) is type(reference) and envs.num_envs == 4
    obs, _ = envs.reset()
    expected, _ = reference.reset()
    rng = np.random.default_rng(0)
    for _ in range(8):
        for key in expected:
            assert obs[key].shape[0] == 4
            np.testing.assert_array_equal(obs[key], expected[key])
        actions = rng.integers(0, reference.num_actions, size=4).astype(np.int32)
        if "legal_mask" in obs:  # a legal cell per row
            actions = np.argmax(obs["legal_mask"], axis=1).astype(np.int32)
        obs, reward, terminated, truncated, info = envs.step(actions)
        expected, want_reward, want_terminated, want_truncated, want_info = \
            reference.step(actions.copy())
        for got, want in ((reward, want_reward), (terminated, want_terminated),
                          (truncated, want_truncated)):
            assert got.shape == (4,)
            np.testing.assert_array_equal(got, want)
        for key in want_info:
            np.testing.assert_array_equal(info[key], want_info[key])
