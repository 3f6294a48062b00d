"""The end of a bandit run: the paper's greediness and knowing-doing analyses (``rlft.analysis``,
the code behind ``rlft analyze``) on the starting and the final policy, at small sizes, in the
run directory, so that a run shows how its policy explores and not only what it scores.

Both analyses play the run's own env (arms, horizon, noise) with the run's prompt and
evaluation temperature, on instances of their own seeds (the held-out comparison is the
trainer's table). Greediness: action coverage by step, with the run's CoT setting.
Knowing-doing: the UCB-instructed prompt; a policy never taught to write <ucb_values> writes
none, and the analysis says so in its metrics (values parsed in 0 of its steps). Frequency
bias: the paper's contexts (random histories whose last action is repeated 0-100 times, every
FREQUENCY_REPETITION_STEP), on the run's arms; a CoT policy is read from FREQUENCY_SAMPLES
sampled answers per context, a no-CoT one by teacher forcing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


FREQUENCY_REPETITION_STEP = 10
FREQUENCY_SAMPLES = 4


def analyse_policies(config: Any, policies: dict[str, str], out: Path) -> dict[str, Any]:
    """Runs config.eval.analyses on each policy (label -> model directory or preset) into
    out/analysis/<label>/<analysis>; returns {label: {analysis: headline numbers}}."""
    import torch

    from rlft.analysis.config import FrequencyBiasConfig, GreedinessConfig, KnowingDoingConfig
    from rlft.analysis.frequency_bias import run_frequency_bias
    from rlft.analysis.greediness import run_greediness, setting_name
    from rlft.analysis.knowing_doing import run_knowing_doing
    from rlft.trainer.engine import use_bf16

    env, rollout = config.env, config.rollout
    common = dict(prompt=config.prompt, noise=env.noise, episodes=config.eval.analysis_episodes,
                  horizon=env.horizon, temperature=config.eval.temperature,
                  batch_size=rollout.generation_batch_size, seed=config.run.seed,
                  device="cuda" if torch.cuda.is_available() else "cpu",
                  # The run's dtype: two fp32 copies beside a bf16 engine would not fit a 9B.
                  dtype="bfloat16" if use_bf16(config) else "float32")
    cot = "cot" if config.prompt.cot else "no_cot"
    headlines: dict[str, Any] = {}
    for label, model in policies.items():
        headlines[label] = {}
        where = out / "analysis" / label
        if "greediness" in config.eval.analyses:
            result = run_greediness(GreedinessConfig(
                model=model, out=str(where / "greediness"), arms=[env.num_arms],
                cot_settings=[cot], max_new_tokens=rollout.max_new_tokens,
                no_cot_max_new_tokens=rollout.max_new_tokens, **common), show_progress=False)
            metrics = result["settings"][setting_name(env.num_arms, cot)]
            headlines[label]["greediness"] = {
                "coverage_by_step": metrics["coverage"], "final_regret": metrics["final_regret"],
                "invalid_rate": metrics["invalid_rate"]}
        if "knowing_doing" in config.eval.analyses:
            metrics = run_knowing_doing(KnowingDoingConfig(
                model=model, out=str(where / "knowing_doing"), arms=env.num_arms,
                max_new_tokens=rollout.max_new_tokens, **common), show_progress=False)
            headlines[label]["knowing_doing"] = {
                key: metrics[key] for key in ("values_parsed_rate", "correct_rationale_rate",
                                              "invalid_rate")}
        if "frequency_bias" in config.eval.analyses:
            metrics = run_frequency_bias(FrequencyBiasConfig(
                model=model, out=str(where / "frequency_bias"), arms=env.num_arms,
                num_targets=min(5, env.num_arms), prompt=config.prompt, noise=env.noise,
                seed=config.run.seed, batch_size=rollout.generation_batch_size,
                device=common["device"], dtype=common["dtype"],
                repetition_step=FREQUENCY_REPETITION_STEP,
                samples=FREQUENCY_SAMPLES if config.prompt.cot else 0,
                temperature=config.eval.temperature or 1.0,
                max_new_tokens=rollout.max_new_tokens), show_progress=False)
            headlines[label]["frequency_bias"] = {
                "buckets": metrics["buckets"], "overall": metrics["overall"],
                "scoring": "sampled" if config.prompt.cot else "teacher-forced"}
    return headlines


def analyses_markdown(headlines: dict[str, Any]) -> str:
    """results.md's section: a row per policy with the headline numbers and figure links."""
    lines = ["", "## Analyses (`rlft analyze`, small sizes, in analysis/)", "",
             "| policy | analysis | numbers | figures |", "|---|---|---|---|"]
    figures = {"greediness": ("coverage_by_step.png", "regret_vs_coverage.png"),
               "knowing_doing": ("matrix.png",),
               "frequency_bias": ("fractions.png", "entropy_vs_repetitions.png")}
    for label, parts in headlines.items():
        for name, part in parts.items():
            if name == "greediness":
                numbers = (f"coverage at T {part['coverage_by_step'][-1]:.2f}, regret "
                           f"{part['final_regret']:.2f}, invalid {part['invalid_rate']:.2f}")
            elif name == "frequency_bias":
                low = part["buckets"]["0-10"]
                numbers = (f"at 0-10 repetitions: frequent {low['frequent']:.2f}, greedy "
                           f"{low['greedy']:.2f}, other {low['other']:.2f} "
                           f"({part['scoring']})")
            else:
                numbers = (f"<ucb_values> parsed in {part['values_parsed_rate']:.2f} of steps, "
                           f"correct rationale {part['correct_rationale_rate']:.2f}")
            links = ", ".join(f"[{file}](analysis/{label}/{name}/{file})"
                              for file in figures[name])
            lines.append(f"| {label} | {name} | {numbers} | {links} |")
    return "\n".join(lines) + "\n"


def analyse_start_and_final(config: Any, out: Path, start: Path | None) -> None:
    """eval.analyses on the starting policy (`start`, or the model the run began from: a
    preset with the run's options) and the exported final one (out/model); results.json and
    results.md gain their headline numbers and figure links."""
    from rlft.models import resolve_model_path
    from rlft.trainer.config import preset_options

    if start is None:
        start = resolve_model_path(config.model.name, preset_options=preset_options(config))
    if config.run.progress:
        print(f"analyses ({', '.join(config.eval.analyses)}) of the start and final policies",
              flush=True)
    headlines = analyse_policies(config, {"start": str(start), "final": str(out / "model")},
                                 out)
    saved = json.loads((out / "results.json").read_text())
    saved["analyses"] = headlines
    (out / "results.json").write_text(json.dumps(saved, indent=2) + "\n")
    section = analyses_markdown(headlines)
    with open(out / "results.md", "a") as handle:
        handle.write(section)
    print(section)
