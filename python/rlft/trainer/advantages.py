"""Advantage estimators. Pure functions over per-step arrays of one rollout.

Shapes: ``[B, T]`` is B parallel episodes (env rows) by T steps.
"""

from __future__ import annotations

import torch


def rewards_to_go(rewards: torch.Tensor, gamma: float = 1.0) -> torch.Tensor:
    """G_t = sum_{k>=t} gamma^(k-t) r_k for fixed-length episodes: [B, T] -> [B, T]."""
    returns = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    for t in range(rewards.shape[1] - 1, -1, -1):
        running = rewards[:, t] + gamma * running
        returns[:, t] = running
    return returns


def monte_carlo_advantages(rewards: torch.Tensor, gamma: float = 1.0, normalize: bool = True,
                           eps: float = 1e-8, group_size: int = 1
                           ) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's bandit estimator: rewards-to-go minus a baseline, no value head.

    The baseline is the mean of G_t at the same step t (all episodes share the horizon, so step
    t is comparable across rows): over the whole batch, or, with ``group_size`` G > 1, over the
    other G - 1 rows of the row's group (rows [kG, (k+1)G) played the same instance), the
    leave-one-out baseline of RLOO. It removes what the instance alone decides (how good its
    arms are), which otherwise dominates a bandit's return. Optionally normalized to unit std
    over the batch. Returns (advantages, returns), both [B, T].
    """
    returns = rewards_to_go(rewards, gamma)
    if group_size > 1:
        if returns.shape[0] % group_size:
            raise ValueError(f"{returns.shape[0]} rows do not split into groups of {group_size}")
        grouped = returns.reshape(-1, group_size, returns.shape[1])
        others = (grouped.sum(dim=1, keepdim=True) - grouped) / (group_size - 1)
        advantages = (grouped - others).reshape(returns.shape)
    else:
        advantages = returns - returns.mean(dim=0, keepdim=True)
    if normalize and advantages.numel() > 1:
        advantages = advantages / (advantages.std() + eps)
    return advantages, returns


def gae(rewards: torch.Tensor, values: torch.Tensor, dones: torch.Tensor,
        last_values: torch.Tensor, gamma: float = 1.0, lam: float = 0.95
        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation for variable-length episodes (tic-tac-toe).

    rewards, values, dones: [B, T]; dones[:, t] = 1 when the episode ended at step t (no
    bootstrap past it); last_values: [B], the value of the state after step T-1.
    Returns (advantages, returns = advantages + values).
    """
    num_steps = rewards.shape[1]
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(last_values)
    for t in range(num_steps - 1, -1, -1):
        next_values = last_values if t == num_steps - 1 else values[:, t + 1]
        not_done = 1.0 - dones[:, t].to(rewards.dtype)
        delta = rewards[:, t] + gamma * next_values * not_done - values[:, t]
        running = delta + gamma * lam * not_done * running
        advantages[:, t] = running
    return advantages, advantages + values
