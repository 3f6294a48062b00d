"""DataConfig from flat options (cot=..., summary=...), as the `rlft data` flags give them."""

from __future__ import annotations

import dataclasses
from typing import Any

from rlft.sft import DataConfig
from rlft.text.prompts import PromptConfig

PROMPT_FIELDS = {f.name for f in dataclasses.fields(PromptConfig)}


def data_config(**options: Any) -> DataConfig:
    """Prompt fields default to DataConfig's own prompt (no CoT)."""
    prompt = {"cot": False}
    prompt.update({name: options.pop(name) for name in list(options) if name in PROMPT_FIELDS})
    return DataConfig(prompt=PromptConfig(**prompt), **options)
