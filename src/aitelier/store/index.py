"""A light index of examples.jsonl: each example's id, rating and createdAt, its conversation parsed on demand.

Why it exists: ``Store.read()`` parses every conversation, which CPython's json does at roughly 60 MB/s, so
about 2.5 s for the 100,000-example (150 MB) benchmark project. ``ait rate`` needs the rating and createdAt of
every example to build its queue, but the full text of only the few examples a person looks at, and it must
open in well under 1.5 s.

How: the npm tool and aitelier write every line as ``{"id":N,"messages":[...],<other fields>}``. For such a line
only the part after the messages array is read, and the file's bytes are kept so :meth:`IndexEntry.load` can
parse the conversation when it is needed. Finding the end of the array without parsing it relies on this: in
valid JSON the bytes ``}],"`` cannot occur inside a string (the quote would be escaped), so every occurrence is
structural. The first one after ``"messages":[`` either closes the messages array, and then ``{`` plus the rest
of the line is exactly one JSON object, or it closes an array nested deeper, and then the rest of the line holds
more closing brackets than opening ones and does not parse as one object. A rest that parses is therefore the
top level. The rest is read in one of three ways, fastest first:

1. a regular expression for the usual fields in the usual order with plain values (``"rating":7,"createdAt":
   "...","version":1}``): what it accepts, ``validate_record`` accepts, and nothing is built but two values;
2. otherwise the rest is parsed as JSON and checked with ``validate_record``;
3. a line of any other shape is parsed whole, exactly as ``Store.scan()`` does; and a file with a byte-level
   oddity (byte-order mark, CRLF, blank line, no final newline) is read line by line as ``Store.scan()`` reads
   it, so every problem is reported the same way.

What this does not check at open: the conversation itself. :meth:`IndexEntry.load` checks it (a malformed line is
reported with its file:line when it is loaded), and so does the full read that ``Store.compact()`` does at the
end of a rating session, so nothing malformed is silently accepted or dropped.
"""

from __future__ import annotations

import gc
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DataError, DataProblem
from .jsonl import BOM, decode_line, is_blocking, iter_lines
from .records import Example, validate_record

if TYPE_CHECKING:
    from .store import Store

_CLOSE = b'}],"'
_HEAD = re.compile(rb'\{"id":([1-9][0-9]{0,15}),"messages":\[')
_STR = (
    rb'"[\x20\x21\x23-\x5b\x5d-\x7e]*"'  # printable ASCII, no quote or backslash: valid JSON and UTF-8 as is
)
_OPT_STR = rb"(?:null|" + _STR + rb")"
_TAIL = re.compile(
    rb'"rating":(null|10|[1-9])'
    rb'(?:,"originalOutput":' + _OPT_STR + rb")?"
    rb'(?:,"createdAt":(null|' + _STR + rb"))?"
    rb'(?:,"version":[1-9][0-9]{0,15})?'
    rb'(?:,"split":(?:null|"train"|"val"))?'
    rb'(?:,"ratedAt":' + _OPT_STR + rb")?"
    rb'(?:,"updatedAt":' + _OPT_STR + rb")?"
    rb'(?:,"source":' + _OPT_STR + rb")?"
    rb'(?:,"tags":\[(?:' + _STR + rb"(?:," + _STR + rb")*)?\])?"
    rb"\}"
)
# validate_record() wants a conversation; the index checks every other field, the conversation is checked on load
_PLACEHOLDER_MESSAGES = [{"role": "user", "content": ""}]
_scan_once: Any = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


class IndexEntry:
    """One example of an :class:`ExampleIndex`: id, line, rating and createdAt at hand, the rest on demand."""

    __slots__ = ("index", "row")

    def __init__(self, index: ExampleIndex, row: int) -> None:
        self.index = index
        self.row = row

    @property
    def id(self) -> int:
        return self.index.ids[self.row]

    @property
    def line(self) -> int:
        return self.index.lines[self.row]

    @property
    def rating(self) -> int | None:
        return self.index.ratings[self.row]

    @property
    def created_at(self) -> str | None:
        return self.index.created[self.row]

    @property
    def change(self) -> dict[str, Any] | None:
        """The pending journal change for this example (UNSET marks removed keys), if any."""
        return self.index.changes.get(self.id)

    @property
    def raw(self) -> bytes:
        """The line's bytes, as read."""
        return self.index.raw(self.row)

    @property
    def fields(self) -> dict[str, Any]:
        """Every top-level field except ``id`` and ``messages``, pending journal changes applied."""
        return {k: v for k, v in self.load().data.items() if k != "id" and k != "messages"}

    def load(self) -> Example:
        """The full example (conversation included) with pending journal changes applied; DataError if invalid."""
        return self.index.load(self.row)

    def __repr__(self) -> str:
        return f"IndexEntry(id={self.id}, line={self.line}, rating={self.rating!r})"


