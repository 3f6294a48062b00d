"""Pieces the three analyses share: the run directory, loading the policy once, building the
LLM agent for a bandit env, and collecting rollouts plus the agent's generations.

It sits below the analyses and imports none of them; ``runner.py`` dispatches to them.

An analysis run directory holds ``config.json``, ``metrics.json``, its PNG figures,
``summary.md`` and (optionally) ``generations.jsonl``.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from rlft.agents import Rollout, run_episodes
from rlft.agents.base import Agent
from rlft.agents.rollout import concat_rollouts
from rlft.analysis.config import AnalysisBase

# (env, seed) -> the agent that plays it; lets scripted agents stand in for the LLM.
AgentFactory = Callable[[Any, int], Agent]


def prepare_run_dir(config: AnalysisBase) -> Path:
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    return out


def _json_safe(value: Any) -> Any:
    """NaN and inf become None (strict JSON); numpy scalars and arrays become Python ones."""
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: Path, content: Any) -> None:
    Path(path).write_text(json.dumps(_json_safe(content), indent=2) + "\n")


def load_policy(config: AnalysisBase) -> tuple[Any, Any]:
    """(model, tokenizer) of ``config.model`` in eval mode on ``config.device``."""
    from rlft.models import load_model_and_tokenizer

    model, tokenizer = load_model_and_tokenizer(config.model, dtype=config.dtype,
                                                device=config.device)
    model.eval()
    return model, tokenizer


def llm_agent(model: Any, tokenizer: Any, env: Any, *, prompt: Any, max_new_tokens: int,
              temperature: float, batch_size: int, extra_patterns: Sequence[str] = ()) -> Agent:
    """The LLM agent of the evaluation harness with the analysis' prompt and sampling.
    extra_patterns: answer templates read besides ``ACTION={action}`` (not the paper's
    parse; for small models that name their choice in prose)."""
    from rlft.agents.generation import SamplingConfig
    from rlft.agents.llm_agent import LLMAgent
    from rlft.text import DEFAULT_PATTERNS
    sampling = SamplingConfig(temperature=temperature, max_new_tokens=max_new_tokens,
                              batch_size=batch_size)
    patterns = (*DEFAULT_PATTERNS, *extra_patterns) if extra_patterns else None
    return LLMAgent(model, tokenizer, env, prompt, sampling, answer_patterns=patterns)


def bandit_env(config: AnalysisBase, arms: int, episodes: int, horizon: int, seed: int) -> Any:
    """The seeded multi-armed bandit instances of the evaluation harness (``rlft eval``)."""
    from rlft.evaluation.config import EvalConfig
    from rlft.evaluation.runner import build_env

    eval_config = EvalConfig(env="mab", episodes=episodes, arms=arms, noise=config.noise,
                             horizon=horizon, instances="seeded")
    env, _ = build_env(eval_config, seed)
    return env


def play(config: AnalysisBase, make_agent: AgentFactory, arms: int, episodes: int,
         horizon: int, seeds: int, progress: Callable[[str], None] | None = None) -> Rollout:
    """Plays one episode per instance for each seed through the one episode loop; returns the
    merged rollout (a text agent's records in ``rollout.steps``).

    Episodes are ordered seed-major (row ``s * episodes + b``); an LLM agent's invalid answers
    (a random action was played) are marked in ``rollout.invalid``.
    """
    rollouts = []
    for offset in range(seeds):
        seed = config.seed + offset
        env = bandit_env(config, arms, episodes, horizon, seed)
        agent = make_agent(env, seed)
        player = agent if progress is None else _StepProgress(agent, progress, horizon)
        rollouts.append(run_episodes(env, player, num_episodes=1, seed=seed))
        if progress is not None:
            progress(f"seed {seed} done")
    return concat_rollouts(rollouts)


class _StepProgress:
    """Forwards to an agent and reports every tenth decision step with the elapsed time."""

    def __init__(self, agent: Agent, report: Callable[[str], None], horizon: int) -> None:
        self.agent, self.report, self.horizon = agent, report, horizon
        self.name = agent.name
        self.steps = 0
        self.started = time.perf_counter()

    def reset(self, num_envs: int, num_actions: int, seed: int) -> None:
        self.agent.reset(num_envs, num_actions, seed)

    def act(self, obs: Any, info: Any) -> Any:
        decision = self.agent.act(obs, info)
        self.steps += 1
        if self.steps % 10 == 0 or self.steps == self.horizon:
            self.report(f"step {self.steps}/{self.horizon}, "
                        f"{time.perf_counter() - self.started:.0f} s")
        return decision

    def observe(self, *args: Any) -> None:
        self.agent.observe(*args)


def generation_grid(rollout: Rollout) -> list[list[Any]]:
    """[N][T] the text agent's step records (None where the agent kept none)."""
    if rollout.steps is not None:
        return rollout.steps
    return [[None] * rollout.actions.shape[1] for _ in range(rollout.actions.shape[0])]
