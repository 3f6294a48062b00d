"""Contextual bandit (MovieLens style): data loading (100K and 1M formats), the SVD table,
user splits, the env contract, batch independence and exact agreement with the twin."""

from __future__ import annotations

import numpy as np
import pytest

from rlft import _core
from rlft.envs import make, registered
from rlft.envs import movielens as ml
from rlft.envs.contextual_bandit import ContextualBanditEnv
from twins.bandit_twins import ContextualInstance, VectorTwin


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return ml.write_synthetic_movielens(tmp_path_factory.mktemp("ml"), 300, 60, seed=0)


def make_env(data_dir, **options):
    options.setdefault("num_envs", 4)
    options.setdefault("seed", 0)
    return make("contextual_bandit", data_dir=str(data_dir), **options)


def test_synthetic_generator_is_deterministic(tmp_path, data_dir):
    again = ml.write_synthetic_movielens(tmp_path / "again", 300, 60, seed=0)
    other = ml.write_synthetic_movielens(tmp_path / "other", 300, 60, seed=1)
    for name in ("u.data", "u.user", "u.item"):
        assert (again / name).read_bytes() == (data_dir / name).read_bytes()
    assert (other / "u.data").read_bytes() != (data_dir / "u.data").read_bytes()


def test_load_100k_format(data_dir):
    data = ml.load_movielens(data_dir)
    assert data.variant == "100k" and data.num_users == 300 and data.movie_ids.size == 60
    assert set(data.genders) <= {"M", "F"}
    assert set(data.occupations) <= set(ml.OCCUPATIONS_100K)
    assert data.ages.min() >= 15 and data.ages.max() <= 70
    assert set(np.unique(data.rating_values)) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert data.rating_users.max() < 300 and data.rating_movies.max() < 60
    lines = (data_dir / "u.data").read_text().splitlines()
    assert len(lines) == data.rating_values.size
    first = lines[0].split("\t")
    assert data.user_ids[data.rating_users[0]] == int(first[0])
    assert data.movie_ids[data.rating_movies[0]] == int(first[1])


def test_load_1m_format(tmp_path):
    (tmp_path / "users.dat").write_text(
        "1::F::1::10::48067\n2::M::56::16::70072\n3::M::25::15::T8H1N\n", encoding="latin-1")
    (tmp_path / "movies.dat").write_text(
        "1::Toy Story (1995)::Animation|Children's|Comedy\n"
        "2::Jumanji (1995)::Adventure|Children's|Fantasy\n"
        "3::Godfather, The (1972)::Action|Crime|Drama\n"
        "4::Misérables, Les (1995)::Drama\n", encoding="latin-1")
    (tmp_path / "ratings.dat").write_text(
        "1::1::5::978300760\n1::3::3::978302109\n2::1::4::978301968\n2::3::5::978300275\n"
        "3::3::1::978824291\n3::2::2::978824291\n", encoding="latin-1")
    data = ml.load_movielens(tmp_path)
    assert data.variant == "1m"
    assert data.genders == ("F", "M", "M")
    assert data.occupations == ("K-12 student", "self-employed", "scientist")
    assert data.ages.tolist() == [1, 56, 25]
    assert data.titles[3] == "Misérables, Les (1995)"
    assert data.rating_values.tolist() == [5, 3, 4, 5, 1, 2]
    assert "under 18" in data.describe_user(0) and "outside the US" in data.describe_user(2)
    table = ml.build_bandit_table(data, num_movies=2, rank=10)
    assert table.movie_names == ("the_godfather_(1972)", "toy_story_(1995)")  # 3 and 2 ratings
    # rank >= K keeps the full matrix (0 = not rated).
    np.testing.assert_allclose(table.rewards, [[3, 5], [5, 4], [1, 0]], atol=1e-5)
    assert ml.default_num_train_users(data.variant) == 200


def test_missing_files_raise(tmp_path):
    with pytest.raises(FileNotFoundError, match="MovieLens"):
        ml.load_movielens(tmp_path)
    with pytest.raises(ValueError, match="variant"):
        ml.load_movielens(tmp_path, variant="10m")


def test_title_and_location_rendering():
    assert ml.normalize_title("Star Wars (1977)") == "star_wars_(1977)"
    assert ml.normalize_title("Return of the Jedi (1983)") == "return_of_the_jedi_(1983)"
    assert ml.normalize_title("Godfather, The (1972)") == "the_godfather_(1972)"
    assert ml.render_location("94043") == "the area of zip code 94043 (AK, CA, HI, OR, WA)"
    assert ml.render_location("V3N4P") == "the area of postal code V3N4P (outside the US)"


