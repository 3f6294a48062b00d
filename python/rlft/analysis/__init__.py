"""Metrics, confidence intervals and analyses of agent behaviour."""

from rlft.analysis.metrics import (action_coverage, greedy_frac, invalid_rate, min_frac,
                                   regret_curve, suffix_failure_frequency, summarize_bandit,
                                   summarize_tic_tac_toe, tic_tac_toe_outcomes)
from rlft.analysis.stats import PairedDifference, mean_ci95, paired_difference

__all__ = ["PairedDifference", "action_coverage", "greedy_frac", "invalid_rate", "mean_ci95",
           "min_frac", "paired_difference", "regret_curve", "suffix_failure_frequency",
           "summarize_bandit", "summarize_tic_tac_toe", "tic_tac_toe_outcomes"]
