"""Frequency-bias analysis: scripted scorers with known answers, and the LLM teacher-forcing
scorer against a plain full forward pass."""

import json
from pathlib import Path

import numpy as np
import pytest

from rlft.analysis.config import FrequencyBiasConfig
from rlft.analysis.frequency_bias import (Context, TeacherForcingScorer, build_contexts,
                                          classify, frequency_bias_metrics, normalise,
                                          render_context, run_frequency_bias)
from rlft.cli import main


class ScriptedScorer:
    """Puts all probability on the arm ``pick(counts, means)`` returns."""

    def __init__(self, pick):
        self.pick = pick

    def log_probs(self, queries):
        rows = []
        for query in queries:
            k = len(query.labels)
            counts = np.bincount(query.actions, minlength=k)
            sums = np.bincount(query.actions, weights=query.rewards, minlength=k)
            means = np.where(counts > 0, sums / np.maximum(counts, 1), -np.inf)
            row = np.full(k, -np.inf)
            row[self.pick(counts, means)] = 0.0
            rows.append(row)
        return np.array(rows)


most_frequent = ScriptedScorer(lambda counts, means: int(np.argmax(counts)))
best_mean = ScriptedScorer(lambda counts, means: int(np.argmax(means)))
untried = ScriptedScorer(lambda counts, means: int(np.flatnonzero(counts == 0)[0]))


def small_config(tmp_path, **overrides):
    values = dict(arms=10, num_histories=3, num_targets=3, max_history=6, max_repetitions=30,
                  repetition_step=3, buckets=["0-10", "12-18", "21-30"], out=str(tmp_path))
    values.update(overrides)
    return FrequencyBiasConfig(**values)


def test_contexts_follow_the_protocol(tmp_path):
    config = small_config(tmp_path)
    contexts = build_contexts(config)
    assert len(contexts) == 3 * 3 * 11
    for context in contexts:
        prefix = len(context.actions) - context.repetitions - 1
        assert config.min_history - 1 <= prefix <= config.max_history - 1
        assert np.all(context.actions[prefix:] == context.target)
    # One (history, target) block: the same prefix and rewards, extended one repetition at a time.
    block = contexts[:11]
    for shorter, longer in zip(block, block[1:]):
        assert np.array_equal(longer.actions[:len(shorter.actions)], shorter.actions)
        assert np.array_equal(longer.rewards[:len(shorter.rewards)], shorter.rewards)
    # Same seed, same contexts; targets within a history are distinct.
    again = build_contexts(config)
    assert all(np.array_equal(a.rewards, b.rewards) for a, b in zip(contexts, again))
    assert len({c.target for c in contexts if c.history == 0}) == 3


def test_always_greedy_scorer(tmp_path):
    metrics = run_frequency_bias(small_config(tmp_path), scorer=best_mean, show_progress=False)
    for group in [metrics["overall"], *metrics["buckets"].values()]:
        assert (group["frequent"], group["greedy"], group["other"]) == (0.0, 1.0, 0.0)
        assert group["mass_greedy"] == pytest.approx(1.0)
    assert metrics["entropy_mean"] == 0.0
    assert np.isnan(metrics["entropy_repetition_correlation"])  # constant entropy
    for name in ("metrics.json", "summary.md", "entropy_vs_repetitions.png", "fractions.png"):
        assert (tmp_path / name).is_file(), name
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["entropy_repetition_correlation"] is None  # strict JSON: NaN -> null


def test_always_untried_scorer_is_other(tmp_path):
    metrics = run_frequency_bias(small_config(tmp_path), scorer=untried, show_progress=False)
    assert metrics["overall"]["other"] == 1.0
    assert metrics["overall"]["frequent"] == metrics["overall"]["greedy"] == 0.0


