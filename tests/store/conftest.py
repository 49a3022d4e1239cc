"""Fixtures for the store, stats and doctor tests: projects with examples, and raw data lines.

Helpers are handed out as fixtures because test modules cannot import each other under
``--import-mode=importlib``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aitelier import Project


def make_conv(i: int | str, output: str = "an answer") -> dict[str, Any]:
    """A two-message conversation, distinct per ``i``."""
    return {
        "messages": [{"role": "user", "content": f"question {i}"}, {"role": "assistant", "content": output}]
    }


def make_line(ident: Any, *, rating: Any = None, split: str | None = None, **extra: Any) -> bytes:
    """One examples.jsonl line as the npm tool writes it (compact JSON, its key order)."""
    rec: dict[str, Any] = {
        "id": ident,
        "messages": make_conv(ident)["messages"],
        "rating": rating,
        "originalOutput": None,
        "createdAt": "2026-01-01T00:00:00.000Z",
        "version": 1,
    }
    if split:
        rec["split"] = split
    rec.update(extra)
    return json.dumps(rec, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@pytest.fixture
def conv() -> Callable[..., dict[str, Any]]:
    return make_conv


@pytest.fixture
def jline() -> Callable[..., bytes]:
    return make_line


@pytest.fixture
def write_lines() -> Callable[..., bytes]:
    def write(project: Project, *lines: bytes, tail: bytes = b"\n") -> bytes:
        """Replace examples.jsonl with these lines (newline-joined, then ``tail``); return the bytes."""
        data = b"\n".join(lines) + tail if lines else b""
        Path(project.examples_path).write_bytes(data)
        return data

    return write


@pytest.fixture
def filled(project: Project) -> Project:
    """The empty test project with examples 1..10, example n rated n."""
    project.store.append([{**make_conv(i), "rating": i} for i in range(1, 11)])
    return project
