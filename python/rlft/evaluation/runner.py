"""The one evaluation: an agent on seeded env instances, measured per instance. It is what
``rlft eval`` runs and what the trainer's start and end comparisons run, so both give the same
numbers for the same policy, instances and seeds.

RUN_DIR/ (``rlft eval``)
  config.json         the EvalConfig
  metrics.json        summary numbers, per-instance values and per-step curves
  trajectories.jsonl  one line per (seed, episode, step): action, reward, regret, and for the
                      LLM agent the prompt, generation, parsed action and parse status
  regret.png, coverage.png (bandits) / outcomes.png (tic-tac-toe)
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from rlft.agents import Rollout, make_agent, run_episodes
from rlft.agents.base import Agent
from rlft.agents.rollout import concat_rollouts
from rlft.analysis.metrics import summarize_bandit, summarize_tic_tac_toe
from rlft.analysis.plots import plot_outcomes, plot_regret_and_coverage
from rlft.analysis.stats import mean_ci95
from rlft.envs import make
from rlft.evaluation.config import EvalConfig

# The per-instance metrics of each env: every summary has their means, 95% CIs and values, so
# that two policies evaluated on the same instances can be compared instance by instance.
PER_INSTANCE = {"mab": ("final_regret", "coverage_final", "shaped_return"),
                "contextual_bandit": ("final_regret", "shaped_return"),
                "tictactoe": ("return", "win_rate", "draw_rate", "loss_rate", "illegal_rate",
                              "shaped_return")}


def build_env(config: EvalConfig, seed: int) -> tuple[Any, dict[str, Any] | None]:
    """The env of one seed and the reset options that pick its instances: every seed plays
    instances of its own (held-out ids [seed E, (seed + 1) E) for E episodes, or fresh ones),
    so that the confidence intervals are over distinct instances."""
    if config.env == "mab":
        heldout = config.instances == "heldout"
        env = make("mab", num_envs=config.episodes, seed=seed, num_arms=config.arms,
                   noise=config.noise, reward_type=config.reward_type, horizon=config.horizon,
                   pooled=heldout, split="eval" if heldout else "train",
                   pool_size=config.pool_size,
                   eval_pool_size=max(config.episodes * config.seeds, 64))
        if heldout:
            ids = env.eval_task_ids()[seed * config.episodes:(seed + 1) * config.episodes]
            return env, {"task_ids": ids}
        return env, None
    if config.env == "contextual_bandit":
        return make("contextual_bandit", num_envs=config.episodes, seed=seed,
                    num_arms=config.arms, horizon=config.horizon, split="eval",
                    data_dir=config.data_dir), None
    return make("tictactoe", num_envs=config.episodes, seed=seed,
                opponent=config.opponent), None


def llm_agent(config: EvalConfig, env: Any, model: Any, tokenizer: Any,
              synced_gpus: bool = False) -> Agent:
    """The LLM agent with the config's prompt, sampling and exploration settings."""
    from rlft.agents.generation import SamplingConfig
    from rlft.agents.llm_agent import ExplorationConfig, LLMAgent

    sampling = SamplingConfig(temperature=config.temperature,
                              max_new_tokens=config.max_new_tokens, batch_size=config.batch_size,
                              max_prompt_tokens=config.max_prompt_tokens)
    exploration = ExplorationConfig(try_all=config.try_all, epsilon=config.epsilon,
                                    self_consistency=config.self_consistency,
                                    self_correction=config.self_correction)
    return LLMAgent(model, tokenizer, env, config.prompt, sampling, exploration,
                    synced_gpus=synced_gpus)


def per_instance(config: EvalConfig, rollout: Rollout) -> dict[str, np.ndarray]:
    """float64[N] per episode for each of the env's PER_INSTANCE metrics. The shaped return is
    the env return plus the invalid penalty for every step without a valid action; a game's
    return is +1 won, 0 drawn, -1 lost (the paper's P(win) - P(loss) when averaged), and its
    illegal rate the share of the agent's moves that were not a legal action."""
    invalid_steps = (rollout.invalid & rollout.valid).sum(axis=1)
    returns = rollout.returns.astype(np.float64)
    values = {"shaped_return": returns + config.invalid_penalty * invalid_steps,
              "return": returns,
              "final_regret": rollout.final_regret, "coverage_final": rollout.coverage,
              "illegal_rate": invalid_steps / np.maximum(rollout.valid.sum(axis=1), 1),
              "win_rate": (rollout.winner == 1).astype(np.float64),
              "draw_rate": (rollout.winner == 0).astype(np.float64),
              "loss_rate": (rollout.winner == 2).astype(np.float64)}
    return {name: values[name] for name in PER_INSTANCE[config.env]}


def summarize(config: EvalConfig, rollout: Rollout) -> dict[str, Any]:
    """metrics.json: the env's summary (rlft.analysis.metrics), each per-instance metric's
    mean and 95% CI over instances, and the per-instance values."""
    head = {"agent": _label(config), "env": config.env, "seeds": config.seeds,
            "episodes_per_seed": config.episodes}
    if config.env == "tictactoe":
        summary = summarize_tic_tac_toe(rollout.returns, rollout.winner, rollout.invalid,
                                        rollout.valid)
    else:
        best_arm = rollout.best_arm if config.env == "mab" else None
        summary = summarize_bandit(rollout.actions, rollout.rewards, rollout.cumulative_regret,
                                   rollout.num_actions, best_arm=best_arm,
                                   invalid=rollout.invalid)
    values = per_instance(config, rollout)
    for name, value in values.items():
        mean, ci = mean_ci95(value)
        summary[name], summary[f"{name}_ci95"] = float(mean), float(ci)
    summary["per_instance"] = {name: value.tolist() for name, value in values.items()}
    return {**head, **summary}


