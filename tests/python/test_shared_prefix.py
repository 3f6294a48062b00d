"""Shared-prefix reuse is exact: teacher-forced log-probs, values and PPO gradients equal the
plain full forward's, greedy generations equal plain `generate`'s, on tiny fp32 models of each
family built from a config (Gemma's sliding window shorter than the prompts, so that it
matters); the LM head runs only where its logits are used. The first three checks run on CUDA
too (marked `gpu`), with the tolerances of `DEVICE_CHECKS`."""

from __future__ import annotations

import pytest
import torch

from rlft.agents.generation import SamplingConfig, SharedPrefix, generate
from rlft.trainer.losses import ppo_kl_loss
from rlft.trainer.policy import (PolicyWithValue, answer_logprobs, collate,
                                 enable_gradient_checkpointing)

VOCAB = 97
WINDOW = 6  # Gemma's sliding window, shorter than every prompt below


def tiny_lm(family: str, window: int = WINDOW) -> torch.nn.Module:
    import transformers as tf

    common = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=256, bos_token_id=1,
                  eos_token_id=2, pad_token_id=0)
    torch.manual_seed(0)
    if family == "llama":
        model = tf.LlamaForCausalLM(tf.LlamaConfig(num_hidden_layers=2, **common))
    elif family == "qwen2":
        model = tf.Qwen2ForCausalLM(tf.Qwen2Config(num_hidden_layers=2, **common))
    elif family == "gemma2":
        model = tf.Gemma2ForCausalLM(tf.Gemma2Config(num_hidden_layers=2, head_dim=8,
                                                     sliding_window=window, **common))
    elif family == "gemma3":
        model = tf.Gemma3ForCausalLM(tf.Gemma3TextConfig(
            num_hidden_layers=3, head_dim=8, sliding_window=window,
            layer_types=["sliding_attention", "full_attention", "sliding_attention"], **common))
    elif family == "gpt2":
        model = tf.GPT2LMHeadModel(tf.GPT2Config(
            vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=256, bos_token_id=1,
            eos_token_id=2, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0))
    else:
        raise ValueError(family)
    model.generation_config.eos_token_id = None  # generate the full budget every time
    return model.float().eval()


FAMILIES = ["llama", "qwen2", "gemma2", "gemma3", "gpt2"]

# Per device: the dtype and absolute tolerance of the log-prob check (bf16 on CUDA, as the
# trainer runs there: an 8-bit mantissa puts two orders of summation a few 1e-2 apart on
# log-probs near -ln(97)), and the relative tolerance of the gradient and value checks, run in
# fp32 on both (CUDA's kernels reduce in another order than the CPU's). Greedy generations
# are compared in fp32: in bf16 near-ties between logits may break either way.
DEVICE_CHECKS = {"cpu": (torch.float32, 1e-5, 1e-5), "cuda": (torch.bfloat16, 5e-2, 1e-4)}


def _random(count: int, generator: torch.Generator) -> list[int]:
    return torch.randint(5, VOCAB, (count,), generator=generator).tolist()


def transitions() -> tuple[list[int], list[list[int]], list[list[int]]]:
    """(shared prefix, prompts, answers): four prompts that start with the prefix, of different
    lengths, one of them only one token longer."""
    generator = torch.Generator().manual_seed(1)
    shared = _random(12, generator)
    prompts = [shared + _random(n, generator) for n in (3, 9, 1, 6)]
    answers = [_random(n, generator) for n in (2, 4, 1, 3)]
    return shared, prompts, answers


