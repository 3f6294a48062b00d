"""Shared by the multi-rank run tests."""

import re


def assert_ranks_agreed(stdout: str, steps: int, zero_stage: int) -> None:
    """The run's own checks (rlft.trainer.rank_agreement) ran and passed: both ranks started
    from one set of weights and took the same optimizer steps to the same weights."""
    assert re.search(r"ranks agree on the starting weights \(sha256 [0-9a-f]{16}\)", stdout)
    digest = "sharded" if zero_stage == 3 else "[0-9a-f]{16}"
    assert re.search(rf"ranks agree on {steps} optimizer steps and the trained weights "
                     rf"\(sha256 {digest}\)", stdout), stdout[-3000:]
