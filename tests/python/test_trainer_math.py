"""Losses, KL estimators, advantages and reward shaping against numbers computed by hand."""

import math

import numpy as np
import pytest
import torch

from rlft.trainer.advantages import gae, monte_carlo_advantages, rewards_to_go
from rlft.trainer.losses import (clipped_surrogate, kl_loss_term, kl_reward_estimate, masked_mean,
                                 ppo_kl_loss, value_loss)
from rlft.trainer.rewards import RewardScaler, shaped_reward


def test_rewards_to_go_undiscounted_and_discounted():
    rewards = torch.tensor([[1.0, 2.0, 3.0]])
    assert rewards_to_go(rewards).tolist() == [[6.0, 5.0, 3.0]]
    # 1 + 0.5 * (2 + 0.5 * 3) = 2.75
    assert rewards_to_go(rewards, gamma=0.5).tolist() == [[2.75, 3.5, 3.0]]


def test_monte_carlo_baseline_is_the_per_step_batch_mean():
    rewards = torch.tensor([[1.0, 0.0], [3.0, 2.0]])
    advantages, returns = monte_carlo_advantages(rewards, normalize=False)
    assert returns.tolist() == [[1.0, 0.0], [5.0, 2.0]]
    assert advantages.tolist() == [[-2.0, -1.0], [2.0, 1.0]]
    normalized, _ = monte_carlo_advantages(rewards, normalize=True)
    std = math.sqrt(10.0 / 3.0)  # sample std of [-2, -1, 2, 1]
    assert normalized.flatten().tolist() == pytest.approx([-2 / std, -1 / std, 2 / std, 1 / std])


def test_group_baseline_is_the_mean_of_the_other_rows_of_the_group():
    """Rows [0, 3) and [3, 6) played one instance each; the baseline of a row at step t is the
    mean return-to-go of the other two rows of its group (leave-one-out)."""
    rewards = torch.tensor([[1.0, 0.0], [2.0, 1.0], [3.0, 2.0],
                            [10.0, 0.0], [10.0, 0.0], [13.0, 3.0]])
    advantages, returns = monte_carlo_advantages(rewards, normalize=False, group_size=3)
    assert returns[:, 0].tolist() == [1.0, 3.0, 5.0, 10.0, 10.0, 16.0]
    # Row 0, step 0: 1 - (3 + 5) / 2; row 5, step 1: 3 - (0 + 0) / 2.
    assert advantages[:, 0].tolist() == [-3.0, 0.0, 3.0, -3.0, -3.0, 6.0]
    assert advantages[:, 1].tolist() == [-1.5, 0.0, 1.5, -1.5, -1.5, 3.0]
    # What the instance alone adds to every row of a group cancels.
    shifted, _ = monte_carlo_advantages(rewards + torch.tensor([[0.0], [0.0], [0.0], [7.0],
                                                                [7.0], [7.0]]),
                                        normalize=False, group_size=3)
    assert torch.equal(shifted, advantages)
    with pytest.raises(ValueError, match="groups of 4"):
        monte_carlo_advantages(rewards, group_size=4)


def test_gae_stops_at_episode_end():
    rewards = torch.tensor([[0.0, 1.0]])
    values = torch.tensor([[0.5, 0.8]])
    dones = torch.tensor([[0.0, 1.0]])
    advantages, returns = gae(rewards, values, dones, torch.tensor([0.3]), gamma=1.0, lam=0.5)
    # t=1: delta = 1 - 0.8 = 0.2 (no bootstrap);  t=0: delta = 0.8 - 0.5 = 0.3, + 0.5 * 0.2
    assert advantages[0].tolist() == pytest.approx([0.4, 0.2])
    assert returns[0].tolist() == pytest.approx([0.9, 1.0])


def test_gae_bootstraps_from_last_value_when_not_done():
    advantages, _ = gae(torch.tensor([[0.0]]), torch.tensor([[1.0]]), torch.tensor([[0.0]]),
                        torch.tensor([2.0]), gamma=0.9, lam=0.95)
    assert advantages.item() == pytest.approx(0.9 * 2.0 - 1.0)


