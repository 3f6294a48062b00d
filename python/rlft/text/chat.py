"""Chat formatting through the tokenizer's own chat template.

Instruction-tuned models expect their chat pre- and post-fixes (spec §3.1). Some templates have
no system role: Gemma 2's raises on a system message, others silently drop it. For those the
system text is merged into the first user turn. Whether a template keeps a system message is
found out once per tokenizer by rendering a probe, and can be forced with ``system_role``.

Only ``apply_chat_template`` and ``chat_template`` are used, so any Hugging Face tokenizer works
and transformers is not imported here.
"""

from __future__ import annotations

import weakref
from typing import Any, Sequence

# Marker text of the probe system message; a template that keeps the system turn shows it.
_PROBE = "rlft-system-role-probe-7f3a"
SYSTEM_MERGE_SEPARATOR = "\n\n"

_system_role_cache: "weakref.WeakKeyDictionary[Any, tuple[str, bool]]" = \
    weakref.WeakKeyDictionary()


def _template_of(tokenizer: Any) -> str:
    template = getattr(tokenizer, "chat_template", None)
    if not template:
        raise ValueError(f"{type(tokenizer).__name__} has no chat_template; set "
                         "tokenizer.chat_template or use a chat (instruction-tuned) model")
    return template if isinstance(template, str) else repr(template)


def supports_system_role(tokenizer: Any) -> bool:
    """Whether the tokenizer's chat template renders a system message (cached per tokenizer and
    template): False when rendering one raises or drops the text."""
    template = _template_of(tokenizer)
    try:
        cached = _system_role_cache.get(tokenizer)
    except TypeError:  # not weak-referenceable: probe every time
        cached = None
    if cached is not None and cached[0] == template:
        return cached[1]
    probe = [{"role": "system", "content": _PROBE}, {"role": "user", "content": "hello"}]
    try:
        rendered = tokenizer.apply_chat_template(probe, tokenize=False,
                                                 add_generation_prompt=True)
        supported = isinstance(rendered, str) and _PROBE in rendered
    except Exception:  # jinja raise_exception -> TemplateError; any failure means "no"
        supported = False
    try:
        _system_role_cache[tokenizer] = (template, supported)
    except TypeError:
        pass
    return supported


def merge_system_message(messages: Sequence[dict[str, str]]) -> list[dict[str, str]]:
    """Moves a leading system message into the first user message (text, blank line, text)."""
    messages = [dict(message) for message in messages]
    if not messages or messages[0].get("role") != "system":
        return messages
    system = messages.pop(0)["content"]
    for message in messages:
        if message.get("role") == "user":
            message["content"] = system + SYSTEM_MERGE_SEPARATOR + message["content"]
            return messages
    raise ValueError("a system message needs a user message to merge into")


def _check_messages(messages: Sequence[dict[str, str]]) -> None:
    if not messages:
        raise ValueError("messages must not be empty")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or set(message) != {"role", "content"}:
            raise ValueError(f"message {index} must be a dict with 'role' and 'content', "
                             f"got {message!r}")
        if message["role"] not in ("system", "user", "assistant"):
            raise ValueError(f"message {index} has unknown role {message['role']!r}")
        if not isinstance(message["content"], str):
            raise TypeError(f"message {index} content must be a str, "
                            f"got {type(message['content']).__name__}")
        if message["role"] == "system" and index != 0:
            raise ValueError(f"only the first message may be a system message (message {index})")


def format_chat(tokenizer: Any, messages: Sequence[dict[str, str]],
                system_role: bool | None = None, add_generation_prompt: bool = True) -> str:
    """Renders a conversation with the tokenizer's chat template, as text ready to tokenize.

    system_role: None detects whether the template keeps a system message; False always merges
    a leading system message into the first user turn; True always passes it through.
    """
    _check_messages(messages)
    _template_of(tokenizer)
    if system_role is None:
        system_role = supports_system_role(tokenizer) if messages[0]["role"] == "system" else True
    chat = list(messages) if system_role else merge_system_message(messages)
    try:
        text = tokenizer.apply_chat_template(chat, tokenize=False,
                                             add_generation_prompt=add_generation_prompt)
    except Exception as error:  # e.g. jinja's TemplateError when a system role is forced
        raise ValueError(f"the chat template of {type(tokenizer).__name__} failed on roles "
                         f"{[message['role'] for message in chat]}: {error}") from error
    if not isinstance(text, str):
        raise TypeError(f"apply_chat_template returned {type(text).__name__}, expected str")
    return text


def format_prompt(tokenizer: Any, prompt: str, system: str | None = None,
                  system_role: bool | None = None) -> str:
    """One prompt as a single user turn (after an optional system message), with the
    generation prompt appended."""
    messages = [] if system is None else [{"role": "system", "content": system}]
    messages.append({"role": "user", "content": prompt})
    return format_chat(tokenizer, messages, system_role)


def format_prompts(tokenizer: Any, prompts: Sequence[str], system: str | None = None,
                   system_role: bool | None = None) -> list[str]:
    """``format_prompt`` for a batch of prompts."""
    if isinstance(prompts, str):
        raise TypeError("prompts must be a sequence of strings, not one string")
    return [format_prompt(tokenizer, prompt, system, system_role) for prompt in prompts]


# Stands in for a message's remainder, to find where the template puts the content.
_CONTENT_PROBE = "rlft-content-probe-5c1e"


def shared_chat_prefix(tokenizer: Any, content_prefix: str) -> str:
    """The text that every single-user-turn chat (``format_chat`` with one user message and the
    generation prompt) starts with when its message starts with ``content_prefix``: the
    template's header followed by ``content_prefix``. Empty when the template does not copy the
    message verbatim."""
    rendered = format_chat(tokenizer, [{"role": "user",
                                        "content": content_prefix + _CONTENT_PROBE}])
    head, found, _ = rendered.partition(_CONTENT_PROBE)
    return head if found and head.endswith(content_prefix) else ""
