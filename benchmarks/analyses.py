"""The paper's three failure-mode analyses on one real model, run by hand on the CPU machine, at
sizes that fit about 45 minutes per model there; writes benchmarks/results/analysis_<name>.json.

Runs, through ``rlft.analysis`` (the code behind ``rlft analyze``):

1. frequency bias, teacher-forced (the paper's F_f: share of contexts whose most likely action is
   the most frequent one and not the greedy one);
2. greediness: coverage by step for 10 and 20 arms without CoT under the answer-prefix protocol
   (the prompt ends with 'ACTION='), and with CoT under the paper's parse. For CoT the result
   says whether the model wrote any parsable answer at all, and how many of the parsed ones are
   made-up history lines ('Step=3 Action=red Reward=0.5') rather than an answer;
3. knowing-doing: the UCB-instructed prompt; the matrix only where the model wrote readable
   <ucb_values>.

The JSON holds the commit, the exact sizes, per analysis the wall time, the process CPU time and
the load average seen, the headline numbers, the paper's numbers beside them, and plain
sentences on what the model cannot do. The run directories of the analyses (figures,
generations) go to --runs-dir.

    RLFT_CORE_DIR=build/<dir> PYTHONPATH=python python benchmarks/analyses.py \\
        --model gemma3-270m [--threads 1] [--fb-repetition-step 5 ...] [--smoke]

``--smoke`` runs the tiny preset at toy sizes into a temporary directory (never into
benchmarks/results).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Callable

from provenance import stamp

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"

# Preset -> (results name, weights as the preset loads them).
MODELS = {
    "smollm2-135m": ("smollm2", "SmolLM2-135M-Instruct, Q4_1 GGUF dequantised to fp32"),
    "gemma3-270m": ("gemma3", "Gemma 3 270M base, Q4_K_M GGUF dequantised to fp32"),
    "tiny": ("tiny", "random-init tiny preset, fp32"),
}


@dataclass
class Sizes:
    """Everything that sets the amount of work (the paper's sizes in the comments)."""

    fb_histories: int = 5            # paper: 5
    fb_targets: int = 3              # paper: 5
    fb_max_repetitions: int = 100    # paper: 100
    fb_repetition_step: int = 5      # paper: 1 (every count)
    arms: tuple[int, ...] = (10, 20)
    prefix_episodes: int = 8         # paper: 64
    prefix_horizon: int = 50         # paper: 50
    prefix_tokens: int = 4           # the label, one line of a few tokens (paper no-CoT: 16)
    cot_arms: tuple[int, ...] = (10, 20)
    cot_episodes: int = 8            # paper: 64
    cot_horizon: int = 2             # paper: 50
    cot_tokens: int = 256            # paper: 256
    kd_arms: int = 10
    kd_episodes: int = 8             # paper: 64
    kd_horizon: int = 3              # paper: 50
    kd_tokens: int = 256             # paper: 2048
    batch_size: int = 64


# Per model: sizes that fit about 45 minutes each on the 2-core CPU machine, shared with other
# jobs (docs/analysis.md has the costs measured there), and the toy sizes of --smoke. Costs
# per step grow with the history (each step prefills its rows' whole history again), and the
# CoT / UCB answers run to their full budget, so horizons are what the budget buys.
DEFAULT_SIZES = {
    "smollm2-135m": Sizes(),
    # Gemma 3's prefill per history token measured about 4x SmolLM2's here.
    "gemma3-270m": Sizes(prefix_horizon=25, kd_horizon=2),
    "tiny": Sizes(fb_histories=1, fb_targets=2, fb_max_repetitions=4, fb_repetition_step=2,
                  prefix_episodes=2, prefix_horizon=3, cot_episodes=2, cot_horizon=2,
                  cot_tokens=8, kd_episodes=2, kd_horizon=2, kd_tokens=8),
}


def paper_numbers() -> dict[str, Any]:
    """The paper's Gemma2 numbers as rlft.analysis.summary holds them (strings; "~" = read
    off a figure)."""
    from rlft.analysis.summary import PAPER_COVERAGE, PAPER_FREQUENCY, PAPER_KNOWING_DOING

    return {"coverage_step50": PAPER_COVERAGE, "frequency_bias": PAPER_FREQUENCY,
            "knowing_doing_27B_percent": {"rows": ["correct", "incorrect"],
                                          "columns": ["greedy", "optimal", "other"],
                                          "matrix": PAPER_KNOWING_DOING}}


# Below this share of steps a part counts as one the model cannot do.
CANNOT_RATE = 0.02


def timed(run: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """run()'s result and its cost: wall and CPU seconds, the CPU share this process got and
    the 1-minute load average before and after (the machine is shared)."""
    load_before, wall, cpu = os.getloadavg()[0], time.perf_counter(), time.process_time()
    result = run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return result, {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
                    "cpu_share": round(cpu / wall, 3) if wall else None,
                    "load_avg_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)]}


# ----------------------------------------------------------------------- frequency bias

def frequency_bias(model: str, sizes: Sizes, out: Path) -> dict[str, Any]:
    from rlft.analysis.config import FrequencyBiasConfig
    from rlft.analysis.frequency_bias import run_frequency_bias

    config = FrequencyBiasConfig(
        model=model, out=str(out), num_histories=sizes.fb_histories,
        num_targets=sizes.fb_targets, max_repetitions=sizes.fb_max_repetitions,
        repetition_step=sizes.fb_repetition_step, batch_size=sizes.batch_size)
    metrics = run_frequency_bias(config, show_progress=True)
    overall = metrics["overall"]
    labels = _labels(config.arms)
    counts = metrics["argmax_counts"]
    return {
        "contexts": metrics["num_contexts"], "scored_answers": metrics["forward_passes"],
        "F_f": overall["frequent"], "F_g": overall["greedy"], "F_o": overall["other"],
        "mass_frequent": overall["mass_frequent"], "target_is_argmax": overall["target"],
        "entropy_repetition_correlation": metrics["entropy_repetition_correlation"],
        "entropy_mean": metrics["entropy_mean"],
        "buckets": {name: {key: bucket[key] for key in ("contexts", "frequent", "greedy",
                                                         "other", "target")}
                    for name, bucket in metrics["buckets"].items()},
        "most_chosen_label": {"label": labels[counts.index(max(counts))],
                              "share": max(counts) / sum(counts)},
    }


def _labels(arms: int) -> tuple[str, ...]:
    from rlft.text.prompts import mab_labels

    return mab_labels("button", arms)


# ----------------------------------------------------------------------------- greediness

# The parser's rule: the last 'ACTION=' (any case, a whole word) decides.
_KEYWORD = re.compile(r"(?<![A-Za-z0-9_])action\s*=", re.IGNORECASE)
# A line in the format of the prompt's history ('Step=3 Action=red Reward=0.52').
_HISTORY_LINE = re.compile(r"^\s*step\s*=\s*\d+\b", re.IGNORECASE)


def in_made_up_history_line(text: str) -> bool:
    """Whether the deciding 'ACTION=' of a generation sits in a line that copies the prompt's
    history format: the model continued the history instead of answering."""
    matches = list(_KEYWORD.finditer(text))
    if not matches:
        return False
    start = text.rfind("\n", 0, matches[-1].start()) + 1
    return bool(_HISTORY_LINE.match(text[start:matches[-1].start()]))


def read_generations(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def greediness(model: str, sizes: Sizes, out: Path, setting: str) -> dict[str, Any]:
    """One run of ``run_greediness`` for 'no_cot_prefix' or 'cot' at its sizes."""
    from rlft.analysis.config import GreedinessConfig
    from rlft.analysis.greediness import run_greediness

    prefix = setting == "no_cot_prefix"
    config = GreedinessConfig(
        model=model, out=str(out), arms=list(sizes.arms if prefix else sizes.cot_arms),
        cot_settings=[setting], batch_size=sizes.batch_size,
        episodes=sizes.prefix_episodes if prefix else sizes.cot_episodes,
        horizon=sizes.prefix_horizon if prefix else sizes.cot_horizon,
        no_cot_max_new_tokens=sizes.prefix_tokens, max_new_tokens=sizes.cot_tokens)
    result = run_greediness(config, show_progress=True)
    generations = read_generations(out / "generations.jsonl")
    return {name: greediness_headline(name, metrics, generations)
            for name, metrics in result["settings"].items()}


def greediness_headline(name: str, metrics: dict[str, Any], generations: list[dict[str, Any]]
                        ) -> dict[str, Any]:
    parsed = [g for g in generations if g["setting"] == name and not g["invalid"]]
    echoed = sum(in_made_up_history_line(g["generation"]) for g in parsed)
    steps = metrics["num_episodes"] * metrics["horizon"]
    parsed_rate = 1.0 - metrics["invalid_rate"]
    headline: dict[str, Any] = {
        "episodes": metrics["num_episodes"], "horizon": metrics["horizon"],
        "invalid_rate": metrics["invalid_rate"], "parsed_rate": parsed_rate,
        # Parsed answers whose deciding 'ACTION=' is in a made-up 'Step=k Action=X ...' line.
        "parsed_in_made_up_history_lines": echoed / steps,
        "answered_rate": (len(parsed) - echoed) / steps,
        "coverage_final": metrics["coverage_final"],
        "coverage_final_ci95": metrics["coverage_final_ci95"],
        "coverage_model_final": metrics["coverage_model_final"],
        "coverage_by_step": metrics["coverage"],
        "coverage_model_by_step": metrics["coverage_model"],
        "final_regret": metrics["final_regret"],
        "wall_s": round(metrics["wall_time_s"], 1),
    }
    if parsed_rate < CANNOT_RATE:  # the coverage would measure the random fallback only
        for key in ("coverage_final", "coverage_final_ci95", "coverage_by_step"):
            headline[key] = None
    return headline


# ------------------------------------------------------------------------- knowing-doing

def knowing_doing(model: str, sizes: Sizes, out: Path) -> dict[str, Any]:
    from rlft.analysis.config import KnowingDoingConfig
    from rlft.analysis.knowing_doing import run_knowing_doing

    config = KnowingDoingConfig(model=model, out=str(out), arms=sizes.kd_arms,
                                episodes=sizes.kd_episodes, horizon=sizes.kd_horizon,
                                max_new_tokens=sizes.kd_tokens, batch_size=sizes.batch_size)
    metrics = run_knowing_doing(config, show_progress=True)
    generations = read_generations(out / "generations.jsonl")
    headline: dict[str, Any] = {
        "episodes": metrics["num_episodes"], "horizon": metrics["horizon"],
        "arms": metrics["num_actions"], "ucb_formula": metrics["ucb_formula"],
        "values_parsed_rate": metrics["values_parsed_rate"],
        "ucb_values_tag_rate": sum("<ucb_values>" in (g["generation"] or "").lower()
                                   for g in generations) / max(len(generations), 1),
        "invalid_rate": metrics["invalid_rate"],
        "correct_rationale_rate": metrics["correct_rationale_rate"],
    }
    if metrics["values_parsed_rate"] >= CANNOT_RATE:
        headline.update(matrix_percent=metrics["matrix"]["percent"],
                        matrix_values_parsed=metrics["matrix_values_parsed"],
                        follows_own_values_rate=metrics["follows_own_values_rate"])
    return headline


# --------------------------------------------------------------------------- the verdicts

def cannot(results: dict[str, Any]) -> list[str]:
    """Plain sentences on the parts the model cannot do, with the numbers that show it."""
    lines = []
    for name, entry in results.get("greediness_cot", {}).items():
        if entry["parsed_rate"] < CANNOT_RATE:
            lines.append(f"{name}: with CoT the model writes no parsable ACTION= answer "
                         f"(invalid rate {entry['invalid_rate']:.2f} over "
                         f"{entry['episodes'] * entry['horizon']} steps); coverage would only "
                         "measure the random fallback.")
        elif entry["answered_rate"] < CANNOT_RATE:
            lines.append(f"{name}: with CoT the parsed answers ({entry['parsed_rate']:.2f} of "
                         "steps) are all made-up history lines ('Step=k Action=X Reward=...'), "
                         "not answers; coverage measures those lines.")
    for name, entry in results.get("greediness_prefix", {}).items():
        if entry["parsed_rate"] < CANNOT_RATE:
            lines.append(f"{name}: even under the answer prefix the model completes no label "
                         f"(invalid rate {entry['invalid_rate']:.2f}).")
    kd = results.get("knowing_doing")
    if kd is not None and kd["values_parsed_rate"] < CANNOT_RATE:
        lines.append(f"knowing-doing: the model writes no readable <ucb_values> (values parsed "
                     f"in {kd['values_parsed_rate']:.3f} of {kd['episodes'] * kd['horizon']} "
                     f"steps, the tag itself in {kd['ucb_values_tag_rate']:.3f}), so it cannot "
                     "do the 'knowing' part and the gap cannot be measured.")
    return lines


# ---------------------------------------------------------------------------------- main

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="gemma3-270m", choices=sorted(MODELS))
    parser.add_argument("--name", help="results name (default: smollm2 / gemma3)")
    parser.add_argument("--out", help="results JSON (default benchmarks/results/"
                                      "analysis_<name>.json; a temp dir with --smoke)")
    parser.add_argument("--runs-dir", help="analysis run directories (default runs/analyses_"
                                           "<name>; beside --out with --smoke)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the machine's "
                        "2 cores are shared: 1 per process measured faster under load)")
    parser.add_argument("--only", nargs="+", choices=("frequency_bias", "greediness_prefix",
                                                      "greediness_cot", "knowing_doing"),
                        help="run only these parts")
    parser.add_argument("--smoke", action="store_true", help="tiny preset, toy sizes, temp dir")
    for item in fields(Sizes):
        flag = "--" + item.name.replace("_", "-")
        if item.type.startswith("tuple"):
            parser.add_argument(flag, type=int, nargs="+")
        else:
            parser.add_argument(flag, type=int)
    return parser.parse_args(argv)


def resolve(args: argparse.Namespace) -> tuple[str, str, Sizes, Path, Path]:
    model = "tiny" if args.smoke else args.model
    name = args.name or MODELS[model][0]
    base = DEFAULT_SIZES[model]
    given = {item.name: getattr(args, item.name) for item in fields(Sizes)
             if getattr(args, item.name) is not None}
    sizes = Sizes(**{**asdict(base), **{k: tuple(v) if isinstance(v, list) else v
                                       for k, v in given.items()}})
    if args.smoke:
        out = Path(args.out) if args.out else Path(tempfile.mkdtemp()) / f"analysis_{name}.json"
        assert RESULTS.resolve() not in out.resolve().parents, \
            "--smoke never writes into benchmarks/results"
    else:
        out = Path(args.out) if args.out else RESULTS / f"analysis_{name}.json"
    runs = Path(args.runs_dir) if args.runs_dir else \
        (out.parent / "runs" if args.smoke else ROOT / "runs" / f"analyses_{name}")
    return model, name, sizes, out, runs


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(args.threads)
    model, name, sizes, out, runs = resolve(args)
    parts: dict[str, Callable[[], dict[str, Any]]] = {
        "frequency_bias": lambda: frequency_bias(model, sizes, runs / "frequency_bias"),
        "greediness_prefix": lambda: greediness(model, sizes, runs / "greediness_prefix",
                                                "no_cot_prefix"),
        "greediness_cot": lambda: greediness(model, sizes, runs / "greediness_cot", "cot"),
        "knowing_doing": lambda: knowing_doing(model, sizes, runs / "knowing_doing"),
    }
    results: dict[str, Any] = {
        "model": model, "weights": MODELS[model][1], **stamp(vars(args)),
        "sizes": asdict(sizes), "threads": args.threads, "cpus": os.cpu_count(),
        "python": sys.version.split()[0], "torch": torch.__version__,
        "answer_prefix_parse": "the completion's first line, read as 'ACTION=' + that line",
        "paper": paper_numbers(), "cost": {},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for part, run in parts.items():
        if args.only and part not in args.only:
            continue
        results[part], results["cost"][part] = timed(run)
        results["cost"]["total_wall_s"] = round(time.perf_counter() - started, 1)
        results["cannot"] = cannot(results)
        results.update(stamp(vars(args)))   # now with the modules this part imported
        out.write_text(json.dumps(results, indent=2) + "\n")  # after each part: a cut run keeps it
        print(f"[analyses] {part}: {results['cost'][part]}", flush=True)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
