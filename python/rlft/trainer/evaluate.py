"""Held-out evaluation of a policy next to classic baselines on the same instances.

Shaped return = env return + invalid_penalty x (steps without a valid action): the quantity
RL maximises, measured without reward normalisation so that every row is comparable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

from rlft.agents import make_agent, run_episodes
from rlft.agents.generation import SamplingConfig
from rlft.agents.llm_agent import LLMAgent
from rlft.analysis.metrics import mean_ci95
from rlft.envs import make
from rlft.text.prompts import PromptConfig
from rlft.trainer.config import TrainConfig
from rlft.trainer.rollout import collect_rollout


def prompt_config(config: TrainConfig) -> PromptConfig:
    bandit = config.env.name == "mab"
    return PromptConfig(variant=config.env.variant if bandit else "button", cot=config.env.cot,
                        history_window=config.env.history_window, summary=config.env.summary,
                        compact=config.env.compact_prompt and bandit,
                        observation_only=config.env.observation_only and bandit,
                        reward_decimals=config.env.reward_decimals)


def make_env(config: TrainConfig, num_envs: int, seed: int, split: str) -> Any:
    if config.env.name == "mab":
        return make("mab", num_envs=num_envs, seed=seed, num_arms=config.env.num_arms,
                    horizon=config.env.horizon, noise=config.env.noise,
                    reward_type=config.env.reward_type, pooled=True, split=split,
                    pool_size=config.env.pool_size, eval_pool_size=config.env.eval_pool_size)
    return make("tictactoe", num_envs=num_envs, seed=seed, opponent=config.env.opponent)


def heldout_options(config: TrainConfig, env: Any) -> dict[str, Any] | None:
    if config.env.name != "mab":
        return None
    return {"task_ids": env.eval_task_ids()[:config.eval.episodes]}


def _summary(shaped: np.ndarray, regret: np.ndarray | None, invalid: float,
             extra: dict[str, float]) -> dict[str, Any]:
    shaped_mean, shaped_ci = mean_ci95(shaped)
    out = {"shaped_return": float(shaped_mean), "shaped_return_ci95": float(shaped_ci),
           "invalid_rate": invalid, "episodes": int(shaped.size), **extra}
    if regret is not None:
        regret_mean, regret_ci = mean_ci95(regret)
        out.update(final_regret=float(regret_mean), final_regret_ci95=float(regret_ci))
    return out


def evaluate_policy(config: TrainConfig, lm: Any, tokenizer: Any,
                    synced_gpus: bool = False) -> dict[str, Any]:
    """The policy on the held-out instances (eval.seeds x eval.episodes episodes)."""
    shaped, regret, invalid, outcomes = [], [], [], []
    for seed in range(config.eval.seeds):
        env = make_env(config, config.eval.episodes, 10_000 + seed, "eval")
        sampling = SamplingConfig(temperature=config.eval.temperature,
                                  max_new_tokens=config.rollout.max_new_tokens,
                                  batch_size=config.rollout.generation_batch_size,
                                  max_prompt_tokens=config.rollout.max_prompt_tokens)
        agent = LLMAgent(lm, tokenizer, env, prompt_config(config), sampling,
                         invalid_penalty=config.algo.invalid_penalty, synced_gpus=synced_gpus)
        rollout = collect_rollout(env, agent, seed=10_000 + seed,
                                  reset_options=heldout_options(config, env))
        invalid_steps = np.zeros(rollout.num_rows)
        for t in rollout.transitions:
            invalid_steps[t.row] += t.invalid
        shaped.append(rollout.returns + config.algo.invalid_penalty * invalid_steps)
        regret.append(rollout.final_regret)
        invalid.append(rollout.invalid_rate)
        outcomes.append(rollout.winner)
    return _summary(np.concatenate(shaped),
                    np.concatenate(regret) if config.env.name == "mab" else None,
                    float(np.mean(invalid)), _ttt_extra(config, outcomes))


def evaluate_baseline(config: TrainConfig, name: str) -> dict[str, Any]:
    shaped, regret, outcomes = [], [], []
    for seed in range(config.eval.seeds):
        env = make_env(config, config.eval.episodes, 10_000 + seed, "eval")
        rollout = run_episodes(env, make_agent(name), seed=10_000 + seed,
                               reset_options=heldout_options(config, env))
        shaped.append(rollout.returns.astype(np.float64))
        regret.append(rollout.cumulative_regret[:, -1].astype(np.float64))
        outcomes.append(rollout.winner)
    return _summary(np.concatenate(shaped),
                    np.concatenate(regret) if config.env.name == "mab" else None, 0.0,
                    _ttt_extra(config, outcomes))


def _ttt_extra(config: TrainConfig, outcomes: list[np.ndarray]) -> dict[str, float]:
    if config.env.name != "tictactoe":
        return {}
    winner = np.concatenate(outcomes)
    return {"win_rate": float(np.mean(winner == 1)), "loss_rate": float(np.mean(winner == 2))}


def comparison_table(results: dict[str, dict[str, Any]]) -> str:
    """Markdown rows: invalid-action rate, mean shaped return and final regret (95% CI)."""
    has_regret = all("final_regret" in r for r in results.values())
    header = "| policy | episodes | invalid rate | shaped return (95% CI) |" + \
        (" final regret (95% CI) |" if has_regret else " win rate | loss rate |")
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for name, r in results.items():
        row = (f"| {name} | {r['episodes']} | {r['invalid_rate']:.3f} | "
               f"{r['shaped_return']:.2f} ± {r['shaped_return_ci95']:.2f} |")
        row += (f" {r['final_regret']:.2f} ± {r['final_regret_ci95']:.2f} |" if has_regret
                else f" {r['win_rate']:.2f} | {r['loss_rate']:.2f} |")
        lines.append(row)
    return "\n".join(lines) + "\n"


def finish_run(config: TrainConfig, engine: Any, tokenizer: Any, results: dict[str, Any],
               out: Path, world: Any, synced: bool,
               plot: Callable[[list[dict[str, Any]], Path], None]) -> dict[str, Any]:
    """The end of every training run (RL or SFT): the final policy and the baselines on the
    held-out instances, the export, then (rank 0) the training plot, results.json/.md and the
    printed comparison."""
    from rlft.trainer.checkpoint import export_policy

    engine.eval()
    results["final policy"] = evaluate_policy(config, engine.module.lm, tokenizer, synced)
    for name in config.eval.baselines:
        results[name] = evaluate_baseline(config, name)
    if config.run.export:
        export_policy(engine, tokenizer, out / "model", world.is_main, config.model.lora)
    table = comparison_table(results)
    if world.is_main:
        rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        if rows:
            plot(rows, out / "training.png")
        (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
        (out / "results.md").write_text(table)
        print(f"\nHeld-out evaluation ({config.eval.episodes} instances x {config.eval.seeds} "
              f"seeds, policy temperature {config.eval.temperature}):\n{table}")
        print(f"run directory: {out}")
    return results
