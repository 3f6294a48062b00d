"""A generated text corpus shaped like rlft's prompts, for training the tiny preset's tokenizer.

The texts mimic the paper's prompts (button and numbered bandits, MovieLens recommendation,
digit-board tic-tac-toe) and the answers an agent writes (short rationales ending in
``ACTION=X``), so that the tokenizer spends its merges on the strings rlft actually uses.
Everything comes from one seeded ``random.Random``: the same arguments give the same corpus.
"""

from __future__ import annotations

import random
from typing import Callable, List

COLOURS = (
    "blue", "green", "red", "yellow", "orange", "purple", "pink", "brown", "black", "white",
    "gray", "cyan", "magenta", "violet", "indigo", "teal", "maroon", "navy", "olive", "gold",
)
MOVIES = (
    "star_wars_(1977)", "contact_(1997)", "fargo_(1996)", "return_of_the_jedi_(1983)",
    "liar_liar_(1997)", "english_patient,_the_(1996)", "scream_(1996)", "toy_story_(1995)",
    "air_force_one_(1997)", "independence_day_(id4)_(1996)", "raiders_of_the_lost_ark_(1981)",
    "godfather,_the_(1972)", "pulp_fiction_(1994)", "twelve_monkeys_(1995)",
    "silence_of_the_lambs,_the_(1991)", "jerry_maguire_(1996)", "rock,_the_(1996)",
    "empire_strikes_back,_the_(1980)", "star_trek:_first_contact_(1996)", "titanic_(1997)",
    "back_to_the_future_(1985)", "mission:_impossible_(1996)", "fugitive,_the_(1993)",
    "men_in_black_(1997)", "full_monty,_the_(1997)",
)
OCCUPATIONS = (
    "administrator", "artist", "doctor", "educator", "engineer", "entertainment", "executive",
    "healthcare", "homemaker", "lawyer", "librarian", "marketing", "programmer", "retired",
    "salesman", "scientist", "student", "technician", "writer",
)
PLACES = (
    "Santa Clara county, CA", "Cook county, IL", "King county, WA", "Travis county, TX",
    "Kings county, NY", "Suffolk county, MA", "Fulton county, GA", "Dane county, WI",
)

COT_INSTRUCTION = (
    "Think step-by-step and output your final answer in the format ACTION=X where X is one of "
    "the arms listed above. IMPORTANT: Provide your (SHORT!) thinking process and your answer ACTION=X"
)
NO_COT_INSTRUCTION = "Output ONLY your final answer in the format ACTION=X."


def _number(rng: random.Random, scale: float) -> str:
    """A reward-like number printed the way prompts print them (two decimals, maybe negative)."""
    return f"{rng.gauss(0.5, scale):.2f}"


def _bandit_prompt(rng: random.Random) -> str:
    num_arms = rng.choice((5, 10, 20))
    buttons = rng.random() < 0.7
    labels = list(COLOURS[:num_arms]) if buttons else [str(i) for i in range(num_arms)]
    if rng.random() < 0.3:  # context randomisation relabels the arms
        rng.shuffle(labels)
    horizon = 50
    family = rng.choice(("Gaussian", "Bernoulli"))
    noun, verb = ("button", "press") if buttons else ("arm", "use")
    lines = [
        f"You are a bandit algorithm in a room with {num_arms} {noun}s labeled {', '.join(labels)}. "
        f"Each {noun} is associated with a {family} distribution with a fixed but unknown mean; "
        f"the means for the {noun}s could be different. For each {noun}, when you {verb} it, you "
        f"will get a reward that is sampled from the {noun}'s associated distribution. You have "
        f"{horizon} time steps and, on each time step, you can choose any {noun} and receive the "
        f"reward. Your goal is to maximize the total reward over the {horizon} time steps.",
        rng.choice((COT_INSTRUCTION, NO_COT_INSTRUCTION)),
        "So far you have tried/seen:",
    ]
    scale = rng.choice((0.1, 1.0, 3.0))
    for step in range(rng.randrange(horizon)):
        lines.append(f"Step={step} Action={rng.choice(labels)} Reward={_number(rng, scale)}")
    if rng.random() < 0.5:
        summary = ", ".join(
            f"{label}: count={rng.randrange(12)} mean={_number(rng, scale)}" for label in labels
        )
        lines.append(f"Summary: {summary}")
    lines.append("What do you predict next?")
    return "\n".join(lines)


