"""The update guard: undo a rollout's update that broke the policy.

A single update can turn a healthy policy into one that answers nothing valid
(docs/training.md, "Regret on CPU"). Once every answer is the same invalid one, the per-step
baseline gives every token a zero advantage and the sampled-token KL term has no gradient left,
so nothing brings the policy back. The guard checks the whole update after the fact, like
TRPO's line search rejecting a step outside its trust region: before the update it saves the
engine state (weights, optimizer, LR schedule); after it, the rollout's valid answers are
scored again, and when the update fails a bound the saved state is loaded back. Training goes
on with the next rollout, so the update is skipped, as large LM runs skip the batches before a
loss spike. Two bounds, each optional:

- `algo.min_valid_ratio`: the mean of pi_new(answer) / pi_old(answer) over the valid answers
  is an importance-sampling estimate of P_new(valid) / P_old(valid); moving mass from one valid
  label to another leaves it near 1, a collapse into invalid answers takes it towards 0.
- `algo.max_update_kl`: the valid answers' mean approx KL(old || new) per token.

Only valid answers are measured: the -5 penalty is meant to drive an invalid answer's
probability towards 0, a large log-ratio that is the update working (measured: approx KL 1.07
over all tokens for an update that took the invalid rate from 0.097 to 0.005).

Loading the state back also loads the optimizer's momentum, and that can make every later
update fail the same way: seed 3 of configs/cpu_regret.yaml had 25 updates in a row undone, each
one's valid answers keeping 0.0% of their probability. So once `algo.reset_momentum_after`
updates in a row have been undone, a roll-back also zeroes the first-moment estimates; the
second moments and step counts stay, so the next steps are small ones along the new gradient.

The saved state lives only within one iteration, and the count of updates undone in a row is
saved with every checkpoint, so a resumed run replays the same decisions.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch

from rlft.trainer.checkpoint import barrier

SNAPSHOT_TAG = ".pre_update"


@dataclass
class UpdateDrift:
    """Sums over the valid answers of one rank; all-reduced across ranks before deciding."""

    answers: float = 0.0      # valid answers
    ratio_sum: float = 0.0    # sum of pi_new(answer) / pi_old(answer)
    kl_sum: float = 0.0       # sum over their tokens of 0.5 (log pi_new - log pi_old)^2
    tokens: float = 0.0       # their tokens

    @property
    def valid_ratio(self) -> float:
        return self.ratio_sum / self.answers if self.answers else 1.0

    @property
    def approx_kl(self) -> float:
        return self.kl_sum / self.tokens if self.tokens else 0.0


def update_drift(old_logp: Sequence[torch.Tensor], new_logp: Sequence[torch.Tensor],
                 valid: Sequence[bool]) -> UpdateDrift:
    """old_logp, new_logp: one [L_i] tensor of per-token log-probs per transition, the same
    lengths; valid: whether each transition's answer parsed to a valid action."""
    if not len(old_logp) == len(new_logp) == len(valid):
        raise ValueError(f"{len(old_logp)} old and {len(new_logp)} new rows of log-probs for "
                         f"{len(valid)} transitions")
    drift = UpdateDrift()
    for old, new, ok in zip(old_logp, new_logp, valid):
        if old.shape != new.shape:
            raise ValueError(f"log-prob rows of shapes {tuple(old.shape)} and "
                             f"{tuple(new.shape)}")
        if not ok:
            continue
        log_ratio = new.double() - old.double()
        drift.answers += 1
        drift.ratio_sum += float(log_ratio.sum().exp())
        drift.kl_sum += float(0.5 * log_ratio.square().sum())
        drift.tokens += old.numel()
    return drift


def clear_momentum(optimizer: torch.optim.Optimizer) -> int:
    """Zeroes in place the first-moment buffers (`exp_avg`, as AdamW and Adafactor with beta1
    name them) and leaves every other state; returns how many buffers were zeroed."""
    cleared = 0
    for state in optimizer.state.values():
        momentum = state.get("exp_avg")
        if isinstance(momentum, torch.Tensor):
            momentum.zero_()
            cleared += 1
    return cleared


class UpdateGuard:
    """Saves the engine state before an update and loads it back when the update failed a
    bound (0 turns a bound off; with both off the guard does nothing)."""

    def __init__(self, min_valid_ratio: float, max_kl: float, directory: Path,
                 is_main: bool, reset_momentum_after: int = 0) -> None:
        self.min_valid_ratio = min_valid_ratio
        self.max_kl = max_kl
        self.directory = Path(directory)
        self.is_main = is_main
        self.reset_momentum_after = reset_momentum_after
        self.undone_in_row = 0

    def state_dict(self) -> dict[str, int]:
        return {"undone_in_row": self.undone_in_row}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.undone_in_row = int(state.get("undone_in_row", 0))

    @property
    def enabled(self) -> bool:
        return self.min_valid_ratio > 0 or self.max_kl > 0

    def failed(self, drift: UpdateDrift) -> bool:
        return bool((self.min_valid_ratio > 0 and drift.valid_ratio < self.min_valid_ratio)
                    or (self.max_kl > 0 and drift.approx_kl > self.max_kl))

    def save(self, engine: Any) -> None:
        """The engine state before this iteration's update (every rank writes its part)."""
        if not self.enabled:
            return
        if self.is_main:
            shutil.rmtree(self.directory / SNAPSHOT_TAG, ignore_errors=True)
            self.directory.mkdir(parents=True, exist_ok=True)
        barrier()
        engine.save_checkpoint(str(self.directory), tag=SNAPSHOT_TAG, save_latest=False)
        barrier()

    def check(self, engine: Any, old_logp: Sequence[torch.Tensor],
              new_logp: Sequence[torch.Tensor], valid: Sequence[bool],
              device: torch.device) -> dict[str, float]:
        """Decides on the valid answers of all ranks and rolls the update back if it failed;
        returns `policy/valid_ratio`, `policy/update_kl`, and `optim/rolled_back` and
        `optim/momentum_reset` (0 or 1)."""
        if not self.enabled:
            return {}
        mine = update_drift(old_logp, new_logp, valid)
        sums = torch.tensor([mine.answers, mine.ratio_sum, mine.kl_sum, mine.tokens],
                            dtype=torch.float64, device=device)
        if torch.distributed.is_initialized() and torch.distributed.get_world_size() > 1:
            torch.distributed.all_reduce(sums)
        drift = UpdateDrift(*(float(x) for x in sums.tolist()))
        rolled_back = self.failed(drift)
        reset = False
        if rolled_back:
            engine.load_checkpoint(str(self.directory), tag=SNAPSHOT_TAG,
                                   load_module_strict=True, load_optimizer_states=True,
                                   load_lr_scheduler_states=True)
            self.undone_in_row += 1
            reset = 0 < self.reset_momentum_after <= self.undone_in_row
            if reset:
                clear_momentum(engine.basic_optimizer)
        else:
            self.undone_in_row = 0
        return {"policy/valid_ratio": drift.valid_ratio, "policy/update_kl": drift.approx_kl,
                "optim/rolled_back": float(rolled_back), "optim/momentum_reset": float(reset)}
