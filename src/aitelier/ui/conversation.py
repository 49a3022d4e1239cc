"""Draw one conversation for reading: each turn labelled, text wrapped, fenced code blocks set apart.

With colour, code blocks are highlighted (rich Syntax, pygments imported only when a block appears); without it
they are indented four spaces and left unwrapped in spirit (folded only where the terminal is too narrow). Only
fenced blocks are treated specially ("markdown-ish"): other markdown is shown as typed, since a reviewer rating
an output needs to see exactly what the model would be trained to write.
"""

from __future__ import annotations

import re
from typing import Any

from ..store.records import Example

_FENCE = re.compile(r"^[ \t]*```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)^[ \t]*```[ \t]*$", re.M | re.S)
ROLE_STYLE = {"system": "magenta", "user": "cyan", "assistant": "green"}


def split_code(text: str) -> list[tuple[str, str | None]]:
    """``text`` as (chunk, language) pairs: language None for prose, the fence's language ('' if none) for code.

    An unclosed fence is prose: nothing is hidden or dropped, the chunks joined give back every character.
    """
    parts: list[tuple[str, str | None]] = []
    pos = 0
    for m in _FENCE.finditer(text):
        if m.start() > pos:
            parts.append((text[pos : m.start()], None))
        parts.append((m.group(2), m.group(1)))
        pos = m.end()
    if pos < len(text):
        parts.append((text[pos:], None))
    return parts


def _body(text: str, color: bool) -> list[Any]:
    from rich.padding import Padding
    from rich.text import Text

    out: list[Any] = []
    for chunk, lang in split_code(text):
        if out:
            out.append(Text(""))  # a blank line between prose and code, as the text had
        if lang is None:
            prose = chunk.strip("\n")
            if prose:
                out.append(Text(prose))
            elif out:
                out.pop()
            continue
        code = chunk.rstrip("\n")
        if color:
            from rich.syntax import Syntax

            out.append(
                Padding(
                    Syntax(
                        code, lang or "text", theme="ansi_dark", background_color="default", word_wrap=True
                    ),
                    (0, 0, 0, 2),
                )
            )
        else:
            out.append(Padding(Text(code, overflow="fold"), (0, 0, 0, 4)))
    if not out:
        out.append(Text("(empty)", style="dim"))
    return out


def conversation(example: Example, *, color: bool, highlight_turn: int | None = None) -> Any:
    """One rich renderable: every message of ``example``, each on its own lines; ``highlight_turn`` (1-based
    assistant turn) is marked as rewritten."""
    from rich.console import Group
    from rich.rule import Rule
    from rich.text import Text

    messages = example.data["messages"]
    users = sum(1 for m in messages if m["role"] == "user")
    assistants = sum(1 for m in messages if m["role"] == "assistant")
    seen = {"user": 0, "assistant": 0}
    out: list[Any] = []
    for m in messages:
        role = str(m["role"])
        label = role
        if role in seen:
            seen[role] += 1
            count = users if role == "user" else assistants
            if count > 1:
                label = f"{role} {seen[role]}/{count}"
        if role == "assistant" and highlight_turn is not None and seen[role] == highlight_turn:
            label += " (rewritten)"
        style = f"bold {ROLE_STYLE.get(role, '')}".strip() if color else ""
        if out:
            out.append(Text(""))
        out.append(Rule(Text(label, style=style), align="left", style="dim" if color else ""))
        out.extend(_body(str(m["content"]), color))
    return Group(*out)  # print(*items) would join texts on one line with spaces


__all__ = ["conversation", "split_code"]
