"""The evaluation harness: any agent on the same seeded env instances, measured as the paper
measures (``rlft eval``), and side-by-side reports of several runs (``rlft report``)."""

from rlft.evaluation.config import EvalConfig
from rlft.evaluation.runner import run_evaluation

__all__ = ["EvalConfig", "run_evaluation"]
