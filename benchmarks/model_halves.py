"""A file too large for one device call (the SmolLM2-135M-Instruct GGUF, 98 MB, against 64 MiB
per call) travels in two halves, one per call, and is joined on the GPU machine. A manifest
next to the halves holds the sha256 of each half and of the whole; every step checks them.

    python benchmarks/model_halves.py split FILE DIR    # DIR/<name>.part1, .part2, manifest.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any, Sequence

MANIFEST = "manifest.json"
CHUNK = 1 << 22


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as source:
        while block := source.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def split(file: Path, out_dir: Path) -> dict[str, Any]:
    """Writes the two halves and the manifest into out_dir; returns the manifest."""
    file, out_dir = Path(file), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    size = file.stat().st_size
    parts = []
    with file.open("rb") as source:
        for index, length in enumerate((size // 2, size - size // 2), start=1):
            part = out_dir / f"{file.name}.part{index}"
            with part.open("wb") as target:
                remaining = length
                while remaining:
                    block = source.read(min(CHUNK, remaining))
                    target.write(block)
                    remaining -= len(block)
            parts.append({"file": part.name, "bytes": length, "sha256": sha256(part)})
    manifest = {"name": file.name, "bytes": size, "sha256": sha256(file), "parts": parts}
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def read_manifest(directory: Path) -> dict[str, Any]:
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: make the halves with "
                                "scripts/split_gpu_model.sh and carry the manifest")
    return json.loads(path.read_text())


def find_part(manifest: dict[str, Any], index: int, places: Sequence[Path]) -> Path:
    """Half `index` (0 or 1) from the first of `places` holding it, its size and sha256
    checked; raises FileNotFoundError or ValueError naming the half."""
    part = manifest["parts"][index]
    candidates = [Path(place) / part["file"] for place in places]
    found = next((path for path in candidates if path.is_file()), None)
    if found is None:
        raise FileNotFoundError(f"half {index + 1} ({part['file']}) is in none of "
                                f"{[str(p) for p in places]}")
    if found.stat().st_size != part["bytes"] or sha256(found) != part["sha256"]:
        raise ValueError(f"{found}: size or sha256 differs from the manifest's")
    return found


def stash(manifest: dict[str, Any], index: int, places: Sequence[Path], stash_dir: Path
          ) -> Path:
    """Copies a checked half to stash_dir (which outlives the call on a warm machine)."""
    source = find_part(manifest, index, places)
    Path(stash_dir).mkdir(parents=True, exist_ok=True)
    target = Path(stash_dir) / source.name
    if source.resolve() != target.resolve():
        shutil.copyfile(source, target)
    return target


def join(manifest: dict[str, Any], places: Sequence[Path], out_file: Path) -> Path:
    """Both halves (each checked) concatenated into out_file, whose sha256 must match."""
    halves = [find_part(manifest, index, places) for index in range(len(manifest["parts"]))]
    out_file = Path(out_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    with out_file.open("wb") as target:
        for half in halves:
            with half.open("rb") as source:
                shutil.copyfileobj(source, target, CHUNK)
    if sha256(out_file) != manifest["sha256"]:
        out_file.unlink()
        raise ValueError(f"the joined {manifest['name']} does not match the manifest's sha256")
    return out_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    split_parser = commands.add_parser("split", help="write the halves and the manifest")
    split_parser.add_argument("file", type=Path)
    split_parser.add_argument("out_dir", type=Path)
    args = parser.parse_args()
    manifest = split(args.file, args.out_dir)
    for part in manifest["parts"]:
        print(f"{args.out_dir / part['file']}: {part['bytes']} bytes")
    print(f"{manifest['name']}: {manifest['bytes']} bytes, sha256 {manifest['sha256']}")


if __name__ == "__main__":
    main()
