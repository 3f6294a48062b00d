"""MovieLens data for the contextual bandit (paper §2.2, after EVOLvE/BanditBench).

``load_movielens(directory)`` reads the real MovieLens 100K (``u.data``, ``u.user``,
``u.item``; tab and '|' separated) or 1M (``ratings.dat``, ``users.dat``, ``movies.dat``;
'::' separated) files, latin-1 encoded. ``build_bandit_table`` keeps the K most rated
movies, fills the user x movie rating matrix (0 where a user did not rate a movie, as
EVOLvE does), and takes a rank-k SVD: rewards = U_k S_k V_k^T, context of a user = its row
of U_k. ``write_synthetic_movielens`` writes a small, deterministic dataset in the 100K
format, which the tests and the default config use (nothing is downloaded).

Location: no zip-code database is available offline, so a user's location is rendered
from the zip code itself: the code, plus the US states its first digit covers (the ZIP
code's national area); codes that are not five digits are shown as non-US postal codes.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

# The occupations of MovieLens 100K (u.occupation) and 1M's numeric codes (README of ml-1m).
OCCUPATIONS_100K = (
    "administrator", "artist", "doctor", "educator", "engineer", "entertainment", "executive",
    "healthcare", "homemaker", "lawyer", "librarian", "marketing", "none", "other",
    "programmer", "retired", "salesman", "scientist", "student", "technician", "writer")
OCCUPATIONS_1M = (
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student",
    "customer service", "doctor/health care", "executive/managerial", "farmer", "homemaker",
    "K-12 student", "lawyer", "programmer", "retired", "sales/marketing", "scientist",
    "self-employed", "technician/engineer", "tradesman/craftsman", "unemployed", "writer")
# National area of a US ZIP code by its first digit.
ZIP_AREAS = {
    "0": "CT, MA, ME, NH, NJ, PR, RI, VT", "1": "DE, NY, PA", "2": "DC, MD, NC, SC, VA, WV",
    "3": "AL, FL, GA, MS, TN", "4": "IN, KY, MI, OH", "5": "IA, MN, MT, ND, SD, WI",
    "6": "IL, KS, MO, NE", "7": "AR, LA, OK, TX", "8": "AZ, CO, ID, NM, NV, UT, WY",
    "9": "AK, CA, HI, OR, WA"}


@dataclass(frozen=True)
class MovieLensData:
    """One MovieLens dataset. Users and movies are in file order of their ids.

    users: ``user_ids``, ``ages`` (1M: the age-group code), ``genders`` ('M'/'F'),
    ``occupations`` (text), ``zip_codes``; movies: ``movie_ids``, ``titles`` (raw);
    ratings: ``rating_users`` / ``rating_movies`` (row indices into the tables above) and
    ``rating_values``.
    """

    variant: str
    user_ids: np.ndarray
    ages: np.ndarray
    genders: tuple[str, ...]
    occupations: tuple[str, ...]
    zip_codes: tuple[str, ...]
    movie_ids: np.ndarray
    titles: tuple[str, ...]
    rating_users: np.ndarray
    rating_movies: np.ndarray
    rating_values: np.ndarray

    @property
    def num_users(self) -> int:
        return int(self.user_ids.size)

    def location(self, user: int) -> str:
        return render_location(self.zip_codes[user])

    def describe_user(self, user: int) -> str:
        """E.g. 'a 28-year-old man working as a programmer, living in the area of zip code
        94043 (AK, CA, HI, OR, WA)'. 1M ages are age groups ('aged 25-34')."""
        gender = {"M": "man", "F": "woman"}.get(self.genders[user], "person")
        age = int(self.ages[user])
        if self.variant == "1m":
            age_text = {1: "under 18", 56: "56 or older"}.get(age, _age_group_1m(age))
            who = f"a {gender} aged {age_text}"
        else:
            who = f"a {age}-year-old {gender}"
        occupation = _article(self.occupations[user])
        return f"{who} working as {occupation}, living in {self.location(user)}"


def _age_group_1m(code: int) -> str:
    groups = {18: "18-24", 25: "25-34", 35: "35-44", 45: "45-49", 50: "50-55"}
    return groups.get(code, str(code))


def _article(noun: str) -> str:
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


def render_location(zip_code: str) -> str:
    """Location text from a zip code alone (no zip database offline)."""
    code = zip_code.strip()
    if re.fullmatch(r"\d{5}(-\d{4})?", code):
        return f"the area of zip code {code[:5]} ({ZIP_AREAS[code[0]]})"
    return f"the area of postal code {code} (outside the US)"


def normalize_title(title: str) -> str:
    """'Star Wars (1977)' -> 'star_wars_(1977)';
    'Godfather, The (1972)' -> 'the_godfather_(1972)'."""
    title = title.strip()
    match = re.match(r"^(.*), (The|A|An) (\(\d{4}\))$", title)
    if match:
        title = f"{match.group(2)} {match.group(1)} {match.group(3)}"
    return re.sub(r"\s+", "_", title.lower())


