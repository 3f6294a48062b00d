"""The ``tiny-agent`` preset: the small model rlft pretrains on its own prompts and ships with the
package (``rlft/assets/tiny_agent``: weights, tokenizer and the manifest of the recipe that built
it). It stands in, on a CPU, for the paper's pretrained LLM: it reads its state and is greedy.
``rlft build-agent`` rebuilds it (``rlft.sft.agent_recipe``); nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

PRESET_NAME = "tiny-agent"
ASSET_DIR = Path(__file__).resolve().parents[1] / "assets" / "tiny_agent"
MANIFEST_NAME = "manifest.json"


def weights_sha256(model_dir: Path) -> str:
    """sha256 over the directory's safetensors files, in name order."""
    digest = hashlib.sha256()
    for file in sorted(Path(model_dir).glob("*.safetensors")):
        digest.update(file.read_bytes())
    return digest.hexdigest()


def read_manifest(model_dir: Path = ASSET_DIR) -> dict[str, Any]:
    path = Path(model_dir) / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(
            f"{model_dir} holds no {MANIFEST_NAME}: the tiny-agent preset is not built; run "
            f"'rlft build-agent --config configs/tiny_agent.yaml' in the repository")
    return json.loads(path.read_text())


def tiny_agent_path(model_dir: Path = ASSET_DIR) -> Path:
    """The shipped model directory, its weights checked against the manifest's sha256."""
    manifest = read_manifest(model_dir)
    found = weights_sha256(model_dir)
    if found != manifest["weights_sha256"]:
        raise ValueError(f"{model_dir}: the weights' sha256 {found[:12]}... is not the "
                         f"manifest's {manifest['weights_sha256'][:12]}...: a damaged or partial "
                         f"copy; rebuild it with 'rlft build-agent'")
    return Path(model_dir)
