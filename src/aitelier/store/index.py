"""A light index of examples.jsonl: every example's top-level fields, with its conversation parsed on demand.

Why it exists: ``Store.read()`` parses every conversation, which CPython's json does at roughly 60 MB/s, so
about 2.5 s for the 100,000-example (150 MB) benchmark project. ``ait rate`` needs the id, rating and createdAt
of every example to build its queue, but the full text of only the few examples a person looks at, and it must
open in well under 1.5 s.

How: the npm tool and aitelier write every line as ``{"id":N,"messages":[...],<other fields>}``. For such a line
only the part after the messages array is parsed, and the line's bytes are kept so :meth:`IndexEntry.load` can
parse the conversation when it is needed. Finding the end of the array without parsing it relies on this: in
valid JSON the bytes ``}],"`` cannot occur inside a string (the quote would be escaped), so every occurrence is
structural. The first one after ``"messages":[`` either closes the messages array, and then ``{`` plus the rest
of the line is exactly one JSON object, or it closes an array nested deeper, and then the rest of the line holds
more closing brackets than opening ones and does not parse as one object. A rest that parses is therefore the
top level; any line that does not fit this shape is parsed whole, exactly as ``Store.scan()`` does.

What this does not check at open: the conversation itself. :meth:`IndexEntry.load` checks it (a malformed line is
reported with its file:line when it is loaded), and so does the full read that ``Store.compact()`` does at the
end of a rating session, so nothing malformed is silently accepted or dropped.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DataError, DataProblem
from .jsonl import BOM, decode_line, is_blocking, iter_lines
from .records import UNSET, Example, validate_record

if TYPE_CHECKING:
    from .store import Store

_PREFIX = b'{"id":'
_MESSAGES = b',"messages":['
_CLOSE = b'}],"'
# validate_record() wants a conversation; the index checks every other field, the conversation is checked on load
_PLACEHOLDER_MESSAGES = [{"role": "user", "content": ""}]
_scan_once: Any = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


class IndexEntry:
    """One example: ``fields`` holds every top-level field except ``id`` and ``messages`` (journal applied)."""

    __slots__ = ("id", "line", "fields", "raw", "path", "change", "_example")

    def __init__(
        self,
        ident: int,
        line: int,
        fields: dict[str, Any],
        raw: bytes,
        path: str,
        example: Example | None = None,
    ) -> None:
        self.id = ident
        self.line = line
        self.fields = fields
        self.raw = raw
        self.path = path
        self.change: dict[str, Any] | None = None  # pending journal change (UNSET marks removed keys)
        self._example = example

    def __repr__(self) -> str:
        return f"IndexEntry(id={self.id}, line={self.line}, rating={self.rating!r})"

    @property
    def rating(self) -> int | None:
        return self.fields.get("rating")

    @property
    def created_at(self) -> str | None:
        return self.fields.get("createdAt")

    def load(self) -> Example:
        """The full example (conversation included) with pending journal changes applied; DataError if invalid."""
        if self._example is None:
            obj, problem = decode_line(Path(self.path), self.line, self.raw)
            if problem is not None:
                raise DataError([problem])
            errs = validate_record(obj)
            if errs:
                raise DataError([DataProblem(self.path, self.line, e, example_id=self.id) for e in errs])
            ex = Example(obj, self.raw, self.line)
            if self.change:
                ex = ex.updated(**self.change)
                errs = validate_record(ex.data)
                if errs:
                    raise DataError(
                        [
                            DataProblem(
                                self.path,
                                None,
                                f"a pending change makes example {self.id} invalid: {e}",
                                example_id=self.id,
                            )
                            for e in errs
                        ]
                    )
            self._example = ex
        return self._example


def _fast_fields(raw: bytes) -> tuple[int, dict[str, Any]] | None:
    """(id, fields) from a line in the usual shape without parsing its conversation; None to parse it whole."""
    if not raw.startswith(_PREFIX):
        return None
    cut = raw.find(_MESSAGES, 6, 40)
    if cut < 7:
        return None
    digits = raw[6:cut]
    if not digits.isdigit() or (digits[0] == 48 and len(digits) > 1):  # JSON allows no leading zero
        return None
    close = raw.find(_CLOSE, cut)
    if close == -1:
        return None
    try:
        text = "{" + raw[close + 3 :].decode("utf-8")
        fields, end = _scan_once(text, 0)
    except (UnicodeDecodeError, StopIteration, ValueError):
        return None
    if end != len(text) or type(fields) is not dict or "id" in fields or "messages" in fields:
        return None
    return int(digits), fields


def _regular_lines(path: Path) -> Iterable[tuple[int, bytes]] | None:
    """Every line of a file with nothing odd about it (the usual case, split at C speed); None if anything is.

    Odd means anything ``iter_lines`` would report (a byte-order mark, CRLF, blank lines, no final newline) or a
    line that does not start with ``{`` and end with ``}``; such a file is read line by line instead, so every
    problem is reported exactly as ``Store.scan()`` reports it.
    """
    data = path.read_bytes()
    if not data:
        return []
    if data.startswith(BOM) or not data.endswith(b"\n"):
        return None
    lines = data.split(b"\n")
    del data
    lines.pop()
    if not all(raw[:1] == b"{" and raw[-1:] == b"}" for raw in lines):
        return None
    return enumerate(lines, 1)


def scan_index(store: Store) -> tuple[list[IndexEntry], list[DataProblem]]:
    """Index every valid line, collecting every problem (like ``Store.scan()``, without parsing conversations)."""
    # Building 100,000 small dicts sets off the cyclic collector again and again, and each pass walks every
    # object built so far; none of them can form a cycle, so pausing it saves a fifth of the time.
    paused = gc.isenabled()
    gc.disable()
    try:
        return _scan_index(store)
    finally:
        if paused:
            gc.enable()


def _scan_index(store: Store) -> tuple[list[IndexEntry], list[DataProblem]]:
    problems: list[DataProblem] = []
    entries: list[IndexEntry] = []
    if not store.path.exists():
        return entries, problems
    where = str(store.path)
    changes, _ = store._journal_changes(problems)  # read before the file: see Store.scan()
    seen: dict[int, int] = {}
    lines: Iterable[tuple[int, bytes]] | None = _regular_lines(store.path)
    if lines is None:
        lines = iter_lines(store.path, problems)
    for n, raw in lines:
        fast = _fast_fields(raw)
        example = None
        if fast is not None:
            ident, fields = fast
            errs = validate_record({"id": ident, "messages": _PLACEHOLDER_MESSAGES, **fields})
        else:
            obj, problem = decode_line(store.path, n, raw)
            if problem:
                problems.append(problem)
                continue
            errs = validate_record(obj)
            if not errs:
                ident = obj["id"]
                fields = {k: v for k, v in obj.items() if k != "id" and k != "messages"}
                example = Example(obj, raw, n)
        if errs:
            problems.extend(DataProblem(where, n, e) for e in errs)
            continue
        first = seen.get(ident)
        if first is not None:
            problems.append(DataProblem(where, n, f"duplicate id {ident} (first on line {first})"))
            continue
        seen[ident] = n
        entry = IndexEntry(ident, n, fields, raw, where, example)
        change = changes.get(ident)
        if change is not None:
            entry.change = change
            for k, v in change.items():
                if k == "messages":
                    continue
                if v is UNSET:
                    fields.pop(k, None)
                else:
                    fields[k] = v
            entry._example = None  # load() applies the change to the conversation and checks the result
            if not store._check_patched({"id": ident, "messages": _PLACEHOLDER_MESSAGES, **fields}, problems):
                continue
        entries.append(entry)
    return entries, problems


def read_index(store: Store) -> list[IndexEntry]:
    """:func:`scan_index`, strict like ``Store.read()``: raises DataError listing every blocking problem."""
    entries, problems = scan_index(store)
    blocking = [p for p in problems if is_blocking(p)]
    if blocking:
        raise DataError(blocking)
    return entries


__all__ = ["IndexEntry", "read_index", "scan_index"]