def detect_variant(directory: Path) -> str:
    if (directory / "u.data").is_file():
        return "100k"
    if (directory / "ratings.dat").is_file():
        return "1m"
    raise FileNotFoundError(f"{directory} has neither MovieLens 100K files (u.data, u.user, "
                            "u.item) nor 1M files (ratings.dat, users.dat, movies.dat)")


def _read_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise FileNotFoundError(f"missing MovieLens file {path}")
    return [line for line in path.read_text(encoding="latin-1").splitlines() if line.strip()]


def _int_table(path: Path, separator: str, columns: int) -> np.ndarray:
    text = path.read_text(encoding="latin-1") if path.is_file() else None
    if text is None:
        raise FileNotFoundError(f"missing MovieLens file {path}")
    tokens = text.replace(separator, " ").split()
    if len(tokens) % columns:
        raise ValueError(f"{path}: expected {columns} fields per line")
    return np.array(tokens, dtype=np.int64).reshape(-1, columns)


def load_movielens(directory: str | os.PathLike, variant: str = "auto") -> MovieLensData:
    """Loads MovieLens 100K or 1M from ``directory`` (variant 'auto', '100k' or '1m')."""
    directory = Path(directory)
    if variant == "auto":
        variant = detect_variant(directory)
    if variant == "100k":
        ratings = _int_table(directory / "u.data", "\t", 4)
        users = [line.split("|") for line in _read_lines(directory / "u.user")]
        movies = [line.split("|") for line in _read_lines(directory / "u.item")]
        user_ids = np.array([int(u[0]) for u in users], dtype=np.int64)
        ages = np.array([int(u[1]) for u in users], dtype=np.int64)
        genders = tuple(u[2] for u in users)
        occupations = tuple(u[3] for u in users)
        zips = tuple(u[4] for u in users)
    elif variant == "1m":
        ratings = _int_table(directory / "ratings.dat", "::", 4)
        users = [line.split("::") for line in _read_lines(directory / "users.dat")]
        movies = [line.split("::") for line in _read_lines(directory / "movies.dat")]
        user_ids = np.array([int(u[0]) for u in users], dtype=np.int64)
        genders = tuple(u[1] for u in users)
        ages = np.array([int(u[2]) for u in users], dtype=np.int64)
        occupations = tuple(OCCUPATIONS_1M[int(u[3])] if 0 <= int(u[3]) < len(OCCUPATIONS_1M)
                            else u[3] for u in users)
        zips = tuple(u[4] for u in users)
    else:
        raise ValueError(f"variant must be 'auto', '100k' or '1m', got {variant!r}")
    movie_ids = np.array([int(m[0]) for m in movies], dtype=np.int64)
    titles = tuple(m[1] for m in movies)
    user_index = _index_of(user_ids, ratings[:, 0], "user", directory)
    movie_index = _index_of(movie_ids, ratings[:, 1], "movie", directory)
    return MovieLensData(variant, user_ids, ages, genders, occupations, zips, movie_ids, titles,
                         user_index, movie_index, ratings[:, 2].astype(np.float64))


def _index_of(ids: np.ndarray, wanted: np.ndarray, what: str, directory: Path) -> np.ndarray:
    order = np.argsort(ids, kind="stable")
    positions = np.searchsorted(ids[order], wanted)
    positions = np.minimum(positions, ids.size - 1)
    found = ids[order][positions] == wanted
    if not found.all():
        raise ValueError(f"{directory}: a rating names {what} id {int(wanted[~found][0])}, "
                         f"which is not in the {what} table")
    return order[positions]


@dataclass(frozen=True)
class BanditTable:
    """What the contextual bandit serves: rewards float32 [users, K], contexts float32
    [users, d], the K movies (rows of the dataset's movie table) and their names."""

    rewards: np.ndarray
    contexts: np.ndarray
    movies: np.ndarray
    movie_names: tuple[str, ...]
    singular_values: np.ndarray


def build_bandit_table(data: MovieLensData, num_movies: int, rank: int = 10) -> BanditTable:
    """Top-``num_movies`` movies by number of ratings (ties: lower movie row first), the
    user x movie rating matrix (0 = not rated), and its rank-min(rank, K) SVD."""
    if num_movies < 2:
        raise ValueError(f"num_movies must be >= 2, got {num_movies}")
    if rank < 1:
        raise ValueError(f"rank must be >= 1, got {rank}")
    counts = np.bincount(data.rating_movies, minlength=data.movie_ids.size)
    if num_movies > counts.size:
        raise ValueError(f"num_movies={num_movies} exceeds the {counts.size} movies in the data")
    top = np.argsort(-counts, kind="stable")[:num_movies]
    column = np.full(counts.size, -1, dtype=np.int64)
    column[top] = np.arange(num_movies)
    matrix = np.zeros((data.num_users, num_movies))
    keep = column[data.rating_movies] >= 0
    matrix[data.rating_users[keep], column[data.rating_movies[keep]]] = data.rating_values[keep]
    k = min(rank, num_movies)
    u, s, vt = np.linalg.svd(matrix, full_matrices=False)
    rewards = (u[:, :k] * s[:k]) @ vt[:k]
    return BanditTable(
        rewards=np.ascontiguousarray(rewards, dtype=np.float32),
        contexts=np.ascontiguousarray(u[:, :k], dtype=np.float32),
        movies=top,
        movie_names=tuple(normalize_title(data.titles[m]) for m in top),
        singular_values=s[:k].copy())


