"""Keep saved model directories loadable by transformers 4.x as well as 5.x.

transformers 5 writes a few things 4.x does not understand; the directories rlft builds are
patched after ``save_pretrained`` so that either version reads them the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Optional

# Arguments of the load that built the tokenizer, which transformers 5 saves along with it.
_LOAD_TIME_KEYS = ("is_local", "local_files_only")


def make_model_dir_portable(model_dir: Path, chat_template: Optional[str]) -> None:
    """Patch ``config.json`` and ``tokenizer_config.json`` in ``model_dir`` (see the module doc)."""
    model_dir = Path(model_dir)
    config = _read_json(model_dir / "config.json")
    # 5.x nests the RoPE base in "rope_parameters"; 4.x reads "rope_theta" and would otherwise
    # silently fall back to its default base of 10000. 5.x accepts the flat key as well.
    rope = config.get("rope_parameters") or {}
    if "rope_theta" in rope and rope.get("rope_type", "default") == "default":
        config["rope_theta"] = rope["rope_theta"]
    # Gemma 3 nests one RoPE per attention type; 4.x reads the global and the local base flat.
    full, sliding = rope.get("full_attention") or {}, rope.get("sliding_attention") or {}
    if all("rope_theta" in part and part.get("rope_type", "default") == "default" for part in (full, sliding)):
        config["rope_theta"] = full["rope_theta"]
        config["rope_local_base_freq"] = sliding["rope_theta"]
    _write_json(model_dir / "config.json", config)

    tokenizer_config = _read_json(model_dir / "tokenizer_config.json")
    # 5.x names its own class ("TokenizersBackend"), which 4.x lacks; both know this one.
    tokenizer_config["tokenizer_class"] = "PreTrainedTokenizerFast"
    # 5.x keeps the template in chat_template.jinja, which early 4.x releases do not read.
    if chat_template:
        tokenizer_config.setdefault("chat_template", chat_template)
    # rlft generates in batches; the loaders set this too, but say it in the files as well.
    tokenizer_config["padding_side"] = "left"
    for key in _LOAD_TIME_KEYS:
        tokenizer_config.pop(key, None)
    _write_json(model_dir / "tokenizer_config.json", tokenizer_config)


def dtype_kwarg() -> str:
    """The name of from_pretrained's dtype argument: transformers 4.56 renamed ``torch_dtype`` to ``dtype``."""
    import transformers
    from packaging.version import Version

    return "dtype" if Version(transformers.__version__) >= Version("4.56") else "torch_dtype"


def _read_json(path: Path) -> Dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _write_json(path: Path, data: Dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
