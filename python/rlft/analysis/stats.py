"""Confidence intervals of evaluation results, with scipy.stats.

The unit of every interval is an instance: each held-out episode plays a different bandit
instance (or an independent game), so a mean's 95% interval is a Student-t interval over the
instances. Two policies evaluated on the same instances are compared per instance: the
interval is that of the paired differences, which removes the instances' own spread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats


def _half_width(values: np.ndarray, axis: int, confidence: float) -> np.ndarray:
    n = values.shape[axis]
    sem = stats.sem(values, axis=axis, ddof=1)
    return stats.t.ppf(0.5 + confidence / 2, n - 1) * sem


def mean_ci95(values: Any, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and 95% Student-t half-width along ``axis`` (NaN half-width when fewer than 2)."""
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[axis]
    if n < 1:
        raise ValueError("mean_ci95 needs at least one value")
    mean = values.mean(axis=axis)
    if n < 2:
        return mean, np.full_like(mean, np.nan)
    return mean, _half_width(values, axis, 0.95)


@dataclass(frozen=True)
class PairedDifference:
    """Mean of per-instance differences (after - before) and its confidence interval."""

    mean: float
    low: float
    high: float
    instances: int
    confidence: float = 0.95

    @property
    def excludes_zero(self) -> bool:
        return bool(self.low > 0 or self.high < 0)

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "ci_low": self.low, "ci_high": self.high,
                "instances": self.instances, "confidence": self.confidence,
                "excludes_zero": self.excludes_zero}

    def describe(self, decimals: int = 2) -> str:
        """'-0.85 (95% CI -1.02 to -0.68)'."""
        f = f"{{:.{decimals}f}}"
        return (f"{f.format(self.mean)} ({self.confidence:.0%} CI {f.format(self.low)} to "
                f"{f.format(self.high)})")


def paired_difference(after: Any, before: Any, confidence: float = 0.95) -> PairedDifference:
    """after[i] - before[i] over instances i played by both, with a Student-t interval."""
    after = np.asarray(after, dtype=np.float64)
    before = np.asarray(before, dtype=np.float64)
    if after.ndim != 1 or after.shape != before.shape:
        raise ValueError(f"paired values need equal 1-d shapes, got {after.shape} and "
                         f"{before.shape}")
    if after.size < 2:
        raise ValueError(f"a paired interval needs at least 2 instances, got {after.size}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    difference = after - before
    mean = float(difference.mean())
    half = float(_half_width(difference, 0, confidence))
    return PairedDifference(mean, mean - half, mean + half, int(difference.size), confidence)
