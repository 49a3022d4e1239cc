"""How `ait rate` draws a conversation: turns labelled, prose wrapped, fenced code set apart."""

from __future__ import annotations

import io

from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from aitelier.store.records import Example
from aitelier.ui.conversation import conversation, split_code


def render(example: Example, *, color: bool, width: int = 60, **kw) -> str:
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=color, no_color=not color, highlight=False)
    console.print(conversation(example, color=color, **kw))
    return out.getvalue()


def example(*contents: str, system: str | None = "Be brief.") -> Example:
    msgs = [{"role": "system", "content": system}] if system else []
    for i, c in enumerate(contents):
        msgs.append({"role": "user" if i % 2 == 0 else "assistant", "content": c})
    return Example({"id": 1, "messages": msgs})


def test_split_code_finds_fenced_blocks_and_their_language():
    text = "Use this:\n\n```python\nx = 1\n```\n\nor\n```\nplain\n```"
    assert split_code(text) == [
        ("Use this:\n\n", None),
        ("x = 1\n", "python"),
        ("\n\nor\n", None),
        ("plain\n", ""),
    ]


def test_an_unclosed_fence_is_prose():
    text = "before\n```js\nlet a = 1\n"
    assert split_code(text) == [(text, None)]


@given(st.text(alphabet=st.sampled_from("ab `\n")))
def test_split_code_loses_no_text_outside_fence_lines(text):
    parts = split_code(text)
    kept = "".join(chunk for chunk, _ in parts)
    # only the fence lines themselves are left out, so every other character is still there, in order
    it = iter(text)
    assert all(ch in it for ch in kept)
    if "```" not in text:
        assert parts == ([(text, None)] if text else [])


def test_plain_rendering_labels_turns_wraps_prose_and_indents_code():
    long = "word " * 30
    ex = example("first question", long.strip() + "\n\n```python\nprint('hi')\n```", "second question", "ok")
    text = render(ex, color=False)
    lines = [line.rstrip() for line in text.splitlines()]
    assert lines[0].startswith("system ─")
    assert "Be brief." in lines
    assert any(line.startswith("user 1/2 ─") for line in lines)
    assert any(line.startswith("assistant 2/2 ─") for line in lines)
    assert max(len(line) for line in lines) <= 60  # prose wrapped to the width
    assert "    print('hi')" in lines  # code indented, not highlighted
    user = next(i for i, line in enumerate(lines) if line.startswith("user 1/2"))
    code = lines.index("    print('hi')")
    assert lines[user - 1] == "" and lines[code - 1] == ""  # a blank line before each turn and code block
    assert "\x1b[" not in text  # no colour codes


def test_the_rewritten_turn_is_marked():
    ex = example("q1", "a1", "q2", "a2", system=None)
    text = render(ex, color=False, highlight_turn=1)
    assert "assistant 1/2 (rewritten)" in text and "assistant 2/2 (rewritten)" not in text


def test_colour_rendering_highlights_code():
    ex = example("q", "look:\n```python\ndef f():\n    return 1\n```")
    text = render(ex, color=True)
    assert "\x1b[" in text  # styled
    assert "def" in text and "return" in text


def test_an_empty_message_is_shown_as_empty():
    text = render(example("q", ""), color=False)
    assert "(empty)" in text
