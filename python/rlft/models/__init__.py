"""Model presets and loading: ``tiny``, ``smollm2-135m``, or any Hugging Face hub id or directory.

>>> model, tokenizer = load_model_and_tokenizer("tiny")  # doctest: +SKIP

Presets are built (``tiny``) or converted (``smollm2-135m``) once into plain Hugging Face model
directories under ``$RLFT_CACHE_DIR`` (default ``~/.cache/rlft/models``); nothing is downloaded.
"""

from rlft.models.cache import CACHE_ENV_VAR, cache_root
from rlft.models.loading import (
    PRESETS,
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
    "TinyModelConfig",
    "cache_root",
    "load_model_and_tokenizer",
    "load_tokenizer",
    "prepare_tokenizer_for_generation",
    "resolve_model_path",
    "smollm2_model_path",
    "tiny_model_path",
]