@pytest.mark.parametrize("num_movies, rank", [(20, 5), (10, 10), (5, 10)])
def test_svd_table_rank_and_top_movies(data_dir, num_movies, rank):
    data = ml.load_movielens(data_dir)
    table = ml.build_bandit_table(data, num_movies, rank)
    k = min(rank, num_movies)
    assert table.rewards.shape == (300, num_movies) and table.rewards.dtype == np.float32
    assert table.contexts.shape == (300, k) and table.contexts.dtype == np.float32
    assert np.linalg.matrix_rank(table.rewards.astype(np.float64), tol=1e-3) == k
    counts = np.bincount(data.rating_movies, minlength=60)
    assert counts[table.movies].min() >= np.delete(counts, table.movies).max()
    # Contexts are orthonormal columns (U_k), rewards = U_k S_k V_k^T.
    np.testing.assert_allclose(table.contexts.T @ table.contexts, np.eye(k), atol=1e-4)
    matrix = np.zeros((300, num_movies))
    column = {m: j for j, m in enumerate(table.movies)}
    for u, m, r in zip(data.rating_users, data.rating_movies, data.rating_values):
        if m in column:
            matrix[u, column[m]] = r
    if k == num_movies:
        np.testing.assert_allclose(table.rewards, matrix, atol=1e-4)
    else:  # the best rank-k approximation: its error is the dropped singular values
        s = np.linalg.svd(matrix, compute_uv=False)
        assert np.linalg.norm(table.rewards - matrix) == pytest.approx(
            np.sqrt((s[k:] ** 2).sum()), rel=1e-4)


def test_env_contract_and_rewards(data_dir):
    env = make_env(data_dir, num_envs=5, num_arms=8, rank=4, horizon=6)
    assert isinstance(env, ContextualBanditEnv) and env.num_actions == 8
    assert registered()["movielens"].env_class is ContextualBanditEnv
    obs, info = env.reset()
    assert set(obs) == {"step", "user", "context"}
    assert obs["context"].shape == (5, 4) and obs["context"].dtype == np.float32
    assert info["expected_rewards"].shape == (5, 8)
    assert len(env.movie_names) == 8 and env.dataset.num_users == 300
    regret = np.zeros(5)
    for t in range(6):
        users = obs["user"].copy()
        np.testing.assert_array_equal(obs["context"], env.table.contexts[users])
        np.testing.assert_array_equal(info["expected_rewards"], env.table.rewards[users])
        assert (info["optimal_action"] == env.table.rewards[users].argmax(axis=1)).all()
        actions = (np.arange(5) + t) % 8
        actions = actions.astype(np.int32)
        served = env.table.rewards[users, actions]
        regret += env.table.rewards[users].max(axis=1) - served
        obs, reward, terminated, truncated, info = env.step(actions)
        np.testing.assert_array_equal(reward, served)
        np.testing.assert_array_equal(info["last_reward"], served)
        assert (obs["step"] == t + 1).all() and (terminated == (t == 5)).all()
        assert not truncated.any()
    np.testing.assert_allclose(info["regret"], regret, rtol=1e-5)
    obs, reward, terminated, _, info = env.step(np.full(5, 100, np.int32))  # autoreset
    assert (obs["step"] == 0).all() and (reward == 0).all() and (info["regret"] == 0).all()


def test_splits_are_disjoint_and_served_uniformly(data_dir):
    train = make_env(data_dir, num_envs=64, horizon=1000)
    evaluation = make_env(data_dir, num_envs=64, horizon=1000, split="eval")
    assert train.split_users.tolist() == list(range(100))
    assert evaluation.split_users.tolist() == list(range(100, 300))
    seen = {"train": [], "eval": []}
    for name, env in (("train", train), ("eval", evaluation)):
        obs, _ = env.reset()
        for _ in range(100):
            seen[name].append(obs["user"].copy())
            obs = env.step(np.zeros(64, np.int32))[0]
    train_users, eval_users = np.concatenate(seen["train"]), np.concatenate(seen["eval"])
    assert set(train_users) <= set(range(100)) and set(eval_users) <= set(range(100, 300))
    hits = np.bincount(train_users, minlength=100)
    assert hits.min() > 0.5 * 64 and hits.max() < 1.5 * 64  # 6400 draws, 64 +- 8 per user
    custom = make_env(data_dir, split="eval", num_train_users=250)
    assert custom.split_users.tolist() == list(range(250, 300))
    with pytest.raises(ValueError, match="num_train_users"):
        make_env(data_dir, num_train_users=300)


def test_noise_statistics(data_dir):
    env = make_env(data_dir, num_envs=200, noise_std=0.5, horizon=1000)
    obs, info = env.reset()
    residuals = []
    for _ in range(50):
        expected = info["expected_rewards"][:, 0].copy()
        obs, reward, *_, info = env.step(np.zeros(200, np.int32))
        residuals.append(reward - expected)
    residuals = np.concatenate(residuals)
    assert abs(residuals.mean()) < 5 * 0.5 / np.sqrt(residuals.size)
    assert residuals.std() == pytest.approx(0.5, rel=0.04)


