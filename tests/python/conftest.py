import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# No model hub here: any stray lookup would hang ~50 s before failing (PLATFORM.md).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("DS_ACCELERATOR", "cpu")


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