class ExampleIndex:
    """Every valid example of examples.jsonl as columns (one row each, in file order): cheap to build for
    100,000 examples, where an object per example would cost more than the rest of the work together."""

    def __init__(self, path: Path, data: bytes, changes: dict[int, dict[str, Any]]) -> None:
        self.path = str(path)
        self.data = data  # the whole file; rows point into it
        self.changes = changes  # pending journal changes by id
        self.ids: list[int] = []
        self.lines: list[int] = []
        self.ratings: list[int | None] = []  # journal applied
        self.created: list[str | None] = []  # journal applied
        self.starts: list[int] = []
        self.ends: list[int] = []
        self._raws: dict[int, bytes] = {}  # rows whose bytes are not in ``data`` (a file read line by line)
        self._loaded: dict[int, Example] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def entry(self, row: int) -> IndexEntry:
        return IndexEntry(self, row)

    def entries(self) -> list[IndexEntry]:
        return [IndexEntry(self, row) for row in range(len(self.ids))]

    def raw(self, row: int) -> bytes:
        raw = self._raws.get(row)
        return raw if raw is not None else self.data[self.starts[row] : self.ends[row]]

    def load(self, row: int) -> Example:
        ex = self._loaded.get(row)
        if ex is None:
            raw, line = self.raw(row), self.lines[row]
            obj, problem = decode_line(Path(self.path), line, raw)
            if problem is not None:
                raise DataError([problem])
            errs = validate_record(obj)
            if errs:
                raise DataError([DataProblem(self.path, line, e) for e in errs])
            ex = Example(obj, raw, line)
            change = self.changes.get(ex.id)
            if change:
                ex = ex.updated(**change)
            self._loaded[row] = ex
        return ex

    def _add(self, ident: int, line: int, rating: Any, created: Any, start: int, end: int) -> int:
        self.ids.append(ident)
        self.lines.append(line)
        self.ratings.append(rating)
        self.created.append(created)
        self.starts.append(start)
        self.ends.append(end)
        return len(self.ids) - 1

    def _drop_last(self) -> None:
        row = len(self.ids) - 1
        for column in (self.ids, self.lines, self.ratings, self.created, self.starts, self.ends):
            column.pop()
        self._raws.pop(row, None)
        self._loaded.pop(row, None)


class _Irregular(Exception):
    """The file has a byte-level oddity: read it line by line instead, as Store.scan() does."""


def _messages_end(data: bytes, start: int, end: int) -> int:
    """Where the fields after the messages array start (the quote of the first key), or -1.

    The first ``}],"`` found from ``start``; searched for by its ``]`` (memchr speed), since a 4-byte search is
    four times slower here and this runs over every byte of the file.
    """
    find = data.find
    q = find(b"]", start, end)
    while q != -1 and (data[q - 1] != 125 or data[q + 1 : q + 3] != b',"'):  # 125 is "}"
        q = find(b"]", q + 1, end)
    return -1 if q == -1 else q + 2


def _tail_fields(data: bytes, start: int, end: int) -> dict[str, Any] | None:
    """The top-level fields after the messages array, parsed as JSON; None if they are not one object."""
    try:
        text = "{" + data[start:end].decode("utf-8")
        fields, stop = _scan_once(text, 0)
    except (UnicodeDecodeError, StopIteration, ValueError):
        return None
    if stop != len(text) or type(fields) is not dict or "id" in fields or "messages" in fields:
        return None
    return fields