def play_evaluation(config: EvalConfig, agent_for: Callable[[Any], Agent],
                    any_active: Callable[[bool], bool] = bool,
                    on_seed: Callable[[int, Rollout], None] | None = None,
                    sharded: bool = False, lockstep: bool = False
                    ) -> tuple[dict[str, Any], Rollout]:
    """Plays every seed's instances with agent_for(env) and returns the summary and the
    episodes (seed-major). on_seed(seed, rollout) sees each seed's episodes as they end.

    sharded (several torch.distributed ranks): rank r plays seeds r, r + W, ... and every
    rank gets all seeds' episodes, without their text records, so the summary is the one a
    single process gives (each seed's play depends on its seed alone). lockstep: every rank
    plays as many seeds (one past the end repeats the last seed and is dropped), for
    processes that must make the same forwards (ZeRO-3 without gathered weights)."""
    import torch.distributed as dist

    rank, size = 0, 1
    if sharded and dist.is_available() and dist.is_initialized():
        rank, size = dist.get_rank(), dist.get_world_size()
    rounds = -(-config.seeds // size)
    played: dict[int, Rollout] = {}
    for seed in range(rank, rounds * size, size):
        if seed >= config.seeds and not lockstep:
            break
        env, reset_options = build_env(config, min(seed, config.seeds - 1))
        rollout = run_episodes(env, agent_for(env), seed=min(seed, config.seeds - 1),
                               reset_options=reset_options, any_active=any_active)
        if seed >= config.seeds:
            continue
        if on_seed is not None:
            on_seed(seed, rollout)
        played[seed] = rollout
    if size > 1:
        everyone: list[Any] = [None] * size
        dist.all_gather_object(everyone, {seed: dataclasses.replace(rollout, steps=None)
                                          for seed, rollout in played.items()})
        played = {seed: rollout for part in everyone for seed, rollout in part.items()}
    merged = concat_rollouts([played[seed] for seed in range(config.seeds)])
    return summarize(config, merged), merged


def run_evaluation(config: EvalConfig, show_progress: bool = True) -> dict[str, Any]:
    """Runs every seed, writes the run directory and returns metrics.json's content."""
    from tqdm.auto import tqdm

    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    started = time.perf_counter()
    agents: list[Agent] = []
    model: list[Any] = []

    def agent_for(env: Any) -> Agent:
        if config.agent != "llm":
            agent: Agent = make_agent(config.agent, **config.agent_kwargs())
        else:
            if not model:  # one model load for all seeds
                from rlft.models import load_model_and_tokenizer

                model.extend(load_model_and_tokenizer(config.model, dtype=config.dtype,
                                                      device=config.device))
                model[0].eval()
            agent = llm_agent(config, env, *model)
        agents.append(agent)
        return _Progress(agent, bar)

    with open(out / "trajectories.jsonl", "w") as trajectories, \
            tqdm(total=config.seeds * config.horizon if config.env != "tictactoe" else None,
                 desc=f"eval {config.agent}", unit="step", disable=not show_progress) as bar:
        def write(seed: int, rollout: Rollout) -> None:
            for line in _trajectory_lines(seed, rollout, config.save_prompts):
                trajectories.write(json.dumps(line) + "\n")

        metrics, _ = play_evaluation(config, agent_for, on_seed=write)
    metrics["wall_time_s"] = time.perf_counter() - started
    if config.agent == "llm":
        metrics["generated_tokens"] = int(sum(agent.new_tokens for agent in agents))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    if config.env == "tictactoe":
        plot_outcomes({config.agent: metrics}, out / "outcomes.png")
    else:
        plot_regret_and_coverage({_label(config): metrics}, out)
    return metrics


def _label(config: EvalConfig) -> str:
    return f"llm ({config.model})" if config.agent == "llm" else config.agent


class _Progress:
    """Forwards to an agent and advances a progress bar once per decision step."""

    def __init__(self, agent: Agent, bar: Any) -> None:
        self.agent, self.bar, self.name = agent, bar, agent.name

    def reset(self, num_envs: int, num_actions: int, seed: int) -> None:
        self.agent.reset(num_envs, num_actions, seed)

    def act(self, obs: Any, info: Any) -> Any:
        decision = self.agent.act(obs, info)
        self.bar.update(1)
        return decision

    def observe(self, *args: Any) -> None:
        self.agent.observe(*args)


def _trajectory_lines(seed: int, rollout: Rollout, with_text: bool) -> Iterator[dict[str, Any]]:
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
            record = rollout.steps[row][step] if rollout.steps is not None else None
            if record is not None and with_text:
                line.update(prompt=record.prompt, generation=record.generation,
                            parsed_action=record.parsed_action, status=record.status,
                            forced=record.forced)
            yield line
