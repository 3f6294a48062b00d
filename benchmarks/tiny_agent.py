"""The tiny-agent preset before any RL: is it competent, and is it greedy?

On held-out instances of each env whose config its recipe trained on:

- bandits (configs/cpu_default.yaml): the exploit probe (does its own answer name the arm
  with the best printed mean, by arms tried; benchmarks/exploit_probe.py), then the held-out
  evaluation the default ends with (invalid answers, coverage at T, final regret) next to
  random, greedy and UCB on the same instances, with the paired difference agent minus greedy;
- tic-tac-toe (configs/tictactoe_cpu.yaml) against its opponent: invalid (illegal or
  unparsable) answers, win, draw and loss rates;
- contextual bandit (configs/cb_cpu.yaml): invalid answers and regret next to random.

Writes benchmarks/results/tiny_agent.json with the commit, the shipped manifest (the recipe,
its commit, the weights' sha256, the build time) and the settings, and prints the checks
against the competence bar.

    PYTHONPATH=python python benchmarks/tiny_agent.py [--model tiny-agent] [--smoke]

--smoke runs the tiny preset at toy sizes into a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from exploit_probe import probe, probe_states
from provenance import stamp

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {"mab": "configs/cpu_default.yaml", "tictactoe": "configs/tictactoe_cpu.yaml",
           "contextual_bandit": "configs/cb_cpu.yaml"}
BASELINES = {"mab": ["random", "greedy", "ucb"], "tictactoe": ["random"],
             "contextual_bandit": ["random", "linucb"]}
KEYS = ("invalid_rate", "final_regret", "final_regret_ci95", "coverage_final",
        "coverage_final_ci95", "win_rate", "draw_rate", "loss_rate", "shaped_return",
        "shaped_return_ci95", "num_episodes")
# The bar the preset must clear before RL (per env, invalid answers at most this share).
MAX_INVALID = 0.02
MIN_EXPLOIT = 0.95
MAX_COVERAGE = 0.45


def env_rows(model: str, env: str, episodes: int, seeds: int) -> dict[str, Any]:
    """The model and the env's baselines on the same held-out instances."""
    from rlft.models import load_model_and_tokenizer
    from rlft.trainer.config import load_config
    from rlft.trainer.evaluate import evaluate_baseline, evaluate_policy, paired_comparisons

    config = load_config(ROOT / CONFIGS[env], [f"eval.episodes={episodes}",
                                               f"eval.seeds={seeds}"])
    lm, tokenizer = load_model_and_tokenizer(model)
    started = time.perf_counter()
    rows = {"agent": evaluate_policy(config, lm, tokenizer)}
    for name in BASELINES[env]:
        rows[name] = evaluate_baseline(config, name)
    out: dict[str, Any] = {name: {key: row[key] for key in KEYS if key in row}
                           for name, row in rows.items()}
    if env == "mab":  # agent minus greedy, per instance
        out["agent_minus_greedy"] = paired_comparisons(
            {"start policy": rows["greedy"], "final policy": rows["agent"]})
    out["wall_s"] = time.perf_counter() - started
    return out


def checks(report: dict[str, Any]) -> dict[str, bool]:
    envs = report["envs"]
    probe_two = report["exploit_probe"]["two_or_more"]["accuracy"]
    mab = envs["mab"]
    return {
        "exploit_probe_2plus_at_least_0.95": probe_two >= MIN_EXPLOIT,
        **{f"{env}_invalid_at_most_0.02": rows["agent"]["invalid_rate"] <= MAX_INVALID
           for env, rows in envs.items()},
        "mab_coverage_at_most_0.45": mab["agent"]["coverage_final"] <= MAX_COVERAGE,
        "mab_regret_at_or_above_greedy": mab["agent"]["final_regret"]
        >= mab["greedy"]["final_regret"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tiny-agent")
    parser.add_argument("--states", type=int, default=2000, help="exploit-probe states")
    parser.add_argument("--episodes", type=int, default=64, help="held-out episodes per seed")
    parser.add_argument("--seeds", type=int, default=3, help="held-out seeds (rounds)")
    parser.add_argument("--seed", type=int, default=12345, help="exploit-probe seed")
    parser.add_argument("--smoke", action="store_true", help="tiny preset, toy sizes")
    args = parser.parse_args(argv)
    from rlft.trainer.config import load_config

    manifest = None
    if args.smoke:
        args.model, args.states, args.episodes, args.seeds = "tiny", 32, 4, 1
        out = Path(tempfile.mkdtemp()) / "tiny_agent.json"
    else:
        from rlft.models.tiny_agent import read_manifest

        manifest = read_manifest()
        out = ROOT / "benchmarks" / "results" / "tiny_agent.json"
    started = time.perf_counter()
    config = load_config(ROOT / CONFIGS["mab"])
    states, labels = probe_states(config, args.states, args.seed)
    report: dict[str, Any] = {
        "commit": None, "model": args.model, "manifest": manifest,
        "settings": {"states": len(states), "probe_seed": args.seed,
                     "episodes": args.episodes, "seeds": args.seeds, "configs": CONFIGS},
        "exploit_probe": probe(args.model, config, states, labels),
        "envs": {env: env_rows(args.model, env, args.episodes, args.seeds) for env in CONFIGS},
    }
    report["checks"] = checks(report)
    report["wall_s"] = time.perf_counter() - started
    report.update(stamp({**report["settings"], "model": args.model}, inputs=CONFIGS.values()))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    probe_rows = report["exploit_probe"]["by_tried_arms"]
    print("exploit probe by arms tried:",
          {k: round(v["accuracy"], 3) for k, v in probe_rows.items()})
    for env, rows in report["envs"].items():
        print(env, {name: {k: round(v, 3) for k, v in row.items()
                           if k in ("invalid_rate", "final_regret", "coverage_final",
                                    "win_rate", "loss_rate")}
                    for name, row in rows.items() if isinstance(row, dict) and name != "agent_minus_greedy"})
    print(json.dumps(report["checks"], indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
