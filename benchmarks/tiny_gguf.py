"""A GGUF file of a small random-init Llama (the `tiny` preset), written the way llama.cpp's
converter writes SmolLM2's: f32 tensors under llama.cpp's names, Q and K rows permuted,
a byte-level BPE tokenizer with its merges and the chat template. The GPU real-model check's
CPU mode converts it through the same GGUF path as the 98 MB SmolLM2 file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def _permute(weights: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp's Q/K row order (its converter permutes; transformers' loader undoes it)."""
    return (weights.reshape(heads, 2, weights.shape[0] // heads // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def _tokenizer_fields(model_dir: Path) -> tuple[list[str], list[int], list[str]]:
    """Tokens in id order, their GGUF types (1 normal, 3 control) and the BPE merges."""
    spec = json.loads((model_dir / "tokenizer.json").read_text())
    vocab = spec["model"]["vocab"]
    tokens = [""] * len(vocab)
    for token, index in vocab.items():
        tokens[index] = token
    special = {added["id"] for added in spec["added_tokens"] if added["special"]}
    types = [3 if index in special else 1 for index in range(len(tokens))]
    merges = [merge if isinstance(merge, str) else " ".join(merge)
              for merge in spec["model"]["merges"]]
    return tokens, types, merges


def write_tiny_gguf(model_dir: Path, out_file: Path) -> Path:
    """`model_dir`: a Llama HF directory with a byte-level BPE tokenizer.json (the tiny
    preset's). Returns `out_file`."""
    import gguf
    import torch
    from transformers import AutoConfig, AutoTokenizer
    from safetensors.torch import load_file

    config = AutoConfig.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    state = load_file(str(model_dir / "model.safetensors"))
    writer = gguf.GGUFWriter(str(out_file), "llama")
    writer.add_name("rlft tiny")
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_rope_freq_base(float(config.rope_parameters["rope_theta"]))
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_vocab_size(config.vocab_size)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    tokens, types, merges = _tokenizer_fields(model_dir)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(tokenizer.bos_token_id)
    writer.add_eos_token_id(tokenizer.eos_token_id)
    writer.add_pad_token_id(tokenizer.pad_token_id)
    writer.add_chat_template(tokenizer.chat_template)
    names = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
             "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
             "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
             "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm"}
    writer.add_tensor("token_embd.weight", state["model.embed_tokens.weight"].numpy())
    for layer in range(config.num_hidden_layers):
        for hf_name, gguf_name in names.items():
            weights = state[f"model.layers.{layer}.{hf_name}.weight"].to(torch.float32).numpy()
            if gguf_name == "attn_q":
                weights = _permute(weights, config.num_attention_heads)
            elif gguf_name == "attn_k":
                weights = _permute(weights, config.num_key_value_heads)
            writer.add_tensor(f"blk.{layer}.{gguf_name}.weight", np.ascontiguousarray(weights))
    writer.add_tensor("output_norm.weight", state["model.norm.weight"].numpy())
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out_file