class _Indexer:
    def __init__(self, store: Store, data: bytes) -> None:
        self.store = store
        self.where = str(store.path)
        self.problems: list[DataProblem] = []
        changes, _ = store._journal_changes(self.problems)  # read before the file: see Store.scan()
        self.index = ExampleIndex(store.path, data, changes)
        self.seen: dict[int, int] = {}

    def regular_file(self) -> None:
        """Index a file with nothing odd at the byte level, in place (no copy of any line).

        The loop is the common case of :meth:`line` written out, since it runs 100,000 times in the benchmark.
        """
        data = self.index.data
        if data.startswith(BOM) or (data and not data.endswith(b"\n")):
            raise _Irregular()
        index, seen, changes = self.index, self.seen, self.index.changes
        ids, lines, ratings, created = index.ids, index.lines, index.ratings, index.created
        starts, ends = index.starts, index.ends
        head_match, tail_match, find = _HEAD.match, _TAIL.fullmatch, data.find
        pos, n, size = 0, 0, len(data)
        while pos < size:
            end = find(b"\n", pos)
            n += 1
            head = head_match(data, pos, end)
            if head is not None:
                rest = _messages_end(data, head.end(), end)
                tail = tail_match(data, rest, end) if rest != -1 else None
                if tail is not None:
                    ident = int(head.group(1))
                    if ident not in seen and ident not in changes:
                        seen[ident] = n
                        rating, stamp = tail.group(1, 2)
                        ids.append(ident)
                        lines.append(n)
                        ratings.append(None if rating == b"null" else int(rating))
                        created.append(None if stamp is None or stamp == b"null" else stamp[1:-1].decode())
                        starts.append(pos)
                        ends.append(end)
                        pos = end + 1
                        continue
            self.line(data, pos, end, n, True)
            pos = end + 1

    def any_file(self) -> None:
        for n, raw in iter_lines(self.store.path, self.problems):
            self.line(raw, 0, len(raw), n, False)

    def line(self, data: bytes, start: int, end: int, n: int, in_file: bool) -> None:
        """Index one line of ``data`` (without its newline), by the fastest way that is exact for it."""
        head = _HEAD.match(data, start, end)
        rest = _messages_end(data, head.end(), end) if head is not None else -1
        if head is not None and rest != -1:
            ident = int(head.group(1))
            tail = _TAIL.fullmatch(data, rest, end)
            if tail is not None:  # 1: the usual fields, plain values
                rating, stamp = tail.group(1, 2)
                self.add(
                    data,
                    ident,
                    n,
                    None if rating == b"null" else int(rating),
                    None if stamp is None or stamp == b"null" else stamp[1:-1].decode(),
                    start,
                    end,
                    None,
                )
                return
            fields = _tail_fields(data, rest, end)
            if fields is not None:  # 2: any fields after the messages
                errs = validate_record({"id": ident, "messages": _PLACEHOLDER_MESSAGES, **fields})
                if errs:
                    self.problems.extend(DataProblem(self.where, n, e) for e in errs)
                    return
                self.add(data, ident, n, fields.get("rating"), fields.get("createdAt"), start, end, None)
                return
        raw = data[start:end]  # 3: any other line, parsed whole
        if in_file and (raw[-1:] == b"\r" or not raw.strip()):
            raise _Irregular()
        obj, problem = decode_line(self.store.path, n, raw)
        if problem:
            self.problems.append(problem)
            return
        errs = validate_record(obj)
        if errs:
            self.problems.extend(DataProblem(self.where, n, e) for e in errs)
            return
        ex = Example(obj, raw, n)
        self.add(data, ex.id, n, ex.rating, ex.created_at, start, end, ex)

    def add(
        self,
        data: bytes,
        ident: int,
        n: int,
        rating: Any,
        created: Any,
        start: int,
        end: int,
        ex: Example | None,
    ) -> None:
        first = self.seen.get(ident)
        if first is not None:
            self.problems.append(DataProblem(self.where, n, f"duplicate id {ident} (first on line {first})"))
            return
        self.seen[ident] = n
        index = self.index
        row = index._add(ident, n, rating, created, start, end)
        if data is not index.data:
            index._raws[row] = data[start:end]
        if ex is not None:
            index._loaded[row] = ex
        if ident in index.changes:
            index._loaded.pop(row, None)
            try:
                ex = index.load(row)
            except DataError as e:  # the line itself is broken: reported as Store.scan() reports it
                self.problems.extend(e.problems)
                del self.seen[ident]
                index._drop_last()
                return
            if not self.store._check_patched(ex.data, self.problems):
                index._drop_last()
                return
            index.ratings[row] = ex.rating
            index.created[row] = ex.created_at


def scan_index(store: Store) -> tuple[ExampleIndex, list[DataProblem]]:
    """Index every valid line, collecting every problem (like ``Store.scan()``, without parsing conversations)."""
    # Building 100,000 rows sets off the cyclic collector again and again, and each pass walks every object
    # built so far; none of them can form a cycle, so pausing it saves a fifth of the time.
    paused = gc.isenabled()
    gc.disable()
    try:
        data = store.path.read_bytes() if store.path.exists() else b""
        indexer = _Indexer(store, data)
        try:
            indexer.regular_file()
        except _Irregular:
            indexer = _Indexer(store, b"")
            indexer.any_file()
        return indexer.index, indexer.problems
    finally:
        if paused:
            gc.enable()


def read_index(store: Store) -> ExampleIndex:
    """:func:`scan_index`, strict like ``Store.read()``: raises DataError listing every blocking problem."""
    index, problems = scan_index(store)
    blocking = [p for p in problems if is_blocking(p)]
    if blocking:
        raise DataError(blocking)
    return index


__all__ = ["ExampleIndex", "IndexEntry", "read_index", "scan_index"]
