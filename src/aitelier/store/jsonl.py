"""Reading JSONL files strictly: every problem is reported with its path and line, nothing is dropped.

Lines are streamed from the file (never the whole file in memory at once), so reading a 150 MB project costs
about one line of memory plus what the caller keeps.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..errors import DataProblem

BOM = b"\xef\xbb\xbf"

# Problems that are reported (and fixed by `ait doctor --fix`) but do not stop a command from reading the file:
# no data is in doubt. A missing final newline leaves the last line intact; an incomplete last line of the
# journal is a patch whose write never finished, so it was never acknowledged and is not applied.
NO_NEWLINE = "no newline at end of file"
TORN_TAIL = "incomplete last line (an interrupted write; it is ignored)"
ORPHAN_PATCH = "is not in examples.jsonl; the pending change is ignored"
_NOT_BLOCKING = frozenset((NO_NEWLINE, TORN_TAIL))


def is_blocking(problem: DataProblem) -> bool:
    """Whether a problem must stop a reading command."""
    return problem.message not in _NOT_BLOCKING and not problem.message.endswith(ORPHAN_PATCH)


def _unusual(where: str, n: int, line: bytes, problems: list[DataProblem]) -> bytes | None:
    """The line without its ending, after reporting what is odd about it; None for a blank line."""
    if line.endswith(b"\n"):
        line = line[:-1]
    else:
        problems.append(DataProblem(where, n, NO_NEWLINE, fixable=True))
    if line.endswith(b"\r"):
        problems.append(DataProblem(where, n, "CRLF line ending", fixable=True))
        line = line[:-1]
    if not line.strip():
        problems.append(DataProblem(where, n, "blank line", fixable=True))
        return None
    return line


def _lines(path: Path, chunks: Iterable[bytes], problems: list[DataProblem]) -> Iterator[tuple[int, bytes]]:
    where = str(path)
    it = iter(chunks)
    first = next(it, b"")
    if first.startswith(BOM):
        problems.append(DataProblem(where, 1, "file starts with a UTF-8 byte-order mark", fixable=True))
        first = first[len(BOM) :]
    if first:
        line = _unusual(where, 1, first, problems)
        if line is not None:
            yield 1, line
    # The hot loop of every read (100,000 lines in the benchmark project): the common case is two tests.
    for n, line in enumerate(it, 2):
        if line[-2:] == b"}\n" and line[:1] == b"{":
            yield n, line[:-1]
        else:
            odd = _unusual(where, n, line, problems)
            if odd is not None:
                yield n, odd


def iter_lines(path: Path, problems: list[DataProblem]) -> Iterator[tuple[int, bytes]]:
    """Stream (line number, line bytes without its ending) from ``path``; byte-level problems go to ``problems``.

    Reported: a byte-order mark, CRLF endings and blank lines (skipped), and a missing newline at the end of the
    file (the last line is still returned). All of these are marked fixable. Invalid UTF-8 and JSON are the
    caller's business (see :func:`decode_line`), because only the caller knows whether it needs the object.
    """
    with open(path, "rb") as f:
        yield from _lines(path, f, problems)


def decode_line(path: Path, lineno: int, line: bytes) -> tuple[Any, DataProblem | None]:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as e:
        return None, DataProblem(str(path), lineno, f"invalid UTF-8 at byte {e.start + 1}")
    try:
        return json.loads(text), None
    except json.JSONDecodeError as e:
        return None, DataProblem(str(path), lineno, f"invalid JSON: {e.msg} (column {e.colno})")
    except RecursionError:
        return None, DataProblem(str(path), lineno, "invalid JSON: nested too deeply")


def iter_json_lines(path: Path) -> Iterator[tuple[int, Any, DataProblem | None]]:
    """Yield (line, parsed object, problem) for any JSONL file, streaming.

    Byte-level problems are yielded as problems with no object, in line order; a missing final newline is not
    reported here (the line is complete JSON or it is reported as invalid JSON).
    """
    problems: list[DataProblem] = []
    for n, raw in iter_lines(path, problems):
        while problems:
            p = problems.pop(0)
            if is_blocking(p):
                yield p.line or 0, None, p
        obj, problem = decode_line(path, n, raw)
        yield n, obj, problem
    for p in problems:
        if is_blocking(p):
            yield p.line or 0, None, p
