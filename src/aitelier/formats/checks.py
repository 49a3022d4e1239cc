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


PREFERENCE_KEYS = ("input", "preferred_output", "non_preferred_output")
_ABSENT: Any = object()  # a key a message does not have


def line_format(obj: dict[str, Any]) -> str | None:
    """Which training-file format a line is in: conversation, instruction, general or preference (DPO; None:
    none of them)."""
    if "preferred_output" in obj or "non_preferred_output" in obj:
        return "preference"
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
        # _ABSENT, not None: a key that is there with the value null is reported differently from no key
        role = m.get("role", _ABSENT)
        content = m.get("content", _ABSENT)
        if len(m) != 2 or role is _ABSENT or content is _ABSENT:  # the common case is exactly role+content
            for k in m:
                if k not in message_keys and k not in ("role", "content"):
                    found.append(("unknown-message-key", f"message {i} has unknown key `{k}`"))
            for k in ("role", "content"):
                if k not in m:
                    found.append(("message-keys", f"message {i} has no `{k}`"))
        if role.__class__ is not str or role not in roles:
            if role is _ABSENT:
                role = None
            else:
                known = ", ".join(sorted(roles))
                found.append(("role", f"message {i} has role {role!r} (known: {known})"))
        # OpenAI's cookbook form of a function call: the call in `function_call`, content "" (or null)
        calls = "function_call" in m and "function_call" in message_keys and not content
        if content is not _ABSENT and not calls:
            if content.__class__ is not str and not isinstance(content, str):
                if isinstance(content, list):
                    found.append(
                        (
                            "content-type",
                            f"message {i} content is a list of content parts: aitelier handles text only, so "
                            "content must be a string",
                        )
                    )
                else:
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
        weight = m.get("weight", _ABSENT)
        if weight is not _ABSENT and weighted:
            if isinstance(weight, bool) or weight not in (0, 1) or not isinstance(weight, int):
                found.append(("weight-value", f"message {i} has weight {_json(weight)} (must be 0 or 1)"))
            if role != "assistant":
                found.append(
                    ("weight-role", f"message {i} ({role}) has a weight; only assistant messages may")
                )
        if role == "assistant":
            assistants += 1
            if weight != 0:  # no weight (_ABSENT) is trained
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


def _one_assistant(value: Any, key: str) -> tuple[dict[str, Any] | None, Found]:
    if not isinstance(value, list) or len(value) != 1:
        n = f"{len(value)} items" if isinstance(value, list) else _type_name(value)
        return None, [("dpo-output", f"`{key}` must be a list of exactly one assistant message, got {n}")]
    m = value[0]
    if not isinstance(m, dict) or m.get("role") != "assistant":
        role = m.get("role") if isinstance(m, dict) else _type_name(m)
        return None, [("dpo-output", f"`{key}` must hold an assistant message, got {_json(role)}")]
    return m, []


def check_preference(obj: dict[str, Any], spec: ProviderSpec) -> Found:
    """Every rule about one preference (DPO) line: its keys, its input (the conversation rules), each output
    exactly one assistant message, and the two outputs differing."""
    found: Found = []
    for k in obj:
        if k not in PREFERENCE_KEYS:
            found.append(
                (
                    "line-keys",
                    f"unexpected key `{k}` (a preference line holds only {', '.join(PREFERENCE_KEYS)})",
                )
            )
    inp = obj.get("input")
    messages = inp.get("messages") if isinstance(inp, dict) else None
    if not isinstance(messages, list) or not messages:
        found.append(("dpo-input", "`input.messages` must be a non-empty list of messages"))
        messages = None
    elif not isinstance(messages[-1], dict) or messages[-1].get("role") != "user":
        found.append(
            ("dpo-input", "`input.messages` must end with a user message (the one the outputs answer)")
        )
    outputs = []
    for key in PREFERENCE_KEYS[1:]:
        m, problems = _one_assistant(obj.get(key), key)
        found += problems
        outputs.append((key, m))
    if messages is None:
        return found
    seen = set(found)
    n = len(messages) + 1
    for key, m in outputs:
        conv = {"messages": [*messages, m] if m is not None else messages}
        for rule, message in check_conversation(conv, spec):
            if m is None and rule in ("has-assistant", "nothing-trained"):
                continue  # the output itself is already reported
            message = message.replace(f"message {n} ", f"`{key}` ").replace(
                f"messages {n - 1} and {n} ", f"the last input message and `{key}` "
            )
            if (rule, message) not in seen:
                seen.add((rule, message))
                found.append((rule, message))
    pref, rej = outputs[0][1], outputs[1][1]
    if pref is not None and rej is not None and pref.get("content") == rej.get("content"):
        found.append(("dpo-outputs-differ", "the preferred and the rejected output are the same text"))
    return found


def line_messages(obj: Any) -> list[Any]:
    """The messages whose tokens a line costs: a conversation's, or a preference line's input and both
    outputs (each output counted once)."""
    if not isinstance(obj, dict):
        return []
    if "messages" in obj:
        msgs = obj["messages"]
        return msgs if isinstance(msgs, list) else []
    inp = obj.get("input")
    messages = inp.get("messages") if isinstance(inp, dict) else None
    out = list(messages) if isinstance(messages, list) else []
    for key in PREFERENCE_KEYS[1:]:
        value = obj.get(key)
        if isinstance(value, list):
            out += value
    return out


__all__ = ["check_conversation", "check_preference", "check_text_line", "line_format", "line_messages"]
