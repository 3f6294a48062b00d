"""Token-level PPO losses. Every function is pure: tensors in, tensors out.

Shapes: ``[N, L]`` is N generated sequences padded to L new tokens; ``mask`` is 1 on real
generated tokens and 0 on padding (prompt tokens never appear here).
"""

from __future__ import annotations

from typing import Literal

import torch

KLEstimator = Literal["k1", "k2", "k3"]


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the tokens where mask is 1 (token-level averaging, as in PPO for LLMs)."""
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


def kl_penalty(logp: torch.Tensor, ref_logp: torch.Tensor, estimator: KLEstimator = "k3",
               max_log_ratio: float = 10.0) -> torch.Tensor:
    """Per-token estimate of KL(pi_theta || pi_ref) from log-probs of tokens sampled from pi.

    With r = log pi_ref(x) - log pi_theta(x) (x ~ pi_theta, or its old copy):
      k1 = -r                 unbiased, can be negative per token
      k2 = r**2 / 2           biased, low variance
      k3 = exp(r) - 1 - r     unbiased and always >= 0 (Schulman's estimator)
    r is clamped to +-max_log_ratio: when the -5 penalty drives an invalid token's
    probability to ~0 under pi_theta, exp(r) would explode k3 (seen in PLATFORM.md's runs).
    """
    log_ratio = (ref_logp - logp).clamp(-max_log_ratio, max_log_ratio)
    if estimator == "k1":
        return -log_ratio
    if estimator == "k2":
        return 0.5 * log_ratio.square()
    if estimator == "k3":
        return torch.expm1(log_ratio) - log_ratio
    raise ValueError(f"unknown KL estimator {estimator!r}; use 'k1', 'k2' or 'k3'")


def clipped_surrogate(logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor,
                      clip_eps: float = 0.2) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token PPO clipped objective, returned as a loss (negated) with the clip indicator.

    logp, old_logp: [N, L]; advantages: [N, L] (or [N, 1], broadcast over tokens).
    loss_t = -min(rho_t * A_t, clip(rho_t, 1 - eps, 1 + eps) * A_t), rho_t = pi/pi_old.
    """
    ratio = torch.exp(logp - old_logp)
    unclipped = ratio * advantages
    clipped = ratio.clamp(1.0 - clip_eps, 1.0 + clip_eps) * advantages
    loss = -torch.minimum(unclipped, clipped)
    was_clipped = (clipped < unclipped).to(logp.dtype)
    return loss, was_clipped


def value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor,
               clip_eps: float | None = 0.2) -> torch.Tensor:
    """Per-element squared value error, optionally clipped around the rollout-time values."""
    error = (values - returns).square()
    if clip_eps is None:
        return 0.5 * error
    clipped_values = old_values + (values - old_values).clamp(-clip_eps, clip_eps)
    return 0.5 * torch.maximum(error, (clipped_values - returns).square())


def token_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of the next-token distribution at every position: [N, L, V] -> [N, L]."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(dim=-1)


def ppo_kl_loss(logp: torch.Tensor, old_logp: torch.Tensor, ref_logp: torch.Tensor,
                advantages: torch.Tensor, mask: torch.Tensor, clip_eps: float = 0.2,
                kl_coef: float = 0.05, kl_estimator: KLEstimator = "k3"
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The paper's Eq. 2 as a loss: token-mean of clipped surrogate + beta * KL to reference."""
    surrogate, was_clipped = clipped_surrogate(logp, old_logp, advantages, clip_eps)
    kl = kl_penalty(logp, ref_logp, kl_estimator)
    loss = masked_mean(surrogate + kl_coef * kl, mask)
    stats = {
        "policy/surrogate": masked_mean(surrogate, mask).detach(),
        "policy/kl": masked_mean(kl, mask).detach(),
        "policy/clipfrac": masked_mean(was_clipped, mask).detach(),
        "policy/approx_kl_old": masked_mean(0.5 * (logp - old_logp).square(), mask).detach(),
    }
    return loss, stats
