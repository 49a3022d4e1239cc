"""Fixtures for the fast-path tests (verified index, byte-level rewrites, split planning on columns).

Helpers are fixtures because test modules cannot import each other under ``--import-mode=importlib``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aitelier import Project
from aitelier.store.records import Example, canonical, dumps


def write_file(
    project: Project, lines: list[bytes], *, crlf: bool = False, final_newline: bool = True, bom: bool = False
) -> bytes:
    """Replace examples.jsonl (and drop the journal); returns the bytes written."""
    end = b"\r\n" if crlf else b"\n"
    data = end.join(lines) + (end if final_newline and lines else b"")
    data = (b"\xef\xbb\xbf" if bom else b"") + data
    Path(project.examples_path).write_bytes(data)
    Path(project.store.journal_path).unlink(missing_ok=True)
    return data


def reserialised(ex: Example) -> bytes:
    """What the full-read path writes for a changed example."""
    return dumps(canonical(ex.data)).encode("utf-8")


def canonical_line(rec: dict[str, Any]) -> bytes:
    return json.dumps(canonical(rec), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@pytest.fixture
def write() -> Callable[..., bytes]:
    return write_file


@pytest.fixture
def reserialise() -> Callable[[Example], bytes]:
    return reserialised


@pytest.fixture
def canon() -> Callable[[dict[str, Any]], bytes]:
    return canonical_line
