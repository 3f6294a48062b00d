"""The trainer's held-out comparison: the policy at the start and the end of a run next to
classic baselines, all on the same instances, through the one evaluation that ``rlft eval``
runs (``rlft.evaluation.runner``): ``eval_config_of`` is that evaluation's config, and the
export carries it, so ``rlft eval --model RUN/model`` reproduces the final policy's row.

Every held-out episode is a distinct instance: seed s of ``eval.seeds`` plays held-out bandit
ids [s E, (s + 1) E) for E = ``eval.episodes`` (tic-tac-toe games are independent anyway).
Means carry 95% intervals over instances, and the final policy is compared with the starting
one per instance (``rlft.analysis.stats``).

Shaped return = env return + invalid_penalty x (steps without a valid action): the quantity
RL maximises, measured without reward normalisation so that every row is comparable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from rlft.analysis.stats import paired_difference
from rlft.envs import make
from rlft.evaluation.config import EvalConfig, save_policy_eval
from rlft.evaluation.runner import llm_agent, play_evaluation
from rlft.trainer.config import TrainConfig, env_options
from rlft.trainer.rank_agreement import check_end


def make_env(config: TrainConfig, num_envs: int, seed: int, split: str) -> Any:
    return make(config.env.name, num_envs=num_envs, seed=seed, **env_options(config, split))


def eval_config_of(config: TrainConfig, agent: str = "llm") -> EvalConfig:
    """The held-out evaluation of a run, as ``rlft eval`` runs it, in the run's dtype."""
    from rlft.trainer.engine import use_bf16

    env = config.env
    return EvalConfig(
        agent=agent, env=env.name, episodes=config.eval.episodes, seeds=config.eval.seeds,
        arms=env.num_arms, noise=env.noise, reward_type=env.reward_type, horizon=env.horizon,
        instances="heldout", pool_size=env.pool_size, data_dir=env.data_dir,
        opponent=env.opponent, prompt=config.prompt,
        max_new_tokens=config.rollout.max_new_tokens, temperature=config.eval.temperature,
        batch_size=config.rollout.generation_batch_size,
        max_prompt_tokens=config.rollout.max_prompt_tokens,
        invalid_penalty=config.algo.invalid_penalty, save_prompts=False,
        dtype="bfloat16" if use_bf16(config) else "float32")


def evaluate_policy(config: TrainConfig, lm: Any, tokenizer: Any, synced_gpus: bool = False,
                    any_active: Callable[[bool], bool] = bool) -> dict[str, Any]:
    """The policy `lm` on the held-out instances, the seeds shared out among the ranks
    (synced_gpus: in lock-step, see play_evaluation)."""
    evaluation = eval_config_of(config)
    summary, _ = play_evaluation(
        evaluation, lambda env: llm_agent(evaluation, env, lm, tokenizer, synced_gpus),
        any_active, sharded=True, lockstep=synced_gpus)
    return summary


def evaluate_baseline(config: TrainConfig, name: str) -> dict[str, Any]:
    """A classic agent (eval.baselines) on the same held-out instances, the seeds shared out
    among the ranks."""
    evaluation = eval_config_of(config, agent=name)
    from rlft.agents import make_agent

    summary, _ = play_evaluation(evaluation, lambda env: make_agent(name), sharded=True)
    return summary


