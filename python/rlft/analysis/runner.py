"""``rlft analyze NAME``: dispatches to the analysis of that name.

The pieces the analyses share live in ``playing.py``, below them; this module is above them.
"""

from __future__ import annotations

from typing import Any

from rlft.analysis.config import ANALYSIS_CONFIGS, AnalysisBase


def run_analysis(name: str, config: AnalysisBase, show_progress: bool = True) -> dict[str, Any]:
    """Dispatches ``rlft analyze NAME``; returns metrics.json's content."""
    if name not in ANALYSIS_CONFIGS:
        raise ValueError(f"unknown analysis {name!r}; known: {sorted(ANALYSIS_CONFIGS)}")
    if name == "greediness":
        from rlft.analysis.greediness import run_greediness

        return run_greediness(config, show_progress=show_progress)  # type: ignore[arg-type]
    if name == "frequency-bias":
        from rlft.analysis.frequency_bias import run_frequency_bias

        return run_frequency_bias(config, show_progress=show_progress)  # type: ignore[arg-type]
    from rlft.analysis.knowing_doing import run_knowing_doing

    return run_knowing_doing(config, show_progress=show_progress)  # type: ignore[arg-type]
