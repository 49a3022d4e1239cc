"""Conversations to training rows: the model's chat template, and a mask that keeps the loss on assistant tokens.

The mask is found on the rendered text, not on token ids: each assistant turn's characters are located by
rendering the conversation up to the turn (with the generation prompt) and through it, and a token is trained
when its first character lies in a trained turn. Turns with ``weight: 0`` (OpenAI format) are not trained.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ValidationFailed


def read_conversations(path: Path) -> list[list[dict[str, Any]]]:
    """The ``messages`` of every line of a formatted file (``path:line`` named for a line that is not one)."""
    return _read_rows(path, "conversation", lambda obj: obj["messages"])


def read_preferences(path: Path) -> list[dict[str, Any]]:
    """The preference lines of a file `ait format --method dpo` wrote, as TRL's conversational preference rows
    (``prompt``, ``chosen``, ``rejected``; ``path:line`` named for a line that is not one)."""
    return _read_rows(
        path,
        "preference",
        lambda obj: {
            "prompt": [{"role": m["role"], "content": m["content"]} for m in obj["input"]["messages"]],
            "chosen": [{"role": "assistant", "content": obj["preferred_output"][0]["content"]}],
            "rejected": [{"role": "assistant", "content": obj["non_preferred_output"][0]["content"]}],
        },
    )


def _read_rows(path: Path, what: str, row: Callable[[Any], Any]) -> list[Any]:
    out = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                out.append(row(json.loads(line)))
            except (ValueError, KeyError, TypeError, IndexError) as e:
                raise ValidationFailed(f"{path}:{n}: not a {what} line ({e})") from e
    return out


def _render(tokenizer: Any, messages: list[dict[str, Any]], *, prompt: bool = False) -> str:
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=prompt)
    return str(text)


def assistant_spans(tokenizer: Any, messages: list[dict[str, Any]]) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans of its trained assistant turns (end token included)."""
    plain = [{"role": m["role"], "content": m["content"]} for m in messages]
    if not getattr(tokenizer, "chat_template", None):
        raise ValidationFailed(
            "the model's tokenizer has no chat template", hint="use an instruct/chat model"
        )
    text = _render(tokenizer, plain)
    spans: list[tuple[int, int]] = []
    cursor = 0
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        before = _render(tokenizer, plain[:i], prompt=True) if i else ""
        through = _render(tokenizer, plain[: i + 1])
        if through.startswith(before) and text.startswith(through) and len(before) >= cursor:
            start, end = len(before), len(through)
        else:  # a template that renders earlier turns differently later on: find the content itself
            start = text.find(m["content"], cursor)
            if start < 0:
                raise ValidationFailed("the chat template does not keep an assistant turn's text as it is")
            end = start + len(m["content"])
        cursor = end
        if m.get("weight", 1) != 0:
            spans.append((start, end))
    return text, spans


def tokenize(tokenizer: Any, messages: list[dict[str, Any]]) -> dict[str, list[int]]:
    """``input_ids`` and ``assistant_masks`` (1: the loss counts this token) for one conversation."""
    text, spans = assistant_spans(tokenizer, messages)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    mask = []
    for a, b in enc["offset_mapping"]:
        mask.append(int(b > a and any(s <= a < e for s, e in spans)))
    return {"input_ids": list(enc["input_ids"]), "assistant_masks": mask}
