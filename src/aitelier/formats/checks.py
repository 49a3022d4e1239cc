"""Checks of one line of a provider file: pure functions returning (rule, message) pairs.

The same checks run on what ``ait format`` is about to write and on any file ``ait validate FILE`` reads, so a
file made elsewhere is judged exactly like our own output. The common case (a valid line) costs one pass over
the messages and no allocation beyond the returned empty list.
"""

from __future__ import annotations

import json
from typing import Any

from .rules import ProviderSpec

Found = list[tuple[str, str]]


def _not_utf8(text: str) -> bool:
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _json(value: Any) -> str:
    """A value as it was written in the file (``true``, not Python's ``True``)."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def line_format(obj: dict[str, Any]) -> str | None:
    """Which training-file format a line is in: conversation, instruction or general (None: none of them)."""
    if "messages" in obj:
        return "conversation"
    if "prompt" in obj and "completion" in obj:
        return "instruction"
    if "text" in obj:
        return "general"
    return None


_FORMAT_KEYS = {"instruction": ("prompt", "completion"), "general": ("text",)}


def check_text_line(obj: dict[str, Any], fmt: str) -> Found:
    """A Together ``prompt``/``completion`` or ``text`` line."""
    found: Found = []
    keys = _FORMAT_KEYS[fmt]
    for k in obj:
        if k not in keys:
            found.append(("line-keys", f"unexpected key `{k}` (a {fmt} line holds only {', '.join(keys)})"))
    for k in keys:
        v = obj.get(k)
        if not isinstance(v, str):
            found.append(("text-field", f"`{k}` must be a string, got {_type_name(v)}"))
        elif not v.strip():
            found.append(("text-field", f"`{k}` is empty"))
        elif _not_utf8(v):
            found.append(("utf8", f"`{k}` holds a lone surrogate that cannot be written as UTF-8"))
    return found


def check_conversation(obj: dict[str, Any], spec: ProviderSpec) -> Found:
    """Every rule about one conversation line, as (rule, message) pairs; empty when the line is valid."""
    found: Found = []
    line_keys = spec.line_keys
    for k in obj:
        if k not in line_keys:
            allowed = ", ".join(f"`{x}`" for x in sorted(line_keys))
            found.append(("line-keys", f"unexpected key `{k}` ({spec.name} lines hold only {allowed})"))
    messages = obj.get("messages")
    if not isinstance(messages, list):
        found.append(("messages-list", f"`messages` must be a list, got {_type_name(messages)}"))
        return found
    if not messages:
        found.append(("messages-list", "`messages` is empty"))
        return found
    roles = spec.roles
    message_keys = spec.message_keys
    weighted = spec.carries_weight
    prev: Any = None
    assistants = 0
    users = 0
    trained = 0
    for i, m in enumerate(messages, 1):
        if not isinstance(m, dict):
            found.append(("message-object", f"message {i} is not an object ({_type_name(m)})"))
            prev = None
            continue
        if len(m) != 2 or "role" not in m or "content" not in m:  # the common case is exactly role+content
            for k in m:
                if k not in message_keys and k not in ("role", "content"):
                    found.append(("unknown-message-key", f"message {i} has unknown key `{k}`"))
            for k in ("role", "content"):
                if k not in m:
                    found.append(("message-keys", f"message {i} has no `{k}`"))
        role = m.get("role")
        if "role" in m and not (role.__class__ is str and role in roles):
            known = ", ".join(sorted(roles))
            found.append(("role", f"message {i} has role {role!r} (known: {known})"))
        content = m.get("content")
        # OpenAI's cookbook form of a function call: the call in `function_call`, content "" (or null)
        calls = "function_call" in m and "function_call" in message_keys and not content
        if "content" in m and not calls:
            if isinstance(content, list):
                found.append(
                    (
                        "content-type",
                        f"message {i} content is a list of content parts: aitelier handles text only, so "
                        "content must be a string",
                    )
                )
            elif not isinstance(content, str):
                found.append(
                    ("content-type", f"message {i} content must be a string, got {_type_name(content)}")
                )
            elif not content or content.isspace():
                if role == "system":
                    found.append(("empty-system-prompt", f"message {i} is an empty system prompt"))
                else:
                    found.append(("empty-content", f"message {i} ({role}) has empty content"))
            elif not content.isascii() and _not_utf8(content):
                found.append(("utf8", f"message {i} holds a lone surrogate that cannot be written as UTF-8"))
        if role == prev and role is not None:
            found.append(("consecutive-roles", f"messages {i - 1} and {i} are both `{role}`"))
        prev = role
        weight = m.get("weight", 1)
        if "weight" in m and weighted:
            if isinstance(weight, bool) or weight not in (0, 1) or not isinstance(weight, int):
                found.append(("weight-value", f"message {i} has weight {_json(weight)} (must be 0 or 1)"))
            if role != "assistant":
                found.append(
                    ("weight-role", f"message {i} ({role}) has a weight; only assistant messages may")
                )
        if role == "assistant":
            assistants += 1
            if weight != 0:
                trained += 1
        elif role == "user":
            users += 1
    if not users:
        found.append(("has-user", "no user message"))
    if not assistants:
        found.append(("has-assistant", "no assistant message"))
    elif not trained:
        found.append(("nothing-trained", "every assistant message has weight 0, so nothing is trained"))
    return found


__all__ = ["check_conversation", "check_text_line", "line_format"]