def full_forward(model, prompt: list[int], answer: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Answer log-probs [len(answer)] and the last prompt token's final hidden state from one
    plain, unpadded forward of the whole sequence."""
    device = next(model.parameters()).device
    out = model(input_ids=torch.tensor([prompt + answer], device=device),
                output_hidden_states=True)
    logp = torch.log_softmax(out.logits[0, len(prompt) - 1:-1].float(), dim=-1)
    return (logp.gather(-1, torch.tensor(answer, device=device)[:, None]).squeeze(-1),
            out.hidden_states[-1][0, len(prompt) - 1])


def test_gemma_window_is_shorter_than_the_prompts():
    """Else the sliding-window tests below could not fail."""
    _, prompts, answers = transitions()
    short, long = tiny_lm("gemma2"), tiny_lm("gemma2", window=512)
    with torch.no_grad():
        ids = torch.tensor([prompts[1] + answers[1]])
        assert not torch.allclose(short(input_ids=ids).logits, long(input_ids=ids).logits)


@pytest.mark.parametrize("family", FAMILIES)
def test_prefix_logprobs_and_values_match_the_full_forward(family, torch_device):
    dtype, atol, rel = DEVICE_CHECKS[torch_device.type]
    model = tiny_lm(family).to(torch_device)
    shared, prompts, answers = transitions()
    policy = PolicyWithValue(model, value_head=True).to(torch_device)
    torch.nn.init.normal_(policy.value_head.weight)
    batch = collate(prompts, answers, 0, torch_device)
    assert batch.prefix_ids[0].tolist() == prompts[2][:-1]  # shared, minus one own token
    with torch.no_grad():
        _, _, values = answer_logprobs(policy, batch)  # fp32
        for row, (prompt, answer) in enumerate(zip(prompts, answers)):
            hidden = full_forward(model, prompt, answer)[1]
            assert float(values[row]) == pytest.approx(float(policy.value_head(hidden)),
                                                       rel=rel, abs=rel)
        policy.to(dtype)
        logp, _, _ = answer_logprobs(policy, batch)
        for row, (prompt, answer) in enumerate(zip(prompts, answers)):
            expected = full_forward(model, prompt, answer)[0]
            assert torch.allclose(logp[row, :len(answer)].float(), expected, atol=atol)


@pytest.mark.parametrize("family", ["llama", "gemma2"])
def test_rows_sharing_nothing_are_exact_too(family):
    model = tiny_lm(family)
    _, prompts, answers = transitions()
    prompts = [[7 + row] + prompt for row, prompt in enumerate(prompts)]  # first tokens differ
    batch = collate(prompts, answers, 0, torch.device("cpu"))
    assert batch.prefix_ids.shape == (1, 0)
    with torch.no_grad():
        logp, _, _ = answer_logprobs(PolicyWithValue(model, False), batch)
        for row, (prompt, answer) in enumerate(zip(prompts, answers)):
            assert torch.allclose(logp[row, :len(answer)], full_forward(model, prompt, answer)[0],
                                  atol=1e-5)


def _ppo_loss(logp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The PPO + KL loss of the trainer, with fixed old/ref log-probs and advantages."""
    generator = torch.Generator().manual_seed(3)
    noise = torch.randn((2, *logp.shape), generator=generator).to(logp.device)
    old = (logp.detach() + 0.1 * noise[0]) * mask
    ref = (logp.detach() - 0.1 * noise[1]) * mask
    advantage = torch.randn(logp.shape[0], 1, generator=generator).to(logp.device)
    loss, _ = ppo_kl_loss(logp, old, ref, advantage, mask, 0.2, 0.05, "k3")
    return loss


def _gradients(model) -> dict[str, torch.Tensor]:
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return grads


def _assert_same_gradients(got: dict, expected: dict, rel: float = 1e-5) -> None:
    assert set(got) == set(expected)
    for name, grad in expected.items():
        scale = grad.norm().clamp(min=1e-12)
        assert float((got[name] - grad).norm() / scale) < rel, name


def _plain_logprobs(model, prompts, answers) -> tuple[torch.Tensor, torch.Tensor]:
    """[N, L] answer log-probs and mask from unpadded full forwards, one row at a time."""
    device = next(model.parameters()).device
    length = max(len(a) for a in answers)
    rows = []
    for prompt, answer in zip(prompts, answers):
        logits = model(input_ids=torch.tensor([prompt + answer], device=device)).logits[0]
        logp = torch.log_softmax(logits[len(prompt) - 1:-1], -1)
        logp = logp.gather(-1, torch.tensor(answer, device=device)[:, None]).squeeze(-1)
        rows.append(torch.cat([logp, logp.new_zeros(length - len(answer))]))
    mask = torch.tensor([[1.0] * len(a) + [0.0] * (length - len(a)) for a in answers],
                        device=device)
    return torch.stack(rows), mask


@pytest.mark.parametrize("family", ["llama", "gemma3", "gpt2"])
def test_ppo_gradients_match_the_full_forward(family, torch_device):
    model = tiny_lm(family).to(torch_device).train()
    _, prompts, answers = transitions()
    logp, mask = _plain_logprobs(model, prompts, answers)
    _ppo_loss(logp, mask).backward()
    expected = _gradients(model)
    batch = collate(prompts, answers, 0, torch_device)
    logp, _, _ = answer_logprobs(PolicyWithValue(model, False), batch)
    _ppo_loss(logp * batch.answer_mask, batch.answer_mask.float()).backward()
    _assert_same_gradients(_gradients(model), expected, DEVICE_CHECKS[torch_device.type][2])


@pytest.mark.parametrize("family", ["llama", "gemma2"])
def test_gradient_checkpointing_gives_the_same_gradients(family):
    from rlft.trainer.config import ConfigError, checkpointing_keeps_cache, load_config

    if not checkpointing_keeps_cache():  # transformers < 5.15: refused before any work
        with pytest.raises(ConfigError, match="engine.gradient_checkpointing needs"):
            load_config(None, ["engine.gradient_checkpointing=true"])
        return
    model = tiny_lm(family).train()
    _, prompts, answers = transitions()
    batch = collate(prompts, answers, 0, torch.device("cpu"))
    policy = PolicyWithValue(model, False)

    def gradients() -> dict[str, torch.Tensor]:
        logp, _, _ = answer_logprobs(policy, batch)
        _ppo_loss(logp * batch.answer_mask, batch.answer_mask.float()).backward()
        return _gradients(model)

    plain = gradients()
    enable_gradient_checkpointing(model)
    calls = []
    attention = model.model.layers[0].self_attn
    handle = attention.register_forward_hook(lambda *args: calls.append(torch.is_grad_enabled()))
    checkpointed = gradients()
    handle.remove()
    # Two forwards (prefix, own tokens), each recomputed in the backward pass.
    assert len(calls) == 4
    _assert_same_gradients(checkpointed, plain)


def _plain_greedy(model, prompts: list[list[int]], new_tokens: int) -> list[list[int]]:
    """Greedy answers of plain `generate` on the whole prompts, left-padded in one batch."""
    device = next(model.parameters()).device
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[0] * (width - len(p)) + p for p in prompts], device=device)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
    out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new_tokens,
                         do_sample=False, pad_token_id=0)
    return out[:, width:].tolist()


