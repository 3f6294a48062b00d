"""Greediness (paper Fig. 3): how many arms does the policy ever try?

Per setting (arms K x CoT or not) the policy plays ``episodes`` seeded bandit instances for T
steps with the evaluation harness' rollout loop. Reported per setting:

* coverage C_t = |{a : N_t(a) > 0}| / K per step, mean and 95% CI over instances;
* the share of unexplored actions at T (1 - C_T) and the mean number of untried arms;
* cumulative regret against coverage (per instance at T, and the mean curve over steps);
* ``coverage_model_*``: coverage counting only steps whose action the model itself wrote.
  An LLM's unparsable answer is replaced by a uniformly random action (the paper's rule),
  which explores for it; this column shows the exploration that is the model's own.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any, Callable

import numpy as np

from rlft.agents import make_agent
from rlft.analysis.config import GreedinessConfig
from rlft.analysis.metrics import action_coverage, mean_ci95
from rlft.analysis.playing import (AgentFactory, generation_grid, llm_agent, load_policy,
                                   play, prepare_run_dir, write_json)


def greediness_metrics(actions: Any, cumulative_regret: Any, num_actions: int,
                       model_chose: Any = None) -> dict[str, Any]:
    """Coverage, unexplored share and regret of N episodes of T steps.

    actions int[N, T]; cumulative_regret float[N, T]; model_chose bool[N, T] marks steps whose
    action came from the policy itself (None: all of them).
    """
    actions = np.asarray(actions)
    coverage = action_coverage(actions, num_actions)  # [N, T]
    regret = np.asarray(cumulative_regret, dtype=np.float64)
    if regret.shape != actions.shape:
        raise ValueError(f"cumulative_regret shape {regret.shape} != actions shape "
                         f"{actions.shape}")
    model_coverage = coverage if model_chose is None else \
        action_coverage(actions, num_actions, counted=model_chose)  # [N, T]
    cov_mean, cov_ci = mean_ci95(coverage)
    model_mean, _ = mean_ci95(model_coverage)
    regret_mean, regret_ci = mean_ci95(regret)
    final_coverage = coverage[:, -1]
    return {
        "num_episodes": int(actions.shape[0]),
        "horizon": int(actions.shape[1]),
        "num_actions": int(num_actions),
        "coverage_final": float(cov_mean[-1]),
        "coverage_final_ci95": float(cov_ci[-1]),
        "unexplored_share": float(1.0 - cov_mean[-1]),
        "untried_arms_mean": float(np.mean(num_actions * (1.0 - final_coverage))),
        "coverage_model_final": float(model_mean[-1]),
        "model_chose_rate": 1.0 if model_chose is None else float(np.mean(model_chose)),
        "final_regret": float(regret_mean[-1]),
        "final_regret_ci95": float(regret_ci[-1]),
        "coverage": cov_mean.tolist(),
        "coverage_ci95": cov_ci.tolist(),
        "coverage_model": model_mean.tolist(),
        "regret_mean": regret_mean.tolist(),
        "episode_final_coverage": final_coverage.tolist(),
        "episode_final_regret": regret[:, -1].tolist(),
    }


def setting_name(arms: int, cot: str) -> str:
    return f"K{arms}" if cot == "none" else f"K{arms}_{cot}"


def _default_factory(config: GreedinessConfig, arms: int, cot: str,
                     policy: list[Any]) -> AgentFactory:
    """The configured agent: the LLM (loaded once, kept in ``policy``) or a classic one."""
    if config.agent != "llm":
        return lambda env, seed: make_agent(config.agent, **config.agent_kwargs())

    def build(env: Any, seed: int) -> Any:
        if not policy:
            policy.extend(load_policy(config))
        model, tokenizer = policy
        budget = config.max_new_tokens if cot == "cot" else config.no_cot_max_new_tokens
        prompt = dataclasses.replace(config.prompt, cot=cot == "cot",
                                     answer_prefix=cot == "no_cot_prefix")
        return llm_agent(model, tokenizer, env, prompt=prompt, max_new_tokens=budget,
                         temperature=config.temperature, batch_size=config.batch_size,
                         extra_patterns=config.answer_pattern)
    return build


def run_greediness(config: GreedinessConfig,
                   agent_factory: Callable[[int, str], AgentFactory] | None = None,
                   show_progress: bool = True) -> dict[str, Any]:
    """Runs every (arms, cot) setting and writes the run directory; returns metrics.json.

    agent_factory(arms, cot) -> AgentFactory replaces the configured agent (tests use
    scripted agents whose coverage is known exactly).
    """
    out = prepare_run_dir(config)
    started = time.perf_counter()
    policy: list[Any] = []
    settings: dict[str, dict[str, Any]] = {}
    result: dict[str, Any] = {}
    generations_file = open(out / "generations.jsonl", "w") if config.save_generations else None
    try:
        # A classic agent reads no prompt: one setting per arm count.
        prompts = config.cot_settings if config.agent == "llm" or agent_factory else ["none"]
        for arms in config.arms:
            for cot in prompts:
                name = setting_name(arms, cot)
                factory = (agent_factory(arms, cot) if agent_factory is not None
                           else _default_factory(config, arms, cot, policy))
                setting_started = time.perf_counter()
                rollout = play(
                    config, factory, arms, config.episodes, config.horizon, config.seeds,
                    progress=(lambda text, name=name: print(f"[greediness {name}] {text}",
                                                            flush=True))
                    if show_progress else None)
                model_chose = ~rollout.invalid
                metrics = greediness_metrics(rollout.actions, rollout.cumulative_regret, arms,
                                             model_chose)
                metrics.update(arms=arms, cot=cot, invalid_rate=float(rollout.invalid.mean()),
                               wall_time_s=time.perf_counter() - setting_started)
                settings[name] = metrics
                if generations_file is not None:
                    _write_generations(generations_file, name, rollout)
                    generations_file.flush()
                # Written after every setting, so a run cut short keeps what it finished.
                result = {"analysis": "greediness", "agent": _agent_label(config),
                          "answer_patterns": ["ACTION={action}", *config.answer_pattern],
                          "settings": settings, "wall_time_s": time.perf_counter() - started}
                _write_outputs(out, result)
    finally:
        if generations_file is not None:
            generations_file.close()
    return result


def _write_outputs(out: Any, result: dict[str, Any]) -> None:
    from rlft.analysis.plots import plot_coverage_by_step, plot_regret_vs_coverage
    from rlft.analysis.summary import greediness_summary

    write_json(out / "metrics.json", result)
    settings = result["settings"]
    figures = [plot_coverage_by_step(settings, out / "coverage_by_step.png"),
               plot_regret_vs_coverage(settings, out / "regret_vs_coverage.png")]
    (out / "summary.md").write_text(greediness_summary(result, [f.name for f in figures]))


def _agent_label(config: GreedinessConfig) -> str:
    return f"llm ({config.model})" if config.agent == "llm" else config.agent


def _write_generations(handle: Any, name: str, rollout: Any) -> None:
    grid = generation_grid(rollout)
    for episode, row in enumerate(grid):
        for step, record in enumerate(row):
            if record is None:
                continue
            handle.write(json.dumps({
                "setting": name, "episode": episode, "step": step, "prompt": record.prompt,
                "generation": record.generation, "status": record.status,
                "action": int(rollout.actions[episode, step]),
                "invalid": record.invalid}) + "\n")