def _rollout(data_dir, num_envs, threads, rows=None):
    env = make_env(data_dir, num_envs=num_envs, seed=8, num_threads=threads, horizon=7)
    env.reset()
    rows = rows or num_envs
    out = []
    for t in range(40):
        actions = ((np.arange(num_envs) + t) % 10).astype(np.int32)
        obs, reward, *_, info = env.step(actions)
        out.append(np.concatenate([reward[:rows], obs["user"][:rows], info["regret"][:rows]]))
    return out


def test_same_results_across_batch_sizes_and_threads(data_dir):
    one = _rollout(data_dir, 1, 1)
    b64 = _rollout(data_dir, 64, 1)
    b1000 = _rollout(data_dir, 1000, 2, rows=64)
    for a, b, c in zip(one, b64, b1000):
        assert a[0] == b[0] and a[1] == b[64] and a[2] == b[128]
        np.testing.assert_array_equal(b, c)


@pytest.mark.parametrize("noise_std", [0.0, 0.3])
def test_twin_agrees_exactly(data_dir, noise_std):
    env = make_env(data_dir, num_envs=5, seed=21, num_arms=7, rank=3, horizon=9,
                   noise_std=noise_std, split="eval")
    rewards = env.table.rewards
    twin = VectorTwin(lambda: ContextualInstance(rewards, env.split_users, 9, noise_std), 5, 21)
    obs, info = env.reset()
    twin.reset()
    picker = np.random.default_rng(1)
    for t in range(200):
        actions = picker.integers(0, 7, 5).astype(np.int32)
        obs, reward, terminated, _, info = env.step(actions)
        twin.step(actions)
        for i, row in enumerate(twin.envs):
            assert reward[i] == np.float32(twin.reward[i]), (t, i)
            assert terminated[i] == twin.terminated[i]
            for name, value in row.buffers().items():
                got = obs[name][i] if name in obs else info[name][i]
                assert got == value, (name, t, i)


@pytest.mark.parametrize("options, error, words", [
    ({"num_arms": 1}, ValueError, "num_arms"),
    ({"num_arms": 61}, ValueError, "num_movies"),
    ({"rank": 0}, ValueError, "rank"),
    ({"horizon": 0}, ValueError, "horizon"),
    ({"noise_std": float("nan")}, ValueError, "noise_std"),
    ({"split": "test"}, ValueError, "split"),
    ({"variant": "10m"}, ValueError, "variant"),
    ({"user_count": 3}, TypeError, "user_count"),
])
def test_bad_config_raises(data_dir, options, error, words):
    with pytest.raises(error, match=words):
        make_env(data_dir, **options)


def test_bad_input_to_env_and_core(data_dir):
    env = make_env(data_dir)
    env.reset()
    with pytest.raises(ValueError, match="task_ids"):
        env.reset(options={"task_ids": np.zeros(4, np.int64)})
    with pytest.raises(ValueError, match="out of range"):
        env.step(np.array([0, 0, 10, 0], np.int32))
    with pytest.raises(ValueError, match="dtype"):
        env.step(np.zeros(4, np.float32))
    with pytest.raises(FileNotFoundError):
        make("contextual_bandit", data_dir="/nonexistent/movielens")
    core = _core.ContextualBanditConfig()
    with pytest.raises(ValueError, match="data"):
        core.validate()
    rewards = np.zeros((3, 2), np.float32)
    contexts = np.zeros((3, 1), np.float32)
    with pytest.raises(ValueError, match="users"):
        core.set_data(rewards, contexts, np.array([0, 3], np.int64))
    with pytest.raises(ValueError, match="dtype"):
        core.set_data(rewards.astype(np.float64), contexts, np.array([0], np.int64))
    bad = rewards.copy()
    bad[1, 1] = np.nan
    with pytest.raises(ValueError, match="not finite"):
        core.set_data(bad, contexts, np.array([0], np.int64))
    with pytest.raises(ValueError, match="shape"):
        core.set_data(rewards, np.zeros((2, 1), np.float32), np.array([0], np.int64))
    assert not core.has_data


def test_default_config_uses_cached_synthetic_data(tmp_path, monkeypatch):
    monkeypatch.setenv("RLFT_CACHE_DIR", str(tmp_path))
    env = make("contextual_bandit", num_envs=2, seed=0)
    assert env.dataset.num_users == 300 and env.num_actions == 10
    assert any(p.name.startswith("movielens_synthetic") for p in tmp_path.iterdir())
