"""Evaluation metrics of the paper and of Krishnamurthy et al. 2024, as small numpy functions.

Shapes: N episodes (all seeds and episodes pooled), T steps, K arms. Steps are 0-based in
arrays; the text uses 1-based rounds t = 1..T, so column ``t - 1`` of a curve is round t.
Confidence intervals are two-sided 95% Student-t intervals over the N episodes, treated as
independent samples: half-width = t_{0.975, N-1} * std(ddof=1) / sqrt(N) (NaN when N < 2).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rlft.analysis.stats import mean_ci95


def _as_2d(name: str, array: Any, dtype: Any = None) -> np.ndarray:
    array = np.asarray(array, dtype=dtype)
    if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(f"{name} must have shape [N, T] with N, T >= 1, got {array.shape}")
    return array


def _as_actions(actions: Any, num_actions: int) -> np.ndarray:
    actions = _as_2d("actions", actions)
    if actions.dtype.kind not in "iu":
        raise TypeError(f"actions must be integers, got dtype {actions.dtype}")
    if isinstance(num_actions, bool) or not isinstance(num_actions, (int, np.integer)) \
            or num_actions < 1:
        raise ValueError(f"num_actions must be a positive int, got {num_actions!r}")
    if np.any(actions < 0) or np.any(actions >= num_actions):
        raise ValueError(f"actions must lie in [0, {num_actions})")
    return actions.astype(np.int64)


def _one_hot(actions: np.ndarray, num_actions: int) -> np.ndarray:
    return actions[..., None] == np.arange(num_actions)  # bool[N, T, K]


def regret_curve(cumulative_regret: Any) -> tuple[np.ndarray, np.ndarray]:
    """cumulative_regret float[N, T] (pseudo-regret sum_{s<=t} mu* - mu_{a_s}) ->
    (mean[T], ci95[T]) over episodes."""
    return mean_ci95(_as_2d("cumulative_regret", cumulative_regret, np.float64), axis=0)


def action_coverage(actions: Any, num_actions: int, counted: Any = None) -> np.ndarray:
    """float[N, T]: C_t = |{a : N_t(a) > 0}| / K, the fraction of arms tried in rounds 1..t.
    counted: optional bool[N, T]; only those steps count as tries (e.g. the steps whose action
    the model itself wrote, not the parser's random fallback)."""
    actions = _as_actions(actions, num_actions)
    chosen = _one_hot(actions, num_actions)  # [N, T, K]
    if counted is not None:
        counted = np.asarray(counted, dtype=bool)
        if counted.shape != actions.shape:
            raise ValueError(f"counted shape {counted.shape} != actions shape {actions.shape}")
        chosen = chosen & counted[..., None]
    return np.logical_or.accumulate(chosen, axis=1).mean(axis=2)


def suffix_failure_frequency(actions: Any, best_arm: Any, num_actions: int) -> np.ndarray:
    """float[T]: SuffFailFreq(t), the fraction of episodes in which the best arm is never
    chosen in rounds t..T (Krishnamurthy et al. 2024, Sec. 3.1). best_arm: int[N].
    Krishnamurthy et al. report SuffFailFreq(T/2)."""
    actions = _as_actions(actions, num_actions)
    best_arm = np.asarray(best_arm)
    if best_arm.shape != (actions.shape[0],):
        raise ValueError(f"best_arm must have shape ({actions.shape[0]},), got {best_arm.shape}")
    num_steps = actions.shape[1]
    chose_best = actions == best_arm[:, None]  # [N, T]
    # 1-based round of the last best-arm pull; 0 when never pulled.
    last = np.where(chose_best.any(axis=1),
                    num_steps - np.argmax(chose_best[:, ::-1], axis=1), 0)  # [N]
    rounds = np.arange(1, num_steps + 1)
    return (last[:, None] < rounds[None, :]).mean(axis=0)


def min_frac(actions: Any, num_actions: int) -> np.ndarray:
    """float[T]: K * MinFrac(t), averaged over episodes, where MinFrac(t) = min_a N_t(a) / t is
    the share of rounds 1..t given to the least-chosen arm (Krishnamurthy et al. 2024 plot it
    scaled by K, so 1 means perfectly uniform and 0 means some arm was never tried)."""
    actions = _as_actions(actions, num_actions)
    counts = np.cumsum(_one_hot(actions, num_actions), axis=1)  # [N, T, K]
    rounds = np.arange(1, actions.shape[1] + 1)
    return (num_actions * counts.min(axis=2) / rounds).mean(axis=0)


def greedy_frac(actions: Any, rewards: Any, num_actions: int) -> np.ndarray:
    """float[N]: GreedyFrac per episode, the fraction of greedy rounds, where a round is
    greedy when its arm has the best average reward over the rounds before it (among arms
    tried so far; any arm tied for best counts). Round 1, with nothing tried, is not counted
    (Krishnamurthy et al. 2024 average this over replicates: take ``.mean()``)."""
    actions = _as_actions(actions, num_actions)
    rewards = _as_2d("rewards", rewards, np.float64)
    if rewards.shape != actions.shape:
        raise ValueError(f"rewards shape {rewards.shape} != actions shape {actions.shape}")
    if actions.shape[1] < 2:
        raise ValueError("greedy_frac needs at least 2 rounds")
    one_hot = _one_hot(actions, num_actions)
    counts = np.cumsum(one_hot, axis=1)[:, :-1]  # [N, T-1, K] pulls before rounds 2..T
    sums = np.cumsum(one_hot * rewards[..., None], axis=1)[:, :-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / counts, -np.inf)
    best = means.max(axis=2)  # [N, T-1]
    chosen = np.take_along_axis(means, actions[:, 1:, None], axis=2)[..., 0]
    return (chosen == best).mean(axis=1)


def invalid_rate(invalid: Any, valid: Any = None) -> float:
    """Share of steps with an invalid action; ``valid`` bool[N, T] masks steps that exist
    (episodes of different lengths). 0 when there are no steps."""
    invalid = np.asarray(invalid, dtype=bool)
    mask = np.ones(invalid.shape, dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    if mask.shape != invalid.shape:
        raise ValueError(f"valid shape {mask.shape} != invalid shape {invalid.shape}")
    steps = int(mask.sum())
    return float((invalid & mask).sum() / steps) if steps else 0.0


def tic_tac_toe_outcomes(winner: Any) -> dict[str, float]:
    """winner int[N] per finished game (1 agent, 2 opponent, 0 draw) -> win/draw/loss rates."""
    winner = np.asarray(winner)
    if winner.ndim != 1 or winner.size < 1:
        raise ValueError(f"winner must have shape [N] with N >= 1, got {winner.shape}")
    if not np.all(np.isin(winner, (0, 1, 2))):
        raise ValueError("winner entries must be 0 (draw), 1 (agent) or 2 (opponent)")
    return {"win_rate": float(np.mean(winner == 1)), "draw_rate": float(np.mean(winner == 0)),
            "loss_rate": float(np.mean(winner == 2))}


def summarize_bandit(actions: Any, rewards: Any, cumulative_regret: Any, num_actions: int,
                     best_arm: Any = None, invalid: Any = None) -> dict[str, Any]:
    """The bandit numbers of ``metrics.json``; curves are lists over rounds 1..T.

    best_arm int[N] (multi-armed bandits) adds the suffix-failure metrics; it is hidden
    information, used here only for evaluation. invalid bool[N, T] defaults to all False.
    """
    actions = _as_actions(actions, num_actions)
    regret = _as_2d("cumulative_regret", cumulative_regret, np.float64)
    if regret.shape != actions.shape:
        raise ValueError(f"cumulative_regret shape {regret.shape} != actions shape {actions.shape}")
    mean, ci = regret_curve(regret)
    coverage = action_coverage(actions, num_actions).mean(axis=0)
    summary: dict[str, Any] = {
        "num_episodes": int(actions.shape[0]),
        "horizon": int(actions.shape[1]),
        "num_actions": int(num_actions),
        "final_regret": float(mean[-1]),
        "final_regret_ci95": float(ci[-1]),
        "coverage_final": float(coverage[-1]),
        "invalid_rate": invalid_rate(np.zeros(actions.shape, bool) if invalid is None else invalid),
        "min_frac_final": float(min_frac(actions, num_actions)[-1]),
        "regret_mean": mean.tolist(),
        "regret_ci95": ci.tolist(),
        "coverage": coverage.tolist(),
    }
    if actions.shape[1] >= 2:
        summary["greedy_frac"] = float(greedy_frac(actions, rewards, num_actions).mean())
    if best_arm is not None:
        suffix = suffix_failure_frequency(actions, best_arm, num_actions)
        summary["suffix_failure_half"] = float(suffix[max(actions.shape[1] // 2, 1) - 1])
        summary["suffix_failure"] = suffix.tolist()
    return summary


def summarize_tic_tac_toe(returns: Any, winner: Any, invalid: Any = None,
                          valid: Any = None) -> dict[str, Any]:
    """The tic-tac-toe numbers of ``metrics.json``: returns float[N] per game, winner int[N],
    invalid/valid bool[N, T] per move (valid marks moves that exist)."""
    returns = np.asarray(returns, dtype=np.float64)
    if returns.shape != np.shape(winner):
        raise ValueError(f"returns shape {returns.shape} != winner shape {np.shape(winner)}")
    mean, ci = mean_ci95(returns)
    summary: dict[str, Any] = {"num_episodes": int(returns.size), **tic_tac_toe_outcomes(winner),
                               "mean_return": float(mean), "mean_return_ci95": float(ci)}
    summary["invalid_rate"] = 0.0 if invalid is None else invalid_rate(invalid, valid)
    return summary
