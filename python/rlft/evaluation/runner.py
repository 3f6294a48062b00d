"""``rlft eval``: plays an agent on seeded env instances and writes a run directory.

RUN_DIR/
  config.json         the EvalConfig
  metrics.json        summary numbers and per-step curves (rlft.analysis.metrics)
  trajectories.jsonl  one line per (seed, episode, step): action, reward, regret, and for the
                      LLM agent the prompt, generation, parsed action and parse status
  regret.png, coverage.png (bandits) / outcomes.png (tic-tac-toe)
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from rlft.agents import Rollout, make_agent, run_episodes
from rlft.agents.rollout import concat_rollouts
from rlft.agents.base import Agent
from rlft.analysis.metrics import summarize_bandit, summarize_tic_tac_toe
from rlft.analysis.plots import plot_outcomes, plot_regret_and_coverage
from rlft.envs import make
from rlft.evaluation.config import EvalConfig


def build_env(config: EvalConfig, seed: int) -> tuple[Any, dict[str, Any] | None]:
    """The env of one seed and the reset options that pick its instances: every seed plays
    instances of its own (held-out ids [seed E, (seed + 1) E) for E episodes, or fresh ones),
    so that the confidence intervals are over distinct instances."""
    if config.env == "mab":
        heldout = config.instances == "heldout"
        env = make("mab", num_envs=config.episodes, seed=seed, num_arms=config.arms,
                   noise=config.noise, reward_type=config.reward_type, horizon=config.horizon,
                   pooled=heldout, split="eval" if heldout else "train",
                   eval_pool_size=max(config.episodes * config.seeds, 64))
        if heldout:
            ids = env.eval_task_ids()[seed * config.episodes:(seed + 1) * config.episodes]
            return env, {"task_ids": ids}
        return env, None
    if config.env == "contextual_bandit":
        return make("contextual_bandit", num_envs=config.episodes, seed=seed,
                    num_arms=config.arms, horizon=config.horizon, split="eval"), None
    return make("tictactoe", num_envs=config.episodes, seed=seed,
                opponent=config.opponent), None


def build_agent(config: EvalConfig, env: Any) -> Agent:
    if config.agent != "llm":
        return make_agent(config.agent, **config.agent_kwargs())
    from rlft.agents.generation import SamplingConfig
    from rlft.agents.llm_agent import ExplorationConfig, LLMAgent
    from rlft.models import load_model_and_tokenizer

    model, tokenizer = load_model_and_tokenizer(config.model)
    model.eval()
    sampling = SamplingConfig(temperature=config.temperature,
                              max_new_tokens=config.max_new_tokens, batch_size=config.batch_size)
    exploration = ExplorationConfig(try_all=config.try_all, epsilon=config.epsilon,
                                    self_consistency=config.self_consistency,
                                    self_correction=config.self_correction)
    return LLMAgent(model, tokenizer, env, config.prompt, sampling, exploration,
                    keep_transcript=config.save_prompts)


class _Progress:
    """Forwards to an agent and advances a progress bar once per decision step."""

    def __init__(self, agent: Agent, bar: Any) -> None:
        self.agent, self.bar, self.name = agent, bar, agent.name

    def reset(self, num_envs: int, num_actions: int, seed: int) -> None:
        self.agent.reset(num_envs, num_actions, seed)

    def act(self, obs: Any, info: Any) -> np.ndarray:
        actions = self.agent.act(obs, info)
        self.bar.update(1)
        return actions

    def observe(self, *args: Any) -> None:
        self.agent.observe(*args)


def run_evaluation(config: EvalConfig, show_progress: bool = True) -> dict[str, Any]:
    """Runs every seed, writes the run directory and returns metrics.json's content."""
    from tqdm.auto import tqdm

    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    started = time.perf_counter()
    rollouts: list[Rollout] = []
    agent: Agent | None = None
    with open(out / "trajectories.jsonl", "w") as trajectories, \
            tqdm(total=config.seeds * config.horizon if config.env != "tictactoe" else None,
                 desc=f"eval {config.agent}", unit="step", disable=not show_progress) as bar:
        for seed in range(config.seeds):
            env, reset_options = build_env(config, seed)
            if agent is None:  # one agent (one model load) for all seeds
                agent = build_agent(config, env)
            elif config.agent == "llm":
                agent.env = env  # type: ignore[attr-defined]
            rollout = run_episodes(env, _Progress(agent, bar), num_episodes=1, seed=seed,
                                   reset_options=reset_options)
            transcript = getattr(agent, "transcript", None)
            if transcript:
                _merge_llm_invalid(rollout, transcript[-1])
            rollouts.append(rollout)
            for line in _trajectory_lines(seed, rollout, transcript[-1] if transcript else None):
                trajectories.write(json.dumps(line) + "\n")
    merged = concat_rollouts(rollouts)
    metrics = summarize(config, merged)
    metrics["wall_time_s"] = time.perf_counter() - started
    if agent is not None and hasattr(agent, "new_tokens"):
        metrics["generated_tokens"] = int(agent.new_tokens)  # type: ignore[attr-defined]
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    if config.env == "tictactoe":
        plot_outcomes({config.agent: metrics}, out / "outcomes.png")
    else:
        plot_regret_and_coverage({_label(config): metrics}, out)
    return metrics


def _label(config: EvalConfig) -> str:
    return f"llm ({config.model})" if config.agent == "llm" else config.agent


def summarize(config: EvalConfig, rollout: Rollout) -> dict[str, Any]:
    llm_invalid = rollout.invalid
    head = {"agent": _label(config), "env": config.env, "seeds": config.seeds,
            "episodes_per_seed": config.episodes}
    if config.env == "tictactoe":
        return {**head, **summarize_tic_tac_toe(rollout.returns, rollout.winner, llm_invalid,
                                                rollout.valid)}
    best_arm = rollout.best_arm if config.env == "mab" else None
    return {**head, **summarize_bandit(rollout.actions, rollout.rewards,
                                       rollout.cumulative_regret, rollout.num_actions,
                                       best_arm=best_arm, invalid=llm_invalid)}


def _merge_llm_invalid(rollout: Rollout, transcript: list) -> None:
    """The LLM agent's invalid answers (no parsable legal action: a random one was played)
    count as invalid steps, alongside any the env itself flagged."""
    num_rows = rollout.actions.shape[0]
    for index, record in enumerate(transcript):
        step, row = divmod(index, num_rows)
        if step < rollout.invalid.shape[1] and rollout.valid[row, step] and record.invalid:
            rollout.invalid[row, step] = True


def _trajectory_lines(seed: int, rollout: Rollout, transcript: list | None
                      ) -> Iterator[dict[str, Any]]:
    num_rows, num_steps = rollout.actions.shape
    for row in range(num_rows):
        for step in range(num_steps):
            if not rollout.valid[row, step]:
                continue
            line: dict[str, Any] = {
                "seed": seed, "episode": row, "step": step,
                "action": int(rollout.actions[row, step]),
                "reward": float(rollout.rewards[row, step]),
                "invalid": bool(rollout.invalid[row, step]),
            }
            regret = float(rollout.cumulative_regret[row, step])
            if not np.isnan(regret):
                line["regret"] = regret
            if transcript:
                record = transcript[step * num_rows + row]
                line.update(prompt=record.prompt, generation=record.generation,
                            parsed_action=record.parsed_action, status=record.status,
                            forced=record.forced, invalid=record.invalid)
            yield line
