"""Environment steps per second: rlft's C++ envs next to pure-Python, numpy, OpenSpiel and
PettingZoo implementations, measured in the same run (run by hand, not a test).

    python benchmarks/envs.py [--seconds 1.0] [--smoke --out FILE]

Prints a table and writes benchmarks/results/envs.json with the raw rates and the speed-up
ratios mab_vs_numpy_b64, mab_vs_numpy_b4096 and tictactoe_vs_openspiel_b4096.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_bandits  # noqa: E402
import bench_tic_tac_toe  # noqa: E402
from provenance import stamp  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "envs.json"


def rate(rows: list[dict], env: str, impl: str, batch: int) -> float:
    for row in rows:
        if row["env"] == env and row["impl"] == impl and row["batch"] == batch:
            return float(row["steps_per_s"])
    raise KeyError(f"no measurement for {env}/{impl}/batch {batch}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measured case")
    parser.add_argument("--smoke", action="store_true",
                        help="every case for a moment, written into --out (not results/)")
    parser.add_argument("--out", type=Path, default=None, help=f"default: {RESULTS}")
    args = parser.parse_args()
    if args.smoke:
        args.seconds = 0.002
    out = args.out or (Path(tempfile.mkdtemp()) / "envs.json" if args.smoke else RESULTS)
    rows = bench_bandits.run(args.seconds) + bench_tic_tac_toe.run(args.seconds)
    print(f"{'env':<20}{'impl':<14}{'batch':>7}{'steps/s':>16}")
    for row in rows:
        print(f"{row['env']:<20}{row['impl']:<14}{row['batch']:>7}{row['steps_per_s']:>16,.0f}")
    ratios = {
        "mab_vs_numpy_b64": rate(rows, "mab", "rlft", 64) / rate(rows, "mab", "numpy", 64),
        "mab_vs_numpy_b4096": rate(rows, "mab", "rlft", 4096) / rate(rows, "mab", "numpy", 4096),
        "tictactoe_vs_openspiel_b4096": rate(rows, "tictactoe", "rlft", 4096)
        / rate(rows, "tictactoe", "openspiel", 4096),
    }
    for key, value in ratios.items():
        print(f"{key}: {value:.1f}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        **ratios,
        "rows": rows,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "processor": platform.processor() or platform.machine()},
        "seconds_per_case": args.seconds,
        **stamp(vars(args)),
    }, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
