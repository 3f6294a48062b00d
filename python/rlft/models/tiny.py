"""The ``tiny`` preset: a small random-init Llama and a byte-level BPE tokenizer trained locally.

Nothing is downloaded. The tokenizer is trained on :func:`generate_corpus` (rlft-shaped text),
the model is initialised from a fixed seed, and both are saved as a plain Hugging Face model
directory in the cache, so the same settings always give byte-identical files.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from rlft.models.cache import cached_build
from rlft.models.portable import make_model_dir_portable
from rlft.models.tiny_corpus import generate_corpus, number_sheet

PRESET_NAME = "tiny"
# Bump when the build recipe changes so old cache entries are not reused.
BUILD_VERSION = 1
# number_embeddings: a number token's value as a thermometer code in the first embedding
# columns, one per threshold (in tenths, -0.6 to 1.7, where rewards and their means fall):
# +NUMBER_CODE if the value reaches the threshold, -NUMBER_CODE below it, 0 for other tokens.
# Comparing two values is then a sum over many columns, which attention learns with small
# weights (one value column would need weights large enough to resolve 0.1 steps).
NUMBER_THRESHOLDS = tuple(tenths / 10 for tenths in range(-6, 18))
NUMBER_CODE = 0.15

BOS_TOKEN = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
PAD_TOKEN = "<|pad|>"
# Ids 0..3 in this order; the end of an assistant turn ends generation.
SPECIAL_TOKENS = (BOS_TOKEN, IM_START, IM_END, PAD_TOKEN)

# Pre-tokens of the whole_numbers tokenizer: a number (optional minus, digits, optional decimals)
# first, then GPT-2's split of the rest (words with their leading space, punctuation runs,
# whitespace), with the minus sign left to the number that follows it.
WHOLE_NUMBER_PIECES = r"-?\d+(?:\.\d+)?| ?\p{L}+| ?[^\s\p{L}\p{N}\-]+|\s+(?!\S)|\s+|-"

# ChatML-style turns; unknown roles are an error rather than silently formatted.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] not in ['system', 'user', 'assistant'] -%}"
    "{{ raise_exception('Unknown chat role: ' + message['role']) }}"
    "{%- endif -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)


@dataclass(frozen=True)
class TinyModelConfig:
    """Settings of the ``tiny`` preset; each distinct value set is cached separately."""

    vocab_size: int = field(default=1024, metadata={"help": "BPE vocabulary size, special tokens included."})
    hidden_size: int = field(default=128, metadata={"help": "Width of the residual stream."})
    num_layers: int = field(default=2, metadata={"help": "Number of transformer blocks."})
    num_heads: int = field(default=4, metadata={"help": "Attention heads (must divide hidden_size)."})
    intermediate_size: int = field(default=512, metadata={"help": "Width of the MLP's hidden layer."})
    max_position_embeddings: int = field(
        default=2048, metadata={"help": "Longest sequence (prompt plus generation) in tokens."}
    )
    corpus_documents: int = field(
        default=800, metadata={"help": "Generated documents the tokenizer is trained on."}
    )
    seed: int = field(default=0, metadata={"help": "Seed of the corpus and of the weight init."})
    whole_numbers: bool = field(
        default=False,
        metadata={"help": "Tokenize a number with at most one decimal ('17', '-0.3') as one token, "
                          "instead of one token per digit."},
    )

    number_embeddings: bool = field(
        default=False,
        metadata={"help": "Write each number token's value into its embedding as a fixed "
                          "thermometer code (NUMBER_THRESHOLDS): what a pretrained LM knows "
                          "about numbers, so that comparing them need not be learned from "
                          "scratch. Needs whole_numbers."},
    )

    def __post_init__(self) -> None:
        for name in ("vocab_size", "hidden_size", "num_layers", "num_heads", "intermediate_size",
                     "max_position_embeddings", "corpus_documents"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"TinyModelConfig.{name} must be a positive int, got {value!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"TinyModelConfig.seed must be a non-negative int, got {self.seed!r}")
        for name in ("whole_numbers", "number_embeddings"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"TinyModelConfig.{name} must be a bool, got {getattr(self, name)!r}")
        if self.number_embeddings and not self.whole_numbers:
            raise ValueError("TinyModelConfig.number_embeddings needs whole_numbers (one token per "
                             "number, so that a token has a value)")
        if self.number_embeddings and self.hidden_size <= len(NUMBER_THRESHOLDS):
            raise ValueError(f"TinyModelConfig.number_embeddings needs hidden_size > "
                             f"{len(NUMBER_THRESHOLDS)} (the number code's columns)")
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"TinyModelConfig.num_heads ({self.num_heads}) must divide hidden_size ({self.hidden_size})"
            )
        if self.vocab_size < 256 + len(SPECIAL_TOKENS):
            raise ValueError(
                f"TinyModelConfig.vocab_size must be >= {256 + len(SPECIAL_TOKENS)} (256 bytes plus "
                f"special tokens), got {self.vocab_size}"
            )


def tiny_model_path(config: TinyModelConfig | None = None) -> Path:
    """The cache directory of the tiny preset with ``config`` (default settings if None), built if absent."""
    config = config or TinyModelConfig()
    settings = {"build_version": BUILD_VERSION, **asdict(config)}
    return cached_build(PRESET_NAME, settings, lambda out: build_tiny_model(config, out))


def build_tiny_model(config: TinyModelConfig, out_dir: Path) -> None:
    """Train the tokenizer, initialise the model and save both into ``out_dir`` (no caching)."""
    tokenizer = train_tiny_tokenizer(config)
    model = init_tiny_model(config, tokenizer)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    make_model_dir_portable(out_dir, CHAT_TEMPLATE)


def train_tiny_tokenizer(config: TinyModelConfig):  # -> PreTrainedTokenizerFast
    """A byte-level BPE tokenizer (lossless on any text) trained on the generated rlft corpus."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    corpus = generate_corpus(config.corpus_documents, config.seed)
    if config.whole_numbers:
        # Each number is its own pre-token, so BPE can merge it into one token; the number sheet
        # makes every value up to one decimal frequent enough to get its merges.
        backend.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(WHOLE_NUMBER_PIECES), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ])
        corpus += number_sheet(config.seed)
    else:
        # One token per digit: rewards, counts and boards then tokenize the same way wherever
        # they appear, which a small model reads far more easily than arbitrary digit merges.
        backend.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
        )
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=config.vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(corpus, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=BOS_TOKEN,
        eos_token=IM_END,
        pad_token=PAD_TOKEN,
        additional_special_tokens=[IM_START],
        padding_side="left",
        model_max_length=config.max_position_embeddings,
        chat_template=CHAT_TEMPLATE,
        clean_up_tokenization_spaces=False,
    )