class _Tokenizer:
    pad_token_id = 0
    eos_token_id = None  # as the models: every answer runs the whole budget

    def decode(self, ids, skip_special_tokens=True):
        return " ".join(map(str, ids))


@pytest.mark.parametrize("family", FAMILIES)
def test_greedy_generations_match_plain_generate(family, torch_device):
    model = tiny_lm(family).to(torch_device)
    shared, prompts, _ = transitions()
    generator = torch.Generator().manual_seed(5)
    prompts = prompts + [_random(4, generator), shared[:3]]  # shares nothing; shares a little
    prefix = SharedPrefix(shared)
    sampling = SamplingConfig(max_new_tokens=10, batch_size=4)
    out = generate(model, _Tokenizer(), prompts, sampling, prefix=prefix)
    assert out.token_ids == _plain_greedy(model, prompts, 10)
    assert out.prompt_ids == prompts
    states = prefix.states
    again = generate(model, _Tokenizer(), prompts[1:3], sampling, prefix=prefix)
    assert prefix.states is states  # computed once, reused
    assert again.token_ids == out.token_ids[1:3]


@pytest.mark.parametrize("family", ["llama", "gemma2"])
@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_sampler_logprobs_are_the_teacher_forced_ones(family, temperature):
    """The log-probs generate() records for the tokens it samples equal the trainer's
    teacher-forced log-probs of those tokens (the trainer logs their gap on every run)."""
    model = tiny_lm(family)
    shared, prompts, _ = transitions()
    sampling = SamplingConfig(temperature=temperature, max_new_tokens=5, batch_size=3)
    out = generate(model, _Tokenizer(), prompts, sampling, seed=4, prefix=SharedPrefix(shared))
    assert [len(row) for row in out.logprobs] == [len(row) for row in out.token_ids]
    batch = collate(prompts, out.token_ids, 0, torch.device("cpu"))
    with torch.no_grad():
        logp, _, _ = answer_logprobs(PolicyWithValue(model, False), batch, temperature)
    assert torch.allclose(logp, torch.tensor(out.logprobs), atol=1e-5)


