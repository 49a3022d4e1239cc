"""Reading JSONL files strictly: every problem is reported with its path and line, nothing is dropped."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import DataProblem

BOM = b"\xef\xbb\xbf"


def split_lines(path: Path, data: bytes) -> tuple[list[tuple[int, bytes]], list[DataProblem]]:
    """Split file bytes into (line number, line bytes) pairs, reporting byte-level problems.

    Line-level problems are reported for: a byte-order mark, CRLF endings, invalid UTF-8 and blank lines. A
    missing newline at the end of the file is reported as fixable but the last line is still returned.
    """
    where = str(path)
    problems: list[DataProblem] = []
    if data.startswith(BOM):
        problems.append(DataProblem(where, 1, "file starts with a UTF-8 byte-order mark", fixable=True))
        data = data[len(BOM) :]
    if not data:
        return [], problems
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    else:
        problems.append(DataProblem(where, len(lines), "no newline at end of file", fixable=True))
    out: list[tuple[int, bytes]] = []
    for n, line in enumerate(lines, 1):
        if line.endswith(b"\r"):
            problems.append(DataProblem(where, n, "CRLF line ending", fixable=True))
            line = line[:-1]
        if not line.strip():
            problems.append(DataProblem(where, n, "blank line", fixable=True))
            continue
        out.append((n, line))
    return out, problems


def decode_line(path: Path, lineno: int, line: bytes) -> tuple[Any, DataProblem | None]:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as e:
        return None, DataProblem(str(path), lineno, f"invalid UTF-8 at byte {e.start + 1}")
    try:
        return json.loads(text), None
    except json.JSONDecodeError as e:
        return None, DataProblem(str(path), lineno, f"invalid JSON: {e.msg} (column {e.colno})")


def iter_json_lines(path: Path) -> Iterator[tuple[int, Any, DataProblem | None]]:
    """Yield (line, parsed object, problem) for any JSONL file; byte-level problems come first as problems."""
    data = path.read_bytes()
    lines, problems = split_lines(path, data)
    for p in problems:
        if not p.message.startswith("no newline"):
            yield p.line or 0, None, p
    for n, raw in lines:
        obj, problem = decode_line(path, n, raw)
        yield n, obj, problem
