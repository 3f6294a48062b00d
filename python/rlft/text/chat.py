"""Chat formatting through the tokenizer's own chat template.

Instruction-tuned models expect their chat pre- and post-fixes. Some templates have
no system role: Gemma 2's raises on a system message, others silently drop it. For those the
system text is merged into the first user turn. Whether a template keeps a system message is
found out once per tokenizer by rendering a probe, and can be forced with ``system_role``.

A tokenizer without a chat template (a base model) gets rlft's plain-text format instead; see
:func:`format_plain_text`.

Only ``apply_chat_template``, ``chat_template`` and the BOS token are used, so any Hugging Face
tokenizer works and transformers is not imported here.
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
    template): False when rendering one raises or drops the text, and for a tokenizer without a
    template, whose plain-text format merges the system text into the first user turn."""
    if not has_chat_template(tokenizer):
        return False
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
    """Renders a conversation with the tokenizer's chat template, as text ready to tokenize; a
    tokenizer without one gets the plain-text format (:func:`format_plain_text`).

    system_role: None detects whether the template keeps a system message; False always merges
    a leading system message into the first user turn; True always passes it through.
    """
    _check_messages(messages)
    if not has_chat_template(tokenizer):
        if system_role:
            raise ValueError(f"{type(tokenizer).__name__} has no chat_template and the plain-text "
                             "format has no system role; pass system_role=None or False")
        return format_plain_text(messages, plain_text_bos(tokenizer), add_generation_prompt)
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


# --- the plain-text format, for tokenizers without a chat template ---------------------------
# Base models (Gemma 3 270M) ship no chat template. Their prompts are the classic "Q: ... A:"
# transcript, which got Gemma 3 270M to answer in the ACTION= format more often than other cues
# (docs/models.md). The cue ends without a space: the model writes it itself (" Paris").
PLAIN_TEXT_ROLES = {"user": "Q:", "assistant": "A:"}
PLAIN_TEXT_TURN_END = "\n"


def has_chat_template(tokenizer: Any) -> bool:
    """Whether the tokenizer carries a (non-empty) chat template."""
    return bool(getattr(tokenizer, "chat_template", None))


def format_plain_text(messages: Sequence[dict[str, str]], bos_token: str = "",
                      add_generation_prompt: bool = True) -> str:
    """Renders a conversation in rlft's plain-text format (used when a tokenizer has no chat
    template)::

        {bos}Q: {system}\\n\\n{user}\\nA: {assistant}\\nQ: {user}\\nA:

    A leading system message is merged into the first user turn (text, blank line, text). Each
    turn is its cue (``Q:`` or ``A:``), a space, the text and a newline; a text that already
    starts with a space (a generated answer, as the model wrote it after ``A:``) gets no second
    one. The final ``A:`` is the generation prompt. Texts are otherwise kept exactly as given.
    """
    if not isinstance(bos_token, str):
        raise TypeError(f"bos_token must be a str, got {type(bos_token).__name__}")
    _check_messages(messages)
    turns = merge_system_message(messages)
    text = bos_token + "".join(_plain_text_turn(turn) for turn in turns)
    return text + PLAIN_TEXT_ROLES["assistant"] if add_generation_prompt else text


def _plain_text_turn(turn: dict[str, str]) -> str:
    content = turn["content"]
    space = "" if content.startswith(" ") else " "
    return f"{PLAIN_TEXT_ROLES[turn['role']]}{space}{content}{PLAIN_TEXT_TURN_END}"


def plain_text_bos(tokenizer: Any) -> str:
    """The BOS text a plain-text prompt starts with: the tokenizer's BOS token when it puts one
    in front of the text it encodes, else ''. rlft tokenizes formatted prompts without special
    tokens (a chat template writes its own BOS), so the format has to carry it."""
    bos_id = getattr(tokenizer, "bos_token_id", None)
    if bos_id is None:
        return ""
    return tokenizer.bos_token if tokenizer("a")["input_ids"][:1] == [bos_id] else ""


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
