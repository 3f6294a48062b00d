"""A dataset on disk: ``examples.jsonl`` (one record per line) and ``manifest.json`` (the
settings, the seeds, counts and a checksum). Records keep text only, tokenised at training time
for whichever model is trained:

    {"messages": [{"role": "user", "content": <prompt>}], "target": "ACTION=red",
     "action": 2, "label": "red", "setting": 0, "episode": 17, "step": 3, "task_id": 17}
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable

from rlft.sft.config import DataConfig

FORMAT = "rlft-sft-dataset"
VERSION = 2  # 2: the prompt specification nested in config (config.prompt)
EXAMPLES = "examples.jsonl"
MANIFEST = "manifest.json"
REQUIRED_KEYS = ("messages", "target")


class DatasetError(ValueError):
    """A dataset directory that cannot be read; the message names the file and the problem."""


def write_dataset(config: DataConfig, records: Iterable[tuple[int, dict[str, Any]]],
                  out_dir: str | Path) -> dict[str, Any]:
    """Streams (setting index, record) pairs to examples.jsonl, then writes the manifest last
    (a directory without a manifest is an unfinished dataset). Returns the manifest."""
    from rlft.sft.generate import derived_seed

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).unlink(missing_ok=True)
    digest = hashlib.sha256()
    settings = config.settings()
    per_setting = [0] * len(settings)
    tmp = out / (EXAMPLES + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for index, record in records:
            line = (json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
            f.write(line)
            digest.update(line.encode("utf-8"))
            per_setting[index] += 1
    os.replace(tmp, out / EXAMPLES)
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "config": config.to_dict(),
        "settings": [{**setting, "seed": derived_seed(config.seed, index),
                      "episodes": config.episodes, "examples": per_setting[index]}
                     for index, setting in enumerate(settings)],
        "num_examples": sum(per_setting),
        "files": {EXAMPLES: {"sha256": digest.hexdigest(), "lines": sum(per_setting)}},
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def read_manifest(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise DatasetError(f"{path} does not exist: not a finished dataset (make one with "
                           "`rlft data ...`)")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise DatasetError(f"{path}: not JSON ({error})") from error
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise DatasetError(f"{path}: expected format {FORMAT!r} version {VERSION}, got "
                           f"{manifest.get('format')!r} version {manifest.get('version')!r}")
    return manifest


def read_examples(directory: str | Path, verify: bool = True) -> list[dict[str, Any]]:
    """Every record, checked against the manifest (line count and, if `verify`, checksum)."""
    manifest = read_manifest(directory)
    path = Path(directory) / EXAMPLES
    if not path.is_file():
        raise DatasetError(f"{path} does not exist")
    digest = hashlib.sha256()
    records = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if verify:
                digest.update(line.encode("utf-8"))
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise DatasetError(f"{path}:{number}: not JSON ({error})") from error
            missing = [key for key in REQUIRED_KEYS if key not in record]
            if missing:
                raise DatasetError(f"{path}:{number}: missing {missing}")
            records.append(record)
    expected = manifest["files"][EXAMPLES]
    if len(records) != expected["lines"]:
        raise DatasetError(f"{path}: {len(records)} lines, the manifest says "
                           f"{expected['lines']}")
    if verify and digest.hexdigest() != expected["sha256"]:
        raise DatasetError(f"{path}: checksum differs from the manifest (file changed?)")
    return records
