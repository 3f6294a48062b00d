"""What the GGUF presets' files hold: parameter count, the fp32 cache's size (4 bytes per
parameter) and each quantisation type's share of the parameters, overall and per tensor role,
read from the files with `gguf` (no model is loaded). Writes
benchmarks/results/gguf_quantisation.json, the figures of docs/models.md.

    PYTHONPATH=python python benchmarks/gguf_quantisation.py [--presets smollm2-135m ...]
        [--smoke --out FILE]

``--smoke`` reads the SmolLM2 file only (the smaller one) and writes into --out (a temporary
file by default), never into benchmarks/results.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

from provenance import stamp

RESULTS = Path(__file__).resolve().parent / "results" / "gguf_quantisation.json"


def smollm2_file(scratch: Path) -> Path:
    from rlft.models.smollm2 import find_gguf_file

    return find_gguf_file()


def gemma3_file(scratch: Path) -> Path:
    from rlft.models.gemma3 import PACKAGE, PRESET

    PRESET.require_packages()
    package = importlib.import_module(PACKAGE.replace("-", "_"))
    return package.assemble(output_path=scratch / package.MODEL_NAME)


FILES: dict[str, Callable[[Path], Path]] = {"smollm2-135m": smollm2_file,
                                            "gemma3-270m": gemma3_file}


def role(name: str) -> str:
    """A tensor's role with the layer number dropped: 'blk.3.attn_q.weight' -> 'attn_q'."""
    return re.sub(r"^blk\.\d+\.", "", name).removesuffix(".weight").removesuffix(".bias")


def census(path: Path) -> dict[str, Any]:
    from gguf import GGUFReader

    by_type: dict[str, int] = defaultdict(int)
    by_role: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for tensor in GGUFReader(path).tensors:
        kind, count = tensor.tensor_type.name, int(tensor.n_elements)
        by_type[kind] += count
        by_role[role(tensor.name)][kind] += count
    total = sum(by_type.values())
    return {
        "file": path.name, "parameters": total, "fp32_bytes": 4 * total,
        "type_share": {kind: count / total for kind, count in
                       sorted(by_type.items(), key=lambda item: -item[1])},
        "role_type_share": {name: {kind: count / sum(kinds.values())
                                   for kind, count in sorted(kinds.items())}
                            for name, kinds in sorted(by_role.items())},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=list(FILES), choices=list(FILES))
    parser.add_argument("--smoke", action="store_true", help="SmolLM2 only, not into results/")
    parser.add_argument("--out", type=Path, default=None, help=f"default: {RESULTS}")
    args = parser.parse_args()
    if args.smoke:
        args.presets = ["smollm2-135m"]
    out = args.out or (Path(tempfile.mkdtemp()) / RESULTS.name if args.smoke else RESULTS)
    with tempfile.TemporaryDirectory() as scratch:
        report: dict[str, Any] = {name: census(FILES[name](Path(scratch)))
                                  for name in args.presets}
    report.update(stamp(vars(args)))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    for name in args.presets:
        shares = ", ".join(f"{kind} {share:.1%}"
                           for kind, share in report[name]["type_share"].items())
        print(f"{name}: {report[name]['parameters']:,} parameters; {shares}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