def test_kl_loss_terms_by_hand():
    logp = torch.tensor([math.log(0.5)])
    ref_logp = torch.tensor([math.log(0.25)])
    log2 = math.log(2.0)
    assert kl_loss_term(logp, ref_logp, "k2").item() == pytest.approx(0.5 * log2**2)
    assert kl_loss_term(logp, ref_logp, "k3").item() == pytest.approx(0.5 - 1 + log2)
    assert kl_loss_term(ref_logp, ref_logp, "k3").item() == 0.0
    assert kl_reward_estimate(logp, ref_logp).item() == pytest.approx(log2)
    with pytest.raises(ValueError, match="zero expected gradient"):
        kl_loss_term(logp, ref_logp, "k1")
    with pytest.raises(ValueError, match="k4"):
        kl_loss_term(logp, ref_logp, "k4")


# A small categorical policy pi = softmax(theta) and a fixed reference, enumerated exactly:
# an expectation over tokens x ~ pi is a sum over x weighted by pi(x) (held fixed, as samples
# are: the gradient flows through the per-token terms only).
THETA = [0.3, -1.2, 0.8, 0.0, -0.4]
REFERENCE = torch.log_softmax(torch.tensor([-0.5, 0.4, 0.1, 1.1, -0.9], dtype=torch.float64), 0)


def _policy() -> tuple[torch.Tensor, torch.Tensor]:
    theta = torch.tensor(THETA, dtype=torch.float64, requires_grad=True)
    return theta, torch.log_softmax(theta, 0)


def _analytic_gradient(kl) -> torch.Tensor:
    theta, logp = _policy()
    kl(logp).backward()
    return theta.grad


FORWARD_KL = lambda logp: (logp.exp() * (logp - REFERENCE)).sum()    # KL(pi || ref)
REVERSE_KL = lambda logp: (REFERENCE.exp() * (REFERENCE - logp)).sum()  # KL(ref || pi)


@pytest.mark.parametrize("estimator, divergence", [("k2", FORWARD_KL), ("k3", REVERSE_KL)])
def test_kl_loss_term_has_the_gradient_of_the_kl_it_names(estimator, divergence):
    theta, logp = _policy()
    weights = logp.exp().detach()
    (weights * kl_loss_term(logp, REFERENCE, estimator)).sum().backward()
    torch.testing.assert_close(theta.grad, _analytic_gradient(divergence), rtol=1e-10, atol=0)


def test_kl_in_the_reward_has_the_policy_gradient_of_kl_pi_ref():
    # kl_mode 'reward': the advantage of token x is -beta * k1(x) (its only reward); the PPO
    # surrogate at ratio 1 then has the expected gradient beta * grad KL(pi || ref).
    beta = 0.05
    theta, logp = _policy()
    advantage = -beta * kl_reward_estimate(logp.detach(), REFERENCE)
    surrogate, _ = clipped_surrogate(logp, logp.detach(), advantage)
    (logp.exp().detach() * surrogate).sum().backward()
    torch.testing.assert_close(theta.grad, beta * _analytic_gradient(FORWARD_KL), rtol=1e-10,
                               atol=0)


def test_k1_as_a_loss_would_have_no_gradient_hence_refused():
    theta, logp = _policy()
    (logp.exp().detach() * (logp - REFERENCE)).sum().backward()
    assert theta.grad.abs().max() < 1e-15


@pytest.mark.parametrize("estimator", ["k2", "k3"])
@pytest.mark.parametrize("offset", [15.0, -15.0, 60.0, -60.0])
def test_kl_loss_term_pulls_back_however_far_the_policy_drifted(estimator, offset):
    # offset = log pi - log ref of a sampled token; the loss must push log pi back toward
    # log ref (a positive gradient when log pi is above it), and stay finite.
    logp = torch.tensor([offset - 3.0], requires_grad=True)
    term = kl_loss_term(logp, torch.tensor([-3.0]), estimator)
    term.sum().backward()
    assert torch.isfinite(term).all()
    assert logp.grad.item() * offset > 0, (estimator, offset, logp.grad)