def test_always_most_frequent_scorer(tmp_path):
    config = small_config(tmp_path)
    metrics = run_frequency_bias(config, scorer=most_frequent, show_progress=False)
    contexts = build_contexts(config)
    # Independent count: from 9 repetitions on, the target is the only most frequent arm
    # (a history has at most 5 other steps); it is 'greedy' where it has the best mean.
    late = [c for c in contexts if c.repetitions >= 21]
    target_is_best = [c.rewards[c.actions == c.target].mean()
                      >= max(c.rewards[c.actions == a].mean() for a in set(c.actions.tolist()))
                      for c in late]
    bucket = metrics["buckets"]["21-30"]
    assert bucket["greedy"] == pytest.approx(np.mean(target_is_best))
    assert bucket["frequent"] == pytest.approx(1 - np.mean(target_is_best))
    assert bucket["other"] == 0.0
    assert bucket["target"] == 1.0 and bucket["mass_target"] == 1.0
    assert metrics["overall"]["other"] == 0.0
    assert metrics["overall"]["frequent"] > 0.0


def test_tie_rule_and_entropy():
    # Arm 0 is frequent (3 pulls) and arm 1 greedy (best mean); arm 2 tried once, arm 3 never.
    context = Context(0, 0, 2, np.array([0, 0, 0, 1, 2]), np.array([0.0, 0.0, 0.0, 5.0, 1.0]))
    frequent, greedy = classify(context.actions, context.rewards, 4)
    assert frequent.tolist() == [True, False, False, False]
    assert greedy.tolist() == [False, True, False, False]
    probs = np.array([[0.7, 0.1, 0.1, 0.1],    # argmax frequent
                      [0.1, 0.7, 0.1, 0.1],    # argmax greedy
                      [0.1, 0.1, 0.1, 0.7],    # argmax other
                      [0.25, 0.25, 0.25, 0.25]])
    metrics = frequency_bias_metrics([context] * 4, probs, [(0, 10)])
    assert metrics["context_category"] == ["frequent", "greedy", "other", "frequent"]
    assert metrics["overall"]["mass_frequent"] == pytest.approx((0.7 + 0.1 + 0.1 + 0.25) / 4)
    expected = -(0.7 * np.log(0.7) + 3 * 0.1 * np.log(0.1))
    assert metrics["context_entropy"][:3] == pytest.approx([expected] * 3)
    assert metrics["context_entropy"][3] == pytest.approx(np.log(4))
    # The frequent arm that is also the best-mean arm counts as greedy.
    both = Context(0, 0, 2, np.array([0, 0, 1]), np.array([3.0, 3.0, 1.0]))
    metrics = frequency_bias_metrics([both], np.array([[0.9, 0.05, 0.05]]), [(0, 10)])
    assert metrics["context_category"] == ["greedy"]
    assert metrics["overall"]["mass_frequent"] == 0.0


def test_entropy_correlation_sign():
    """A scorer that grows surer with repetitions gives a negative correlation."""
    contexts = [Context(0, 1, r, np.array([0] + [1] * (r + 1)), np.zeros(r + 2))
                for r in range(0, 20, 2)]
    probs = normalise(np.array([[0.0, 0.3 * c.repetitions, 0.0] for c in contexts]))
    metrics = frequency_bias_metrics(contexts, probs, [(0, 20)])
    assert metrics["entropy_repetition_correlation"] < -0.9
    assert metrics["entropy_by_repetition"] == sorted(metrics["entropy_by_repetition"],
                                                      reverse=True)


def _plain_gemma3(tiny_model):
    """A random-init Gemma 3 text model built from a config (sliding-window and full attention
    layers, logit soft-capping) and the tiny tokenizer without its chat template: the
    gemma3-270m preset's shape, prompted in the plain-text format."""
    import copy

    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    _, tiny_tokenizer = tiny_model
    tokenizer = copy.deepcopy(tiny_tokenizer)
    tokenizer.chat_template = None
    torch.manual_seed(0)
    config = Gemma3TextConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, head_dim=16, sliding_window=16,
        layer_types=["sliding_attention", "full_attention"], max_position_embeddings=4096,
        final_logit_softcapping=30.0, tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id)
    return Gemma3ForCausalLM(config).eval(), tokenizer