def test_reserved_layer_writes_decoded_states_in_place():
    from transformers.cache_utils import DynamicLayer

    from rlft.models.shared_prefix import ReservedLayer

    generator = torch.Generator().manual_seed(3)
    states = [torch.randn(2, 3, n, 4, generator=generator) for n in (5, 1, 1, 2)]
    plain, reserved = DynamicLayer(), ReservedLayer(states[0], states[0] + 1, room=2)
    plain.update(states[0], states[0] + 1)
    storage = reserved.keys.untyped_storage().data_ptr()
    for step, new in enumerate(states[1:]):
        expected = plain.update(new, new + 1)
        got = reserved.update(new, new + 1)
        for a, b in zip(got, expected):
            assert torch.equal(a, b)
        assert reserved.get_seq_length() == plain.get_seq_length()
        # Within its room of 2 columns the layer writes in place; the third step grows it.
        moved = reserved.keys.untyped_storage().data_ptr() != storage
        assert moved == (step == 2)


def _head_positions(model) -> tuple[list[int], object]:
    """Positions the LM head computes logits at, per forward."""
    seen: list[int] = []
    handle = model.get_output_embeddings().register_forward_hook(
        lambda module, args, out: seen.append(out.shape[0] * out.shape[1]))
    return seen, handle


def test_lm_head_runs_only_where_logits_are_used():
    model = tiny_lm("llama")
    shared, prompts, answers = transitions()
    seen, handle = _head_positions(model)
    with torch.no_grad():
        answer_logprobs(PolicyWithValue(model, False),
                        collate(prompts, answers, 0, torch.device("cpu")))
        assert seen == [0, len(prompts) * max(len(a) for a in answers)]  # prefix, own tokens
        seen.clear()
        generate(model, _Tokenizer(), prompts, SamplingConfig(max_new_tokens=3, batch_size=8),
                 prefix=SharedPrefix(shared))
    handle.remove()
    # Prefix and prefill: none; then one position per row and generated token.
    assert seen == [0, 0] + [len(prompts)] * 3


class _IgnoresLogitsToKeep(torch.nn.Module):
    """A causal LM whose forward drops `logits_to_keep` and returns every position's logits."""

    def __init__(self, lm):
        super().__init__()
        self.inner, self.config = lm, lm.config

    def get_output_embeddings(self):
        return self.inner.get_output_embeddings()

    def get_base_model(self):  # as PEFT wrappers have: the model whose forward takes the cache
        return self.inner

    def forward(self, logits_to_keep=0, **kwargs):
        return self.inner(**kwargs)


class _BypassesItsHead(_IgnoresLogitsToKeep):
    """Computes its logits from the head's weight without calling the head module."""

    def forward(self, logits_to_keep=0, **kwargs):
        out = self.inner.model(**{k: v for k, v in kwargs.items() if k != "use_cache"})
        out.logits = out.last_hidden_state @ self.inner.lm_head.weight.T
        return out


