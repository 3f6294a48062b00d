"""Token-level PPO losses. Every function is pure: tensors in, tensors out.

Shapes: ``[N, L]`` is N generated sequences padded to L new tokens; ``mask`` is 1 on real
generated tokens and 0 on padding (prompt tokens never appear here).

The KL to the reference enters in one of two ways (``algo.kl_mode``):

- ``loss``: a per-token term added to the loss, evaluated on tokens sampled from the policy.
  As a loss, what matters is its expected gradient over x ~ pi, not its value. With
  r = log pi_ref(x) - log pi(x):

  - k1 = -r: zero expected gradient, no regularisation at all (refused);
  - k2 = r**2 / 2: the gradient of KL(pi || ref);
  - k3 = exp(r) - 1 - r: the gradient of KL(ref || pi), the reverse direction (GRPO's choice).

- ``reward``: the per-token k1 estimate log pi_old - log ref, summed over the answer, is
  subtracted from the step's reward before the advantages (the classic RLHF form); its policy
  gradient is the gradient of KL(pi || ref).
"""

from __future__ import annotations

import math
from typing import Literal

import torch

KLLossEstimator = Literal["k2", "k3"]
KL_LOSS_ESTIMATORS = ("k2", "k3")
# Beyond this log ratio k3's exponential is continued by its tangent: the value stays finite
# and the gradient stays non-zero (a clamp would leave no gradient where the policy has
# drifted furthest from the reference).
K3_LINEAR_BEYOND = 20.0


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the tokens where mask is 1 (token-level averaging, as in PPO for LLMs)."""
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


def kl_loss_term(logp: torch.Tensor, ref_logp: torch.Tensor,
                 estimator: KLLossEstimator = "k2") -> torch.Tensor:
    """Per-token KL loss term for tokens sampled from pi (see the module docstring).

    logp, ref_logp: [N, L] log-probs of the sampled tokens under pi_theta (with gradient) and
    pi_ref. k2's gradient is that of KL(pi || ref); k3's is that of KL(ref || pi).
    """
    log_ratio = ref_logp - logp
    if estimator == "k2":
        return 0.5 * log_ratio.square()
    if estimator == "k3":
        bound = K3_LINEAR_BEYOND
        inside = log_ratio.clamp(max=bound)  # finite in both branches, so is the gradient
        tangent = math.expm1(bound) - bound + (log_ratio - bound) * math.expm1(bound)
        return torch.where(log_ratio <= bound, torch.expm1(inside) - inside, tangent)
    if estimator == "k1":
        raise ValueError("k1 as a loss has zero expected gradient (E_pi[grad log pi] = 0): use "
                         "k2 (gradient of KL(pi || ref)), k3 (gradient of KL(ref || pi)) or "
                         "kl_mode 'reward'")
    raise ValueError(f"unknown KL estimator {estimator!r}; use 'k2' or 'k3'")


def kl_reward_estimate(old_logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token k1 estimate of KL(pi_old || ref), log pi_old - log ref, for kl_mode 'reward':
    subtracted (times beta, summed over the answer) from the step's reward. [N, L] -> [N, L]."""
    return old_logp - ref_logp


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


def ppo_kl_loss(logp: torch.Tensor, old_logp: torch.Tensor, ref_logp: torch.Tensor,
                advantages: torch.Tensor, mask: torch.Tensor, clip_eps: float = 0.2,
                kl_coef: float = 0.05, kl_estimator: KLLossEstimator = "k2"
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The paper's Eq. 2 as a loss: token-mean of clipped surrogate + beta * KL term.

    kl_coef = 0 leaves the KL out of the loss (kl_mode 'reward' puts it in the advantages).
    """
    surrogate, was_clipped = clipped_surrogate(logp, old_logp, advantages, clip_eps)
    loss_terms = surrogate
    stats = {
        "policy/surrogate": masked_mean(surrogate, mask).detach(),
        # k1 at the current policy: log pi - log ref per token, the sampled estimate of
        # KL(pi || ref) (unbiased while pi is the sampling policy).
        "policy/kl": masked_mean(logp - ref_logp, mask).detach(),
        "policy/clipfrac": masked_mean(was_clipped, mask).detach(),
        "policy/approx_kl_old": masked_mean(0.5 * (logp - old_logp).square(), mask).detach(),
    }
    if kl_coef:
        kl_term = kl_loss_term(logp, ref_logp, kl_estimator)
        loss_terms = surrogate + kl_coef * kl_term
        stats["policy/kl_term"] = masked_mean(kl_term, mask).detach()
    return masked_mean(loss_terms, mask), stats
