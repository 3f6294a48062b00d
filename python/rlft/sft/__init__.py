"""Supervised baselines (paper §6): expert datasets for behaviour cloning (BC) and thought
cloning (TC), tic-tac-toe minimax data and format-only data; the trainer is
``rlft.trainer.sft_loop`` (``run.mode: sft``)."""

from rlft.sft.config import DataConfig
from rlft.sft.dataset import DatasetError, read_examples, read_manifest, write_dataset
from rlft.sft.encoding import encode_examples
from rlft.sft.generate import generate_examples

__all__ = ["DataConfig", "DatasetError", "encode_examples", "generate_examples", "make_dataset",
           "read_examples", "read_manifest", "write_dataset"]


def make_dataset(config: DataConfig) -> dict:
    """Generates the dataset `config` describes into config.out; returns its manifest."""
    return write_dataset(config, generate_examples(config), config.out)