def test_a_model_that_ignores_logits_to_keep_still_reads_the_answer_positions():
    model = tiny_lm("llama")
    _, prompts, answers = transitions()
    batch = collate(prompts, answers, 0, torch.device("cpu"))
    with torch.no_grad():
        logp, _, _ = answer_logprobs(PolicyWithValue(_IgnoresLogitsToKeep(model), False), batch)
        for row, (prompt, answer) in enumerate(zip(prompts, answers)):
            assert torch.allclose(logp[row, :len(answer)], full_forward(model, prompt, answer)[0],
                                  atol=1e-5)


def test_logits_of_the_wrong_length_are_an_error():
    _, prompts, answers = transitions()
    batch = collate(prompts, answers, 0, torch.device("cpu"))
    policy = PolicyWithValue(_BypassesItsHead(tiny_lm("llama")), False)
    with torch.no_grad(), pytest.raises(ValueError, match=r"logits of shape .* expected \(4, 4\)"):
        answer_logprobs(policy, batch)


def test_collate_layout():
    shared, prompts, answers = transitions()
    batch = collate(prompts, answers, 0, torch.device("cpu"))
    prefix = batch.prefix_ids.shape[1]
    for row, (prompt, answer) in enumerate(zip(prompts, answers)):
        own = prompt[prefix:]
        assert batch.input_ids[row, :len(own) + len(answer)].tolist() == own + answer
        assert int(batch.attention_mask[row].sum()) == len(own) + len(answer)
        assert int(batch.value_columns[row]) == len(own) - 1
        columns = batch.logit_columns[row, :len(answer)].tolist()
        assert columns == list(range(len(own) - 1, len(own) + len(answer) - 1))
    assert batch.computed_tokens == prefix + sum(len(p) - prefix + len(a)
                                                 for p, a in zip(prompts, answers))
    whole = collate(prompts, answers, 0, torch.device("cpu"), prefix_length=0)
    assert whole.prefix_ids.shape == (1, 0)
    assert whole.input_ids.shape[1] == 21 + 4  # the longest row: 21 prompt + 4 answer tokens
    with pytest.raises(ValueError, match="prefix_length 13 is outside"):
        collate(prompts, answers, 0, torch.device("cpu"), prefix_length=13)


@pytest.mark.parametrize("family", ["llama", "gemma2"])
def test_bf16_lm_head_runs_in_fp32_at_the_answer_columns(family):
    """A bf16 model's answer log-probs are those of an fp32 LM head (and, for Gemma, an fp32
    final soft-cap) on its bf16 hidden states, and so are the head's gradients: a bf16 head
    rounds logits of 8-32 to steps of 0.06-0.12."""
    model = tiny_lm(family)
    head = model.get_output_embeddings()
    with torch.no_grad():
        head.weight.mul_(300.0)  # logits of a trained model's size, tens
    model.to(torch.bfloat16)
    _, prompts, answers = transitions()
    batch = collate(prompts, answers, 0, torch.device("cpu"))
    seen: list[torch.Tensor] = []
    handle = head.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    logp, _, _ = answer_logprobs(PolicyWithValue(model, False), batch)
    handle.remove()
    (logp * batch.answer_mask).sum().backward()
    rows = seen[-1].detach()  # the rows' forward, after the shared prefix's
    index = batch.logit_columns[..., None].expand(-1, -1, rows.shape[-1])
    hidden = torch.gather(rows, 1, index).float()
    weight = head.weight.detach().float().requires_grad_()
    logits = hidden @ weight.t()
    assert logits.abs().max() > 8.0
    cap = getattr(model.config, "final_logit_softcapping", None)
    if cap is not None:
        logits = torch.tanh(logits / cap) * cap
    expected = torch.log_softmax(logits, -1).gather(-1, batch.answer_ids[..., None]).squeeze(-1)
    (expected * batch.answer_mask).sum().backward()
    mask = batch.answer_mask.bool()
    assert logp.dtype == torch.float32
    assert torch.allclose(logp[mask], expected[mask], atol=1e-5)
    if family == "llama":  # untied: the head's gradient is the head's alone
        assert torch.allclose(head.weight.grad.float(), weight.grad.to(torch.bfloat16).float(),
                              rtol=1e-2, atol=1e-2)
