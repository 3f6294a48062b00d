"""The on-disk cache of built model presets.

Each preset lives in ``<cache root>/<preset>-<settings hash>``. A directory there is always
complete: builders write into a temporary sibling and rename it into place, so a concurrent
process either sees nothing (and builds too) or a finished directory, never a half-written one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping

CACHE_ENV_VAR = "RLFT_CACHE_DIR"
# Written last into every built directory; its presence marks the build as rlft's and complete.
MANIFEST_NAME = "rlft_preset.json"


def cache_root() -> Path:
    """The directory holding built presets: ``$RLFT_CACHE_DIR`` or ``~/.cache/rlft/models``."""
    override = os.environ.get(CACHE_ENV_VAR)
    if override:
        return Path(override).expanduser()
    return Path.home() / ".cache" / "rlft" / "models"


def settings_hash(settings: Mapping[str, Any]) -> str:
    """A short stable hash of JSON-serialisable settings (key order does not matter)."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def cached_build(preset: str, settings: Mapping[str, Any], build: Callable[[Path], None]) -> Path:
    """Return the cache directory for ``(preset, settings)``, building it first if absent.

    ``build(tmp_dir)`` must write a complete Hugging Face model directory into ``tmp_dir``.
    The manifest (preset name and settings) is added afterwards and the directory is then
    renamed into place atomically. If another process finished first, its copy is kept.
    """
    root = cache_root()
    final = root / f"{preset}-{settings_hash(settings)}"
    if (final / MANIFEST_NAME).is_file():
        return final
    if final.exists():
        raise FileExistsError(f"{final} exists but is not a complete rlft build (no {MANIFEST_NAME}); remove it")
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=root))
    try:
        build(tmp)
        manifest = {"preset": preset, "settings": dict(settings)}
        (tmp / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        try:
            os.rename(tmp, final)
        except OSError:
            # Lost the race to a concurrent build (the target exists and is not empty): use theirs.
            if not (final / MANIFEST_NAME).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final
