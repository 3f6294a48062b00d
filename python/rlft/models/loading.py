"""Resolve a model name (preset, local directory or hub id) and load the model and its tokenizer.

Presets are built or converted into plain Hugging Face directories in the cache (see
``rlft.models.cache``); after that every model, preset or not, is loaded the same way, through
``AutoModelForCausalLM`` / ``AutoTokenizer.from_pretrained``.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Mapping, Optional, Tuple, Union

from rlft.models import gemma3, smollm2
from rlft.models.portable import dtype_kwarg
from rlft.models.tiny import TinyModelConfig, tiny_model_path
from rlft.models.tiny_agent import PRESET_NAME as TINY_AGENT, tiny_agent_path

NameOrPath = Union[str, "os.PathLike[str]"]
PresetBuilder = Callable[[Mapping[str, Any]], Path]


def _tiny_preset(options: Mapping[str, Any]) -> Path:
    return tiny_model_path(TinyModelConfig(**options))


def _without_options(name: str, model_path: Callable[[], Path]) -> PresetBuilder:
    def build(options: Mapping[str, Any]) -> Path:
        if options:
            raise ValueError(f"The {name!r} preset takes no options, got {sorted(options)}")
        return model_path()

    return build


GGUF_PRESETS = (smollm2.PRESET, gemma3.PRESET)
# Preset name -> builder taking the preset's options and returning its cache directory.
PRESETS: Dict[str, PresetBuilder] = {
    "tiny": _tiny_preset,
    TINY_AGENT: _without_options(TINY_AGENT, tiny_agent_path),
    smollm2.PRESET.name: _without_options(smollm2.PRESET.name, smollm2.smollm2_model_path),
    gemma3.PRESET.name: _without_options(gemma3.PRESET.name, gemma3.gemma3_model_path),
}
# The presets in one line, quantisations included, for help texts.
PRESETS_HELP = ", ".join(["tiny", f"{TINY_AGENT} (pretrained by rlft, shipped)"]
                         + [preset.summary for preset in GGUF_PRESETS])
_TRUE_STRINGS = ("1", "true", "yes", "on")


def hub_is_offline() -> bool:
    """Whether HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE forbid hub access."""
    return any(
        os.environ.get(var, "").strip().lower() in _TRUE_STRINGS for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def resolve_model_path(name_or_path: NameOrPath, *, preset_options: Optional[Mapping[str, Any]] = None) -> str:
    """What ``from_pretrained`` should be given for ``name_or_path``.

    * a preset name (``tiny``; ``smollm2-135m``, SmolLM2-135M-Instruct in Q4_1; ``gemma3-270m``,
      Gemma 3 270M base in Q4_K_M): its cache directory, built or converted on first use;
      ``preset_options`` are the preset's settings (for ``tiny``, fields of ``TinyModelConfig``);
    * an existing local directory: that directory (it must hold a ``config.json``; a directory
      named like a preset is reached as ``./tiny``);
    * anything else: a Hugging Face hub id, returned unchanged. With the hub offline
      (``HF_HUB_OFFLINE=1``) it must already be in the local hub cache.

    Raises TypeError for a non-string, ValueError for anything that cannot name a model.
    """
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise TypeError(f"name_or_path must be a str or path, got {type(name_or_path).__name__}")
    name = os.fspath(name_or_path)
    if name in PRESETS:
        return str(PRESETS[name](dict(preset_options or {})))
    if preset_options:
        raise ValueError(f"preset_options are only for presets {sorted(PRESETS)}, not for {name!r}")
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ValueError(f"{name!r} is a directory but not a Hugging Face model directory (no config.json)")
        return str(path)
    if path.exists():
        raise ValueError(f"{name!r} is a file; expected a preset {sorted(PRESETS)}, a model directory or a hub id")
    _check_hub_id(name)
    return name


def _check_hub_id(name: str) -> None:
    """Raise a ValueError naming the problem if ``name`` cannot be fetched from the hub."""
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    not_local = f"{name!r} is not a preset {sorted(PRESETS)}, not a local directory"
    try:
        validate_repo_id(name)
    except HFValidationError as error:
        raise ValueError(f"{not_local}, and not a valid hub id ({error})") from None
    if hub_is_offline() and not isinstance(try_to_load_from_cache(name, "config.json"), str):
        raise ValueError(
            f"{not_local}, and the hub is offline (HF_HUB_OFFLINE=1) with no cached copy of it"
        )


def prepare_tokenizer_for_generation(tokenizer: Any) -> Any:
    """Make ``tokenizer`` ready for batched generation, in place: left padding and a pad token
    (the eos token when it has none). Returns the same tokenizer."""
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ValueError(f"Tokenizer {tokenizer.name_or_path!r} has neither a pad nor an eos token")
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def load_tokenizer(name_or_path: NameOrPath, *, preset_options: Optional[Mapping[str, Any]] = None) -> Any:
    """The tokenizer of ``name_or_path`` (see :func:`resolve_model_path`), ready for batched generation."""
    from transformers import AutoTokenizer

    path = resolve_model_path(name_or_path, preset_options=preset_options)
    with _clear_hub_errors(path):
        tokenizer = AutoTokenizer.from_pretrained(path)
    return prepare_tokenizer_for_generation(tokenizer)


def attention_implementation(config: Any, requested: Optional[str] = None) -> Optional[str]:
    """The ``attn_implementation`` to load a model of ``config`` with: ``requested`` if given,
    else "eager" for models that soft-cap attention scores (Gemma 2), else None (transformers'
    default). SDPA has no soft-cap and silently drops it (transformers picks SDPA for Gemma 2 in
    some versions): the model would sample and train a different function from its checkpoint.
    Raises ValueError when ``requested`` is "sdpa" for such a model."""
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    capped = getattr(text_config, "attn_logit_softcapping", None) is not None
    if requested == "sdpa" and capped:
        raise ValueError(f"attn_implementation 'sdpa' ignores the attention soft-capping "
                         f"(attn_logit_softcapping={text_config.attn_logit_softcapping}) of "
                         f"this {type(text_config).__name__}: use 'eager' (the default here) "
                         "or a flash-attention kernel with soft-capping")
    if requested is not None:
        return requested
    return "eager" if capped else None


def load_model_and_tokenizer(
    name_or_path: NameOrPath,
    *,
    dtype: Any = None,
    device: Any = "cpu",
    preset_options: Optional[Mapping[str, Any]] = None,
    **model_kwargs: Any,
) -> Tuple[Any, Any]:
    """Load a causal LM and its tokenizer from a preset, a local directory or a hub id.

    Args:
        name_or_path: ``tiny``, ``smollm2-135m`` (Q4_1), ``gemma3-270m`` (Q4_K_M), a model
            directory or a hub id (see :func:`resolve_model_path`).
        dtype: a ``torch.dtype``, its name (``"bfloat16"``), ``"auto"`` (the checkpoint's), or
            None for float32.
        device: where to put the model (``"cpu"``, ``"cuda:0"``, a ``torch.device``).
        preset_options: settings of a preset (for ``tiny``, fields of ``TinyModelConfig``).
        **model_kwargs: passed on to ``AutoModelForCausalLM.from_pretrained``;
            ``attn_implementation`` defaults to :func:`attention_implementation`'s choice.

    Returns:
        ``(model, tokenizer)``: the model in eval mode with a generation config that knows the pad
        token; the tokenizer pads on the left and has a pad token.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    torch_dtype = _as_torch_dtype(dtype)
    try:
        torch_device = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"device must be a torch device or its name (e.g. 'cpu', 'cuda:0'), got {device!r}") from error
    path = resolve_model_path(name_or_path, preset_options=preset_options)
    tokenizer = load_tokenizer(path)
    with _clear_hub_errors(path):
        config = AutoConfig.from_pretrained(path)
        attention = attention_implementation(config, model_kwargs.pop("attn_implementation", None))
        if attention is not None:
            model_kwargs["attn_implementation"] = attention
        model = AutoModelForCausalLM.from_pretrained(path, config=config,
                                                     **{dtype_kwarg(): torch_dtype}, **model_kwargs)
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model.to(torch_device).eval(), tokenizer


def _as_torch_dtype(dtype: Any) -> Any:
    import torch

    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype) or dtype == "auto":
        return dtype
    if isinstance(dtype, str) and isinstance(getattr(torch, dtype, None), torch.dtype):
        return getattr(torch, dtype)
    raise ValueError(f"dtype must be None, 'auto', a torch.dtype or its name (e.g. 'bfloat16'), got {dtype!r}")


@contextmanager
def _clear_hub_errors(path: str) -> Iterator[None]:
    """Re-raise from_pretrained's OSError for a hub id with the reason spelled out."""
    try:
        yield
    except OSError as error:
        if Path(path).is_dir():
            raise
        raise OSError(
            f"{path!r} is not a preset {sorted(PRESETS)}, not a local directory, and the hub "
            f"could not provide it (offline or unreachable?): {error}"
        ) from error