def _bandit_answer(rng: random.Random) -> str:
    labels = list(COLOURS) if rng.random() < 0.7 else [str(i) for i in range(20)]
    choice = rng.choice(labels)
    kind = rng.randrange(3)
    if kind == 0:
        return f"ACTION={choice}"
    if kind == 1:
        return f"Action {choice} has not been tried yet, let's explore it. ACTION={choice}"
    parts = ["Let's think step-by-step. We calculate the counts and means for every action."]
    for label in rng.sample(labels, 5):
        count = rng.randrange(1, 10)
        mean = rng.random()
        parts.append(
            f"{label}: count={count}, mean={mean:.2f}, UCB = {mean:.2f} + sqrt(1/{count}) = "
            f"{mean + (1.0 / count) ** 0.5:.2f}"
        )
    parts.append(f"The highest UCB value belongs to {choice}, so I choose it. ACTION={choice}")
    return "\n".join(parts)


def _movie_prompt(rng: random.Random) -> str:
    movies = rng.sample(MOVIES, rng.choice((5, 10, 20)))
    age = rng.randrange(18, 70)
    person = (
        f"This person is a {age}-year-old {rng.choice(('man', 'woman'))}, working as a "
        f"{rng.choice(OCCUPATIONS)} and live in {rng.choice(PLACES)}."
    )
    values = ", ".join(f"{rng.gauss(0.0, 0.03):.2f}" for _ in movies)
    lines = [
        "You are an AI movie recommendation assistant for a streaming platform powered by a "
        "bandit algorithm that offers a wide variety of films. There are "
        f"{len(movies)} unique movies you can recommend, named {', '.join(movies)}.",
        "When a user visits the streaming platform, you assess their demographic description to "
        "choose a movie to suggest. You aim to match the user with movies they are most likely to "
        "watch and enjoy. Each time a user watches a recommended movie, you adjust your "
        "recommendation models to further enhance your strategy.",
        COT_INSTRUCTION.replace("arms", "movies"),
        "So far you have tried/seen:",
    ]
    for step in range(rng.randrange(8)):
        lines.append(
            f"Step={step} Context={person} Action={rng.choice(movies)} Reward={rng.random():.2f}"
        )
    lines.append(
        f"{person} The user has some numerical values that represent their true implicit "
        f"preference or taste for all movies: [{values}]"
    )
    lines.append("What do you predict next?")
    if rng.random() < 0.5:
        lines.append(f"ACTION={rng.choice(movies)}")
    return "\n".join(lines)


def _random_board(rng: random.Random) -> List[int]:
    board = [0] * 9
    cells = list(range(9))
    rng.shuffle(cells)
    for turn, cell in enumerate(cells[: rng.randrange(9)]):
        board[cell] = 1 if turn % 2 == 0 else 2
    return board


def _tic_tac_toe_prompt(rng: random.Random) -> str:
    lines = [
        "You are an agent playing tic-tac-toe. The board is a 3x3 grid written as 9 digits, "
        "cells 0-8 in row-major order: 0 is an empty cell, 1 is your stone and 2 is the opponent's "
        "stone. You play as 1. A win gives reward 1, a draw 0 and a loss -1.",
        COT_INSTRUCTION.replace("one of the arms listed above", "one of the legal actions"),
        "So far you have tried/seen:",
    ]
    for step in range(rng.randrange(10)):
        board = "".join(str(cell) for cell in _random_board(rng))
        lines.append(f"Step={step} State={board} Action={rng.randrange(9)} Reward=0")
    board = _random_board(rng)
    legal = [str(cell) for cell in range(9) if board[cell] == 0] or ["0"]
    lines.append(f"Current state: {''.join(str(cell) for cell in board)}")
    lines.append(f"Legal actions: {', '.join(legal)}")
    lines.append("What do you predict next?")
    if rng.random() < 0.5:
        lines.append(f"ACTION={rng.choice(legal)}")
    return "\n".join(lines)


_GENERATORS: tuple[Callable[[random.Random], str], ...] = (
    _bandit_prompt, _bandit_answer, _movie_prompt, _tic_tac_toe_prompt,
)


def generate_corpus(num_documents: int, seed: int) -> List[str]:
    """``num_documents`` prompt- and answer-like texts, the same for the same ``(num_documents, seed)``."""
    if num_documents < 1:
        raise ValueError(f"num_documents must be >= 1, got {num_documents}")
    rng = random.Random(seed)
    return [_GENERATORS[i % len(_GENERATORS)](rng) for i in range(num_documents)]


def number_sheet(seed: int, repeats: int = 300) -> List[str]:
    """Documents listing every count 0-99 and every value -9.9 to 9.9 with one decimal, ``repeats``
    times each in a seeded order: enough occurrences for BPE to give each its own token."""
    values = [str(count) for count in range(100)]
    values += [f"{tenths / 10:.1f}" for tenths in range(-99, 100)]
    rng = random.Random(seed)
    documents = []
    for _ in range(repeats):
        rng.shuffle(values)
        documents.append(", ".join(values))
    return documents