@pytest.mark.parametrize("kind", ["tiny", "gemma3_plain_text"])
def test_teacher_forcing_matches_full_forward(tiny_model, tmp_path, kind):
    """The cached, batched scorer equals one full forward pass per (context, label): on the
    tiny preset, and on a Gemma 3 model without a chat template whose prompts run past its
    sliding window."""
    import torch

    from rlft.text.chat import format_chat, has_chat_template
    from rlft.text.prompts import mab_labels

    model, tokenizer = tiny_model if kind == "tiny" else _plain_gemma3(tiny_model)
    assert has_chat_template(tokenizer) == (kind == "tiny")
    config = small_config(tmp_path, num_histories=1, num_targets=2, max_repetitions=4,
                          repetition_step=2)
    labels = mab_labels("button", 10)
    contexts = build_contexts(config)
    scorer = TeacherForcingScorer(model, tokenizer)
    prompts = [render_context(config, c, 20) for c in contexts]
    fast = np.stack([scorer.score(prompt, labels) for prompt in prompts])
    for row in (0, 2, 3):  # first, extended and restarted (new target) contexts
        chat = format_chat(tokenizer, [{"role": "user", "content": prompts[row]}])
        answers = [tokenizer(chat + "ACTION=" + label, add_special_tokens=False)["input_ids"]
                   for label in labels]
        # Scored: each answer's tokens after the part all K answers share.
        start = 0
        while all(len(a) > start + 1 and a[start] == answers[0][start] for a in answers):
            start += 1
        for column, ids in enumerate(answers):
            with torch.no_grad():
                log_probs = torch.log_softmax(model(torch.tensor([ids])).logits[0].double(), -1)
            expected = sum(float(log_probs[j - 1, ids[j]]) for j in range(start, len(ids)))
            assert fast[row, column] == pytest.approx(expected, abs=1e-4)


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="num_targets"):
        FrequencyBiasConfig(arms=4, num_targets=5)
    with pytest.raises(ValueError, match="buckets"):
        FrequencyBiasConfig(buckets=["10"])
    with pytest.raises(ValueError, match="max_history"):
        FrequencyBiasConfig(min_history=5, max_history=3)


def test_cli_smoke(tmp_path, tiny_model, monkeypatch):
    import rlft.models

    monkeypatch.setattr(rlft.models, "load_model_and_tokenizer", lambda name, **kw: tiny_model)
    out = tmp_path / "fb"
    assert main(["analyze", "frequency-bias", "--model", "tiny", "--num-histories", "1",
                 "--num-targets", "2", "--max-repetitions", "6", "--repetition-step", "3",
                 "--buckets", "0-3", "--buckets", "6-6", "--out", str(out), "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["num_contexts"] == 6
    assert metrics["forward_passes"] == 60
    assert np.allclose(np.sum(metrics["context_probs"], axis=1), 1.0)
    groups = [metrics["overall"], *metrics["buckets"].values()]
    for group in groups:
        assert group["frequent"] + group["greedy"] + group["other"] == pytest.approx(1.0)
    assert (out / "summary.md").is_file()


def test_sampled_scoring_reads_a_cot_policy(tmp_path):
    """A CoT policy is scored from its sampled answers: the tiny-agent preset reads the
    per-arm means its compact prompt shows and answers the best one about nine times in ten,
    so its answers fall mostly on the greedy arm and rarely on a merely frequent one; the
    same seed gives the same shares."""
    from rlft.trainer.config import load_config

    default = Path(__file__).resolve().parents[2] / "configs" / "cpu_default.yaml"
    prompt = load_config(default).prompt
    assert prompt.cot and prompt.summary

    def run(out):
        return run_frequency_bias(FrequencyBiasConfig(
            model="tiny-agent", out=str(tmp_path / out), arms=5, num_histories=3,
            num_targets=3, max_repetitions=20, repetition_step=10, prompt=prompt,
            noise="low", samples=3, max_new_tokens=40), show_progress=False)

    metrics = run("a")
    contexts = 3 * 3 * 3
    assert metrics["num_contexts"] == contexts
    assert metrics["sampled_answers"] == contexts * 3 and metrics["unparsed_answers"] == 0
    overall = metrics["overall"]
    assert overall["mass_greedy"] > 0.7 and overall["mass_frequent"] < 0.15
    assert run("b")["context_probs"] == metrics["context_probs"]
