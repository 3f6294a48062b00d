"""Agents that play the vector envs: classic baselines (this package) and, elsewhere in it,
the LLM agent and its exploration wrappers. ``make_agent("ucb")`` builds a baseline by name."""

from __future__ import annotations

from typing import Any, Callable

from rlft.agents.bandit_agents import (EpsilonGreedyAgent, GreedyAgent, RandomAgent,
                                       ThompsonAgent, UCB1Agent, UCBAgent)
from rlft.agents.base import Agent, BatchedAgent, RowStreams, random_argmax
from rlft.agents.linucb import LinUCBAgent
from rlft.agents.rollout import Rollout, run_episodes
from rlft.agents.tic_tac_toe_agents import MCTSAgent, MinimaxAgent

_AGENTS: dict[str, Callable[..., Agent]] = {
    "random": RandomAgent,
    "greedy": GreedyAgent,
    "epsilon_greedy": EpsilonGreedyAgent,
    "ucb": UCBAgent,
    "ucb1": UCB1Agent,
    "thompson": ThompsonAgent,
    "linucb": LinUCBAgent,
    "minimax": MinimaxAgent,
    "mcts": MCTSAgent,
}


def register_agent(name: str, factory: Callable[..., Agent]) -> None:
    """Makes ``make_agent(name, **kwargs)`` call ``factory(**kwargs)``."""
    _AGENTS[name] = factory


def known_agents() -> list[str]:
    return sorted(_AGENTS)


def make_agent(name: str, **kwargs: Any) -> Agent:
    """Builds a classic agent by name with its keyword options, e.g.
    ``make_agent("epsilon_greedy", epsilon=0.1)``."""
    if name not in _AGENTS:
        raise ValueError(f"unknown agent {name!r}; known agents: {known_agents()}")
    try:
        return _AGENTS[name](**kwargs)
    except TypeError as error:  # an unknown option: say which agent it was for
        raise TypeError(f"bad option(s) {sorted(kwargs)} for agent {name!r}: {error}") from error


__all__ = ["Agent", "BatchedAgent", "EpsilonGreedyAgent", "GreedyAgent", "LinUCBAgent",
           "MCTSAgent", "MinimaxAgent", "RandomAgent", "Rollout", "RowStreams", "ThompsonAgent",
           "UCB1Agent", "UCBAgent",
           "known_agents", "make_agent", "random_argmax", "register_agent", "run_episodes"]
