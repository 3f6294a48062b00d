import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# No model hub here: any stray lookup would hang ~50 s before failing.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# DeepSpeed's accelerator follows the machine: on a GPU machine the 1-rank world runs on CUDA.
os.environ.setdefault("DS_ACCELERATOR", "cuda" if torch.cuda.is_available() else "cpu")

CUDA_REASON = "needs a CUDA device: run scripts/gpu_check.sh on a GPU machine (docs/gpu.md)"


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=[
    pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason=CUDA_REASON)])])
def torch_device(request) -> torch.device:
    """Each torch device in turn, for model-level checks that must hold on CPU and CUDA alike
    (numerical agreement of two code paths, with the dtype's tolerance stated per device).
    The CUDA variant is marked `gpu`, so scripts/gpu_check.sh runs it."""
    return torch.device(request.param)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """The `tiny` preset (random-init 0.7M-parameter LM + locally trained tokenizer), built
    once per test session into a temporary cache."""
    from rlft.models import load_model_and_tokenizer

    cache = tmp_path_factory.mktemp("rlft-cache")
    previous = os.environ.get("RLFT_CACHE_DIR")
    os.environ["RLFT_CACHE_DIR"] = str(cache)
    try:
        loaded = load_model_and_tokenizer("tiny")
    finally:
        if previous is None:
            os.environ.pop("RLFT_CACHE_DIR", None)
        else:
            os.environ["RLFT_CACHE_DIR"] = previous
    return loaded
