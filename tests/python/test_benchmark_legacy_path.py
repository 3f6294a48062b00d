"""The old path of benchmarks/trainer.py (every prompt in full: left-padded prompts, plain
`generate` on whole prompts) is the baseline of every speed-up it reports, so it must compute
what today's path computes: the same answer log-probs, entropies and values (fp32 tolerance)
and the same greedy tokens, on the tiny preset."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

from rlft.agents.generation import SamplingConfig, SharedPrefix, generate
from rlft.trainer.policy import PolicyWithValue, answer_logprobs, collate

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(BENCHMARKS))  # for its `from provenance import ...`
        spec = importlib.util.spec_from_file_location("benchmark_trainer",
                                                      BENCHMARKS / "trainer.py")
        module = importlib.util.module_from_spec(spec)
        patch.setitem(sys.modules, spec.name, module)  # its dataclasses look themselves up
        spec.loader.exec_module(module)
    return module


def _transitions(vocab: int) -> tuple[list[int], list[list[int]], list[list[int]]]:
    """A shared prefix, four prompts of different lengths starting with it, and answers."""
    generator = torch.Generator().manual_seed(3)

    def ids(count: int) -> list[int]:
        return torch.randint(10, vocab, (count,), generator=generator).tolist()

    shared = ids(14)
    return shared, [shared + ids(n) for n in (5, 1, 8, 3)], [ids(n) for n in (3, 6, 1, 4)]


def test_old_path_log_probs_equal_todays(bench, tiny_model):
    model, tokenizer = tiny_model
    _, prompts, answers = _transitions(len(tokenizer))
    policy = PolicyWithValue(model, value_head=True).eval()
    torch.nn.init.normal_(policy.value_head.weight, generator=torch.Generator().manual_seed(0))
    pad, cpu = tokenizer.pad_token_id, torch.device("cpu")
    with torch.no_grad():
        old = bench.legacy_answer_logprobs(policy, bench.legacy_collate(prompts, answers, pad, cpu),
                                           temperature=0.7, with_entropy=True)
        new_batch = collate(prompts, answers, pad, cpu)
        new = answer_logprobs(policy, new_batch, temperature=0.7, with_entropy=True)
    assert new_batch.prefix_ids.shape[1] > 0  # today's path does share the prefix
    mask = new_batch.answer_mask.bool()
    for name, a, b in zip(("log-probs", "entropy"), old[:2], new[:2]):
        torch.testing.assert_close(a[mask], b[mask], rtol=1e-5, atol=1e-5, msg=name)
    assert new[2].abs().min() > 0  # the value head reads something (it starts at zero)
    torch.testing.assert_close(old[2], new[2], rtol=1e-5, atol=1e-5)


def test_old_path_greedy_tokens_equal_todays(bench, tiny_model):
    model, tokenizer = tiny_model
    shared, prompts, _ = _transitions(len(tokenizer))
    sampling = SamplingConfig(max_new_tokens=8, batch_size=3)  # two chunks
    old = bench.legacy_generate(model, tokenizer, prompts, sampling, seed=0)
    new = generate(model, tokenizer, prompts, sampling, seed=0, prefix=SharedPrefix(shared))
    assert old.token_ids == new.token_ids and old.texts == new.texts
    assert sum(map(len, new.token_ids)) > len(prompts)  # more than an immediate EOS