def paired_comparisons(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Final policy minus starting policy, per instance, for every per-instance metric both
    have (empty when either is missing)."""
    start, final = results.get("start policy"), results.get("final policy")
    if start is None or final is None:
        return {}
    return {name: paired_difference(final["per_instance"][name],
                                    start["per_instance"][name]).to_dict()
            for name in final["per_instance"] if name in start["per_instance"]}


_COLUMNS = {"final_regret": "final regret", "coverage_final": "coverage at T",
            "shaped_return": "shaped return", "return": "return", "win_rate": "win rate",
            "draw_rate": "draw rate", "loss_rate": "loss rate", "illegal_rate": "illegal moves"}


def comparison_table(results: dict[str, dict[str, Any]]) -> str:
    """Markdown: one row per policy (invalid-answer rate, then every per-instance metric's mean
    with its 95% CI), and the paired final-minus-start differences with their 95% CIs."""
    metrics = list(next(iter(results.values()))["per_instance"])
    header = "| policy | instances | invalid rate | " + \
        " | ".join(f"{_COLUMNS[m]} (95% CI)" for m in metrics) + " |"
    lines = [header, "|" + "---|" * (3 + len(metrics))]
    for name, r in results.items():
        cells = [f"{r[m]:.2f} ± {r[f'{m}_ci95']:.2f}" for m in metrics]
        lines.append(f"| {name} | {r['num_episodes']} | {r['invalid_rate']:.3f} | "
                     + " | ".join(cells) + " |")
    paired = paired_comparisons(results)
    if paired:
        lines += ["", "Final policy minus starting policy, paired per instance:", "",
                  "| metric | mean difference | 95% CI | CI excludes 0 |", "|---|---|---|---|"]
        for metric, d in paired.items():
            lines.append(f"| {_COLUMNS[metric]} | {d['mean']:+.3f} | {d['ci_low']:+.3f} to "
                         f"{d['ci_high']:+.3f} | {'yes' if d['excludes_zero'] else 'no'} |")
    return "\n".join(lines) + "\n"


def change_in_words(results: dict[str, dict[str, Any]]) -> str:
    """One line on what the run changed, e.g. 'coverage 0.34 -> 0.71, regret 3.10 -> 2.40
    (paired diff -0.70, 95% CI -0.90 to -0.50)'."""
    start, final = results.get("start policy"), results.get("final policy")
    if start is None or final is None:
        return ""
    paired = paired_comparisons(results)
    names = {"coverage_final": "coverage", "final_regret": "regret", "return": "return",
             "win_rate": "win rate", "loss_rate": "loss rate"}
    parts = [f"invalid {start['invalid_rate']:.2f} -> {final['invalid_rate']:.2f}"]
    for metric in ("coverage_final", "final_regret", "return", "win_rate", "loss_rate"):
        if metric in paired:
            d = paired[metric]
            parts.append(f"{names[metric]} {start[metric]:.2f} -> {final[metric]:.2f} (paired "
                         f"diff {d['mean']:+.2f}, 95% CI {d['ci_low']:+.2f} to "
                         f"{d['ci_high']:+.2f})")
    return "start -> final policy: " + ", ".join(parts)


def save_results(config: TrainConfig, results: dict[str, Any], out: Path) -> None:
    """results.json: the evaluated policies so far, their paired differences and the
    evaluation's config. Written after the start evaluation too, so that a run stopped from
    outside still shows it."""
    (out / "results.json").write_text(json.dumps(
        {"policies": results, "paired": paired_comparisons(results),
         "eval": eval_config_of(config).to_dict()}, indent=2) + "\n")


def finish_run(config: TrainConfig, engine: Any, tokenizer: Any, results: dict[str, Any],
               out: Path, world: Any, evaluate: Callable[[Any], dict[str, Any]],
               plot: Callable[[list[dict[str, Any]], Path], None]) -> dict[str, Any]:
    """The end of every training run (RL or SFT): the ranks' check that they trained one
    model, the final policy (`evaluate(lm)`) and the baselines on the held-out instances,
    the export (which carries its evaluation), then
    (rank 0) the training plot, results.json/.md, for bandits the regret and coverage curves
    of every policy (regret.png, coverage.png), and the printed comparison."""
    from rlft.trainer.checkpoint import export_policy

    check_end(engine, config.engine.zero_stage, world)
    engine.eval()
    results["final policy"] = evaluate(engine.module.lm)
    for name in config.eval.baselines:
        results[name] = evaluate_baseline(config, name)
    if config.run.export:
        exported = export_policy(engine, tokenizer, out / "model", world.is_main,
                                 config.model.lora)
        if exported is not None:
            save_policy_eval(eval_config_of(config), exported)
    table = comparison_table(results)
    words = change_in_words(results)
    if world.is_main:
        rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        if rows:
            plot(rows, out / "training.png")
        save_results(config, results, out)
        figures = ""
        if all("regret_mean" in summary for summary in results.values()):  # bandits
            from rlft.analysis.plots import plot_regret_and_coverage

            plot_regret_and_coverage(results, out)
            figures = ("\nRegret and coverage by step, every policy: [regret.png](regret.png), "
                       "[coverage.png](coverage.png)\n")
        (out / "results.md").write_text(table + (f"\n{words}\n" if words else "") + figures)
        print(f"\nHeld-out evaluation ({config.eval.episodes * config.eval.seeds} distinct "
              f"instances, policy temperature {config.eval.temperature}):\n{table}")
        print(f"run directory: {out}")
        if words:
            print(words)
    return results