def init_tiny_model(config: TinyModelConfig, tokenizer):  # -> LlamaForCausalLM
    """A Llama causal LM with weights drawn from ``config.seed``, ids matching ``tokenizer``."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    model_config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_heads,
        num_key_value_heads=config.num_heads,
        max_position_embeddings=config.max_position_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    # fork_rng: seed the init without disturbing the caller's global torch RNG.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = LlamaForCausalLM(model_config)
    if config.number_embeddings:
        write_number_values(model.get_input_embeddings().weight, tokenizer)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return model.eval()



def number_token_values(tokenizer) -> dict[int, float]:
    """{token id: value} for every token that is a whole number ('17', '-0.3', ' 0.5')."""
    values = {}
    for token_id in range(len(tokenizer)):
        text = tokenizer.decode([token_id]).strip()
        if text and (text[0].isdigit() or text[0] == "-"):
            try:
                values[token_id] = float(text)
            except ValueError:
                continue
    return values


def number_columns(config: TinyModelConfig) -> list[int]:
    """The embedding columns that hold the number code (none without number_embeddings)."""
    return list(range(len(NUMBER_THRESHOLDS))) if config.number_embeddings else []


def write_number_values(embeddings, tokenizer) -> None:
    """Writes each number token's thermometer code into its embedding (in place); other tokens
    get 0 in those columns, so the columns say 'a number, this big'."""
    import torch

    code = torch.zeros(embeddings.shape[0], len(NUMBER_THRESHOLDS))
    thresholds = torch.tensor(NUMBER_THRESHOLDS)
    for token_id, value in number_token_values(tokenizer).items():
        # Compared in tenths, so 0.3 reaches the threshold 0.3 whatever the float rounding.
        code[token_id] = torch.where(round(value * 10) >= torch.round(thresholds * 10),
                                     NUMBER_CODE, -NUMBER_CODE)
    with torch.no_grad():
        embeddings[:, :len(NUMBER_THRESHOLDS)] = code.to(embeddings.dtype)
