"""Held-out evaluation of a policy next to classic baselines on the same instances.

Every held-out episode is a distinct instance: seed s of ``eval.seeds`` plays held-out bandit
ids [s E, (s + 1) E) for E = ``eval.episodes`` (tic-tac-toe games are independent anyway), and
every policy plays the same ones. Means carry 95% intervals over instances, and the final
policy is compared with the starting one per instance (``rlft.analysis.stats``).

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
from rlft.analysis.stats import mean_ci95, paired_difference
from rlft.envs import make
from rlft.trainer.config import BANDITS, TrainConfig, env_options
from rlft.trainer.rollout import collect_rollout

# Per-instance metrics of a summary, by env: compared per instance between policies.
PER_INSTANCE = {"mab": ("final_regret", "coverage", "shaped_return"),
                "contextual_bandit": ("final_regret", "shaped_return"),
                "tictactoe": ("win", "loss", "shaped_return")}


def make_env(config: TrainConfig, num_envs: int, seed: int, split: str) -> Any:
    return make(config.env.name, num_envs=num_envs, seed=seed, **env_options(config, split))


def heldout_options(config: TrainConfig, env: Any, seed_index: int) -> dict[str, Any] | None:
    """The reset options of evaluation seed `seed_index`: its own slice of held-out ids."""
    if config.env.name != "mab":
        return None
    episodes = config.eval.episodes
    return {"task_ids": env.eval_task_ids()[seed_index * episodes:(seed_index + 1) * episodes]}


def summarize(per_instance: dict[str, np.ndarray], invalid_rate: float) -> dict[str, Any]:
    """Mean and 95% CI of every per-instance metric, the invalid-answer rate, and the
    per-instance values themselves (for paired comparisons)."""
    out: dict[str, Any] = {"invalid_rate": invalid_rate,
                           "instances": int(next(iter(per_instance.values())).size)}
    for name, values in per_instance.items():
        mean, ci = mean_ci95(values)
        out[name], out[f"{name}_ci95"] = float(mean), float(ci)
    out["per_instance"] = {name: values.tolist() for name, values in per_instance.items()}
    return out


def _per_instance(config: TrainConfig, shaped: list[np.ndarray], regret: list[np.ndarray],
                  coverage: list[np.ndarray], winner: list[np.ndarray]) -> dict[str, np.ndarray]:
    out = {"shaped_return": np.concatenate(shaped)}
    if config.env.name in BANDITS:
        out.update(final_regret=np.concatenate(regret), coverage=np.concatenate(coverage))
    else:
        outcome = np.concatenate(winner)
        out.update(win=(outcome == 1).astype(np.float64), loss=(outcome == 2).astype(np.float64))
    return {name: out[name] for name in PER_INSTANCE[config.env.name]}


def evaluate_policy(config: TrainConfig, lm: Any, tokenizer: Any,
                    synced_gpus: bool = False) -> dict[str, Any]:
    """The policy on the held-out instances (eval.seeds x eval.episodes distinct ones)."""
    shaped, regret, coverage, winner, invalid = [], [], [], [], []
    for seed in range(config.eval.seeds):
        env = make_env(config, config.eval.episodes, 10_000 + seed, "eval")
        sampling = SamplingConfig(temperature=config.eval.temperature,
                                  max_new_tokens=config.rollout.max_new_tokens,
                                  batch_size=config.rollout.generation_batch_size,
                                  max_prompt_tokens=config.rollout.max_prompt_tokens)
        agent = LLMAgent(lm, tokenizer, env, config.prompt, sampling,
                         invalid_penalty=config.algo.invalid_penalty, synced_gpus=synced_gpus)
        rollout = collect_rollout(env, agent, seed=10_000 + seed,
                                  reset_options=heldout_options(config, env, seed))
        invalid_steps = np.zeros(rollout.num_rows)
        for t in rollout.transitions:
            invalid_steps[t.row] += t.invalid
        shaped.append(rollout.returns + config.algo.invalid_penalty * invalid_steps)
        regret.append(rollout.final_regret)
        coverage.append(rollout.coverage)
        winner.append(rollout.winner)
        invalid.extend(t.invalid for t in rollout.transitions)
    return summarize(_per_instance(config, shaped, regret, coverage, winner),
                     float(np.mean(invalid)))


def evaluate_baseline(config: TrainConfig, name: str) -> dict[str, Any]:
    shaped, regret, coverage, winner = [], [], [], []
    for seed in range(config.eval.seeds):
        env = make_env(config, config.eval.episodes, 10_000 + seed, "eval")
        rollout = run_episodes(env, make_agent(name), seed=10_000 + seed,
                               reset_options=heldout_options(config, env, seed))
        shaped.append(rollout.returns.astype(np.float64))
        regret.append(rollout.cumulative_regret[:, -1].astype(np.float64))
        tried = (rollout.actions[..., None] == np.arange(rollout.num_actions)) \
            & rollout.valid[..., None]
        coverage.append(tried.any(axis=1).mean(axis=1))
        winner.append(rollout.winner)
    return summarize(_per_instance(config, shaped, regret, coverage, winner), 0.0)


def paired_comparisons(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Final policy minus starting policy, per instance, for every per-instance metric both
    have (empty when either is missing)."""
    start, final = results.get("start policy"), results.get("final policy")
    if start is None or final is None:
        return {}
    return {name: paired_difference(final["per_instance"][name],
                                    start["per_instance"][name]).to_dict()
            for name in final["per_instance"] if name in start["per_instance"]}


_COLUMNS = {"final_regret": "final regret", "coverage": "coverage at T",
            "shaped_return": "shaped return", "win": "win rate", "loss": "loss rate"}


def comparison_table(results: dict[str, dict[str, Any]]) -> str:
    """Markdown: one row per policy (invalid-answer rate, then every per-instance metric's mean
    with its 95% CI), and the paired final-minus-start differences with their 95% CIs."""
    metrics = list(next(iter(results.values()))["per_instance"])
    header = "| policy | instances | invalid rate | " + \
        " | ".join(f"{_COLUMNS[m]} (95% CI)" for m in metrics) + " |"
    lines = [header, "|" + "---|" * (3 + len(metrics))]
    for name, r in results.items():
        cells = [f"{r[m]:.2f} ± {r[f'{m}_ci95']:.2f}" for m in metrics]
        lines.append(f"| {name} | {r['instances']} | {r['invalid_rate']:.3f} | "
                     + " | ".join(cells) + " |")
    paired = paired_comparisons(results)
    if paired:
        lines += ["", "Final policy minus starting policy, paired per instance:", "",
                  "| metric | mean difference | 95% CI | CI excludes 0 |", "|---|---|---|---|"]
        for metric, d in paired.items():
            lines.append(f"| {_COLUMNS[metric]} | {d['mean']:+.3f} | {d['ci_low']:+.3f} to "
                         f"{d['ci_high']:+.3f} | {'yes' if d['excludes_zero'] else 'no'} |")
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
        (out / "results.json").write_text(json.dumps(
            {"policies": results, "paired": paired_comparisons(results),
             "eval": {"instances": config.eval.episodes * config.eval.seeds,
                      "temperature": config.eval.temperature}}, indent=2) + "\n")
        (out / "results.md").write_text(table)
        print(f"\nHeld-out evaluation ({config.eval.episodes * config.eval.seeds} distinct "
              f"instances, policy temperature {config.eval.temperature}):\n{table}")
        print(f"run directory: {out}")
    return results
