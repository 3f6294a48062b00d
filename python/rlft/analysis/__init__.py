"""Metrics and analyses of agent behaviour (numpy only)."""

from rlft.analysis.metrics import (action_coverage, greedy_frac, invalid_rate, mean_ci95, min_frac,
                                   regret_curve, student_t_critical, suffix_failure_frequency,
                                   summarize_bandit, summarize_tic_tac_toe, tic_tac_toe_outcomes)

__all__ = ["action_coverage", "greedy_frac", "invalid_rate", "mean_ci95", "min_frac",
           "regret_curve", "student_t_critical", "suffix_failure_frequency", "summarize_bandit",
           "summarize_tic_tac_toe", "tic_tac_toe_outcomes"]