def default_num_train_users(variant: str) -> int:
    """EVOLvE's split: the first 100 users train for 100K, the first 200 for 1M."""
    return 200 if variant == "1m" else 100


# ---------------------------------------------------------------- synthetic data
_TITLE_WORDS_A = ("Silent", "Broken", "Golden", "Midnight", "Crimson", "Lost", "Last", "Wild",
                  "Hidden", "Electric", "Frozen", "Distant", "Burning", "Secret", "Endless")
_TITLE_WORDS_B = ("River", "Kingdom", "Summer", "Harbor", "Station", "Garden", "Empire",
                  "Horizon", "Detective", "Island", "Letters", "Highway", "Orchard", "Signal")


def write_synthetic_movielens(directory: str | os.PathLike, num_users: int = 300,
                              num_movies: int = 60, seed: int = 0) -> Path:
    """Writes a deterministic MovieLens-100K-format dataset (u.data, u.user, u.item) with
    low-rank tastes, popularity-skewed rating counts and realistic-looking users/titles."""
    if num_users < 2 or num_movies < 2:
        raise ValueError(f"need >= 2 users and movies, got {num_users} users, {num_movies} movies")
    rng = np.random.default_rng(seed)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    users = []
    for uid in range(1, num_users + 1):
        age = int(rng.integers(15, 71))
        gender = "M" if rng.random() < 0.7 else "F"
        occupation = OCCUPATIONS_100K[int(rng.integers(len(OCCUPATIONS_100K)))]
        zip_code = (f"{int(rng.integers(0, 100000)):05d}" if rng.random() < 0.97
                    else "T8H1N")  # a few Canadian codes, as in the real data
        users.append(f"{uid}|{age}|{gender}|{occupation}|{zip_code}")
    items, used = [], set()
    for mid in range(1, num_movies + 1):
        while True:
            title = f"{_TITLE_WORDS_A[rng.integers(len(_TITLE_WORDS_A))]} " \
                    f"{_TITLE_WORDS_B[rng.integers(len(_TITLE_WORDS_B))]}"
            if rng.random() < 0.15:
                title = f"{title}, The"
            if title not in used:
                used.add(title)
                break
        year = int(rng.integers(1950, 1999))
        genres = "|".join(str(int(g)) for g in (rng.random(19) < 0.15))
        items.append(f"{mid}|{title} ({year})|01-Jan-{year}||http://example.invalid/{mid}|{genres}")
    taste_dim = 4
    user_taste = rng.normal(size=(num_users, taste_dim))
    movie_taste = rng.normal(size=(num_movies, taste_dim))
    popularity = rng.power(0.6, size=num_movies) * 0.8 + 0.05
    ratings = []
    for u in range(num_users):
        rated = np.flatnonzero(rng.random(num_movies) < popularity)
        score = 3.2 + 0.6 * (movie_taste[rated] @ user_taste[u]) + rng.normal(0, 0.5, rated.size)
        for m, value in zip(rated, np.clip(np.rint(score), 1, 5).astype(int)):
            ratings.append(f"{u + 1}\t{m + 1}\t{value}\t{874965758 + int(rng.integers(10**7))}")
    for name, lines in (("u.user", users), ("u.item", items), ("u.data", ratings)):
        (directory / name).write_text("\n".join(lines) + "\n", encoding="latin-1")
    return directory


def cache_dir() -> Path:
    """RLFT_CACHE_DIR, else ~/.cache/rlft."""
    return Path(os.environ.get("RLFT_CACHE_DIR") or Path.home() / ".cache" / "rlft")


def synthetic_movielens_dir(seed: int = 0, num_users: int = 300, num_movies: int = 60,
                            root: str | os.PathLike | None = None) -> Path:
    """The synthetic dataset's directory under ``root`` (default: the cache), written on
    first use (atomically: a temporary directory renamed into place)."""
    root = Path(root) if root is not None else cache_dir()
    target = root / f"movielens_synthetic_u{num_users}_m{num_movies}_s{seed}"
    if (target / "u.data").is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=root))
    write_synthetic_movielens(scratch, num_users, num_movies, seed)
    try:
        scratch.rename(target)
    except OSError:  # another process got there first
        for path in scratch.iterdir():
            path.unlink()
        scratch.rmdir()
    return target


@lru_cache(maxsize=8)
def _load_cached(directory: str, variant: str, stamp: int) -> MovieLensData:
    return load_movielens(directory, variant)


def load_movielens_cached(directory: str | os.PathLike, variant: str = "auto") -> MovieLensData:
    """load_movielens, memoised per directory (until its ratings file changes)."""
    directory = Path(directory).resolve()
    if variant == "auto":
        variant = detect_variant(directory)
    ratings = directory / ("u.data" if variant == "100k" else "ratings.dat")
    stamp = ratings.stat().st_mtime_ns if ratings.is_file() else 0
    return _load_cached(str(directory), variant, stamp)
