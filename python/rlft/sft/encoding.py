"""Records -> token ids for one model: the prompt through the model's chat template (exactly as
the LLM agent renders it at decision time), the target followed by EOS (as a generation ends).
The loss is later taken on the target ids only."""

from __future__ import annotations

from typing import Any, Sequence

from rlft.text.chat import format_chat


def encode_examples(records: Sequence[dict[str, Any]], tokenizer: Any, max_prompt_tokens: int
                    ) -> tuple[list[list[int]], list[list[int]]]:
    """(prompt ids, answer ids) per record; prompts longer than `max_prompt_tokens` keep their
    end (the RLFT rollout's rule)."""
    chats = [format_chat(tokenizer, record["messages"]) for record in records]
    prompt_ids = tokenizer(chats, add_special_tokens=False)["input_ids"] if chats else []
    target_ids = tokenizer([record["target"] for record in records],
                           add_special_tokens=False)["input_ids"] if chats else []
    eos = tokenizer.eos_token_id
    return ([list(ids[-max_prompt_tokens:]) for ids in prompt_ids],
            [list(ids) + [eos] for ids in target_ids])