def test_clipped_surrogate_cases():
    old = torch.zeros(3)
    logp = torch.log(torch.tensor([1.5, 1.5, 0.5]))
    adv = torch.tensor([1.0, -1.0, -1.0])
    loss, clipped = clipped_surrogate(logp, old, adv, clip_eps=0.2)
    # ratio 1.5, A=+1 -> min(1.5, 1.2) = 1.2 (clipped); ratio 1.5, A=-1 -> min(-1.5, -1.2) = -1.5;
    # ratio 0.5, A=-1 -> min(-0.5, -0.8) = -0.8 (clipped)
    assert loss.tolist() == pytest.approx([-1.2, 1.5, 0.8])
    assert clipped.tolist() == [1.0, 0.0, 1.0]


def test_masked_mean_ignores_padding():
    values = torch.tensor([[1.0, 2.0, 100.0]])
    mask = torch.tensor([[1, 1, 0]])
    assert masked_mean(values, mask).item() == 1.5


def test_ppo_kl_loss_combines_terms():
    logp = torch.log(torch.tensor([[0.5, 0.5]]))
    ref = torch.log(torch.tensor([[0.25, 0.5]]))
    adv = torch.tensor([[2.0, 2.0]])
    mask = torch.tensor([[1, 0]])
    log2 = math.log(2.0)
    loss, stats = ppo_kl_loss(logp, logp, ref, adv, mask, kl_coef=0.1, kl_estimator="k2")
    assert loss.item() == pytest.approx(-2.0 + 0.1 * 0.5 * log2**2)
    assert stats["policy/clipfrac"].item() == 0.0
    assert stats["policy/kl"].item() == pytest.approx(log2)  # k1 on the unmasked token
    assert stats["policy/kl_term"].item() == pytest.approx(0.5 * log2**2)
    # kl_coef 0 (kl_mode 'reward'): the surrogate alone, the KL still measured.
    loss, stats = ppo_kl_loss(logp, logp, ref, adv, mask, kl_coef=0.0)
    assert loss.item() == pytest.approx(-2.0) and "policy/kl_term" not in stats
    assert stats["policy/kl"].item() == pytest.approx(log2)


def test_value_loss_clipping():
    values, old, returns = torch.tensor([2.0]), torch.tensor([0.0]), torch.tensor([0.0])
    assert value_loss(values, old, returns, clip_eps=None).item() == 2.0
    # clipped value 0.2: max((2-0)^2, (0.2-0)^2) / 2
    assert value_loss(values, old, returns, clip_eps=0.2).item() == 2.0
    values = torch.tensor([0.5])
    returns = torch.tensor([1.0])
    # unclipped error 0.25, clipped value 0.2 -> error 0.64: the larger counts
    assert value_loss(values, old, returns, clip_eps=0.2).item() == pytest.approx(0.32)


def test_reward_scaling_divides_by_the_return_std_and_keeps_zeros():
    scaler = RewardScaler(gamma=1.0)
    # Sparse rewards (a game won or lost at the end): every non-terminal step stays exactly 0.
    rewards = np.array([[0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
    present = np.array([[True, True, True], [True, True, False]])
    scaled = scaler.scale(rewards, present)
    assert scaled[0, 0] == scaled[0, 1] == scaled[1, 0] == scaled[1, 2] == 0.0
    # Running returns seen: 0, 0 | 0, -1 | 1: variance of [0, 0, 0, -1, 1] (Chan's update
    # from the initial var 1 with weight 1e-4).
    returns = np.array([0.0, 0.0, 0.0, -1.0, 1.0])
    total = 1e-4 + 5
    var = (1.0 * 1e-4 + returns.var() * 5 + returns.mean() ** 2 * 1e-4 * 5 / total) / total
    assert scaled[0, 2] == pytest.approx(1.0 / math.sqrt(var + 1e-8))
    assert scaled[1, 1] == pytest.approx(-1.0 / math.sqrt(var + 1e-8))
    restored = RewardScaler(gamma=1.0)
    restored.load_state_dict(scaler.state_dict())
    assert restored.state_dict() == scaler.state_dict()
    np.testing.assert_array_equal(restored.scale(rewards, present), scaler.scale(rewards, present))


def test_shaping_adds_penalty_and_bonus():
    reward = shaped_reward(np.array([0.5, 0.5, 0.5]), np.array([False, True, False]),
                           novel_action=np.array([True, False, False]), exploration_bonus=1.0)
    assert reward.tolist() == [1.5, -4.5, 0.5]
