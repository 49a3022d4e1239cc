"""A light index of examples.jsonl: each example's id, rating, createdAt and split, the rest parsed on demand.

Why it exists: ``Store.read()`` parses every conversation, which CPython's json does at roughly 60 MB/s, so
about 2.5 s for the 100,000-example (150 MB) benchmark project. ``ait rate`` needs the rating and createdAt of
every example to build its queue, but the full text of only the few examples a person looks at, and it must
open in well under 1.5 s. ``ait split``, ``ait format``, ``ait rm``/``edit`` and the fold at the end of a rating
session need every line checked but only a few lines (or none) parsed and written anew.

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

The verified index (``verify=True``) checks every line as strictly as ``Store.scan()`` and still parses almost
none. A line is accepted without parsing only when it is in *canonical form* (see :mod:`.canonical`): exactly
the bytes that ``dumps(canonical(record))`` writes for a valid record with plain ``{"role","content"}``
messages. A regular expression checks the structure (every key, every role, every value's shape), and byte-level
passes over the whole file check what the expression cannot cheaply: valid UTF-8, no raw control characters,
and no escape that our writer would not produce (``\\u00e9`` for ``é``, ``\\/``); a line they flag is matched
again on its own (``\\"`` inside a string needs the slower expression) or parsed whole. A canonical line is therefore valid JSON
that passes ``validate_record``, and writing it back after a change to one field is the same byte edit as
parsing, changing and serialising it (property tests check both claims against the slow path). Every other line
is parsed whole and validated exactly like ``Store.scan()`` does it.
"""

from __future__ import annotations

import gc
import json
import mmap
import os
import re
from bisect import bisect_left
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from ..errors import DataError, DataProblem
from .canonical import FREE, FREE_ESCAPED, Buffer, careful_ok, flagged_lines, messages_pattern
from .jsonl import BOM, decode_line, is_blocking, iter_lines
from .records import Example, canonical, dumps, validate_record

if TYPE_CHECKING:
    from .store import Store

_CLOSE = b'}],"'
_HEAD = re.compile(rb'\{"id":([1-9][0-9]{0,15}),"messages":\[')
_STR = (
    rb'"[\x20\x21\x23-\x5b\x5d-\x7e]*"'  # printable ASCII, no quote or backslash: valid JSON and UTF-8 as is
)


def _tail(any_str: bytes) -> bytes:
    """The fields after the messages array, in canonical order. ``any_str`` is the pattern for free-text strings;
    createdAt is always plain (its value is taken from the bytes). Groups: rating, createdAt, the split field
    (empty when absent; its length tells its value, see :data:`_SPLIT_BY_LENGTH`)."""
    opt = rb"(?:null|" + any_str + rb")"
    return (
        rb'"rating":(null|10|[1-9])'
        rb'(?:,"originalOutput":' + opt + rb")?"
        rb'(?:,"createdAt":(null|' + _STR + rb"))?"
        rb'(?:,"version":[1-9][0-9]{0,15})?'
        rb'((?:,"split":(?:null|"train"|"val"))?)'
        rb'(?:,"ratedAt":' + opt + rb")?"
        rb'(?:,"updatedAt":' + opt + rb")?"
        rb'(?:,"source":' + opt + rb")?"
        rb'(?:,"tags":\[(?:' + any_str + rb"(?:," + any_str + rb")*)?\])?"
        rb"\}"
    )


_TAIL = re.compile(_tail(_STR))
_SPLIT_FIELD = b',"split":'
_SPLIT_BY_LENGTH: dict[int, str | None] = {0: None, 13: None, 14: "val", 16: "train"}  # ,"split":null etc.
_RATINGS: dict[bytes, int | None] = {b"null": None, **{str(r).encode(): r for r in range(1, 11)}}
SPLIT_FIELDS: dict[str | None, bytes] = {None: b"", "val": b',"split":"val"', "train": b',"split":"train"'}


def split_field_length(data: bytes, at: int, split: str | None) -> int:
    """Length of the split field at ``at`` in a canonical line whose split is ``split`` (0: no field there yet;
    a canonical line puts it where the field would go, see ExampleIndex.split_at)."""
    if split is None:
        return 13 if data.startswith(_SPLIT_FIELD, at) else 0  # ,"split":null or nothing
    return 14 if split == "val" else 16  # ,"split":"val" or ,"split":"train"


# -- canonical lines (the verified index; see store.canonical) ------------------------------------------------
def _canonical_line(free: bytes) -> re.Pattern[bytes]:
    return re.compile(
        rb'\{"id":([1-9][0-9]{0,15}),"messages":' + messages_pattern(free) + rb"," + _tail(free)
    )


_CANONICAL = _canonical_line(FREE)  # groups: id, rating, createdAt, split field
_CANONICAL_ESCAPED = _canonical_line(FREE_ESCAPED)
_MESSAGES_AT = len(b'{"id":,')  # + the id's digits: where a canonical line's "messages" key starts

# A change to one line for Store.rewrite: the whole new line, or (start, stop, new bytes): replace the bytes
# line[start:stop] (the line's own offsets) with the new ones
Edit = bytes | tuple[int, int, bytes]

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
    def split(self) -> str | None:
        return self.index.splits[self.row]

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

    def __init__(self, path: Path, data: bytes, changes: dict[int, dict[str, Any]], patches: int = 0) -> None:
        self.path = str(path)
        self.data = data  # the whole file; rows point into it
        self.changes = changes  # pending journal changes by id
        self.patches = patches  # how many journal patches they fold
        self.verified = False  # every row checked like Store.scan() checks it (see scan_index)
        self.tiled = (
            False  # verified, and every line of ``data`` is a row (nothing skipped, nothing read apart)
        )
        self.ids: list[int] = []
        self.lines: list[int] = []
        self.ratings: list[int | None] = []  # journal applied
        self.created: list[str | None] = []  # journal applied
        self.splits: list[str | None] = []  # journal applied
        self.starts: list[int] = []
        self.ends: list[int] = []
        # verified index: where the split field is (or would go) in a canonical row's line, from the line's
        # start; -1 for a row that is not known to be canonical (parsed whole, or with a pending journal change)
        # and for every row of an index that is not verified
        self.split_at: list[int] = []
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

    def is_canonical(self, row: int) -> bool:
        """Whether the row's bytes are exactly what serialising it writes (verified index, no pending change)."""
        return self.split_at[row] >= 0

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

    def split_edit(self, row: int, split: str | None) -> Edit:
        """The row's line as serialising it with ``split`` set (None: the field removed) writes it.

        For a canonical row, an edit of its bytes (see :data:`Edit`): the property tests prove it equal to
        parsing, changing and serialising the line, which is what any other row gets
        (``Example.updated(split=...).to_line()``, pending journal changes applied).
        """
        at = self.split_at[row]
        if at < 0:
            from .records import UNSET

            return self.load(row).updated(split=UNSET if split is None else split).to_line()
        raw = self._raws.get(row)
        data, start = (raw, 0) if raw is not None else (self.data, self.starts[row])
        return at, at + split_field_length(data, start + at, self.splits[row]), SPLIT_FIELDS[split]

    def provider_line(self, row: int) -> bytes:
        """A canonical row's ``{"messages":[...]}`` line (newline included) as a provider file writes it: the
        row's own bytes, since its messages are plain ``{"role", "content"}`` objects written canonically."""
        if self.split_at[row] < 0:
            raise ValueError("only a canonical row's line can be taken as written")
        raw = self._raws.get(row)
        data, start, end = (
            (raw, 0, len(raw)) if raw is not None else (self.data, self.starts[row], self.ends[row])
        )
        # from `"messages":` to the end of the array: the only `],"rating":` in a canonical line
        at = start + _MESSAGES_AT + len(str(self.ids[row]))
        return b"{" + data[at : data.rfind(b'],"rating":', start, end) + 1] + b"}\n"

    def serialised(self, row: int) -> bytes:
        """The row's line as a rewrite of the file writes it: pending journal changes applied and serialised,
        otherwise the bytes as read."""
        if self.ids[row] in self.changes:
            return dumps(canonical(self.load(row).data)).encode("utf-8")
        return self.raw(row)

    def _add(
        self, ident: int, line: int, rating: Any, created: Any, split: Any, start: int, end: int, at: int
    ) -> int:
        self.ids.append(ident)
        self.lines.append(line)
        self.ratings.append(rating)
        self.created.append(created)
        self.splits.append(split)
        self.starts.append(start)
        self.ends.append(end)
        self.split_at.append(at)
        return len(self.ids) - 1

    def _drop_last(self) -> None:
        row = len(self.ids) - 1
        for column in self._columns():
            column.pop()
        self._raws.pop(row, None)
        self._loaded.pop(row, None)

    def _columns(self) -> tuple[list[Any], ...]:
        return (
            self.ids,
            self.lines,
            self.ratings,
            self.created,
            self.splits,
            self.starts,
            self.ends,
            self.split_at,
        )


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


def _careful_match(data: Buffer, start: int, end: int) -> re.Match[bytes] | None:
    """The canonical-line match of one line checked on its own, or None: the line must be parsed whole."""
    return _CANONICAL_ESCAPED.fullmatch(data, start, end) if careful_ok(data, start, end) else None


# One part of a verified index, built in a worker process: the canonical rows as columns (ids, lines, ratings,
# createdAt, splits, starts, ends, split offsets), and the lines left to the parent as (line, start, end).
_Part = tuple[
    list[int],
    list[int],
    list[Any],
    list[Any],
    list[Any],
    list[int],
    list[int],
    list[int],
    list[tuple[int, int, int]],
]
PARALLEL_MIN_BYTES = 8 << 20  # below this a verified index is built in one process


def _verified_part(data: Buffer, start: int, stop: int, changes: dict[int, Any]) -> _Part:
    """Index the whole lines of ``data[start:stop]``: a canonical line costs one regular-expression match; any
    other line (and one whose id repeats in this part or has a pending change) is left to the caller. Line
    numbers count from the part's start (the caller adds the lines before it); offsets are ``data``'s."""
    ids: list[int] = []
    lines: list[int] = []
    ratings: list[Any] = []
    created: list[Any] = []
    splits: list[Any] = []
    starts: list[int] = []
    ends: list[int] = []
    split_at: list[int] = []
    others: list[tuple[int, int, int]] = []
    seen: set[int] = set()
    by_length, by_rating = _SPLIT_BY_LENGTH, _RATINGS
    stamps: dict[bytes | None, str | None] = {None: None, b"null": None}  # imports share one createdAt
    flagged = flagged_lines(data, start, stop)
    match, find = _CANONICAL.fullmatch, data.find
    pos, n = start, 0
    while pos < stop:
        end = find(b"\n", pos, stop)
        if end == -1:
            end = stop
        n += 1
        m = match(data, pos, end) if pos not in flagged else _careful_match(data, pos, end)
        if m is not None:
            digits, rating, stamp, split = m.groups()
            ident = int(digits)
            if ident not in seen and ident not in changes:
                seen.add(ident)
                try:
                    when = stamps[stamp]
                except KeyError:
                    when = stamps[stamp] = stamp[1:-1].decode()
                ids.append(ident)
                lines.append(n)
                ratings.append(by_rating[rating])
                created.append(when)
                splits.append(by_length[len(split)])
                starts.append(pos)
                ends.append(end)
                split_at.append(m.start(4) - pos)
                pos = end + 1
                continue
        others.append((n, pos, end))
        pos = end + 1
    return ids, lines, ratings, created, splits, starts, ends, split_at, others


class _Indexer:
    def __init__(self, store: Store, data: bytes, verify: bool) -> None:
        self.store = store
        self.verify = verify
        self.where = str(store.path)
        self.problems: list[DataProblem] = []
        changes, patches = store._journal_changes(self.problems)  # read before the file: see Store.scan()
        self.index = ExampleIndex(store.path, data, changes, patches)
        self.index.verified = verify
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
        splits, starts, ends, split_at = index.splits, index.starts, index.ends, index.split_at
        by_length = _SPLIT_BY_LENGTH
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
                        rating, stamp, split = tail.group(1, 2, 3)
                        ids.append(ident)
                        lines.append(n)
                        ratings.append(None if rating == b"null" else int(rating))
                        created.append(None if stamp is None or stamp == b"null" else stamp[1:-1].decode())
                        splits.append(by_length[len(split)])
                        starts.append(pos)
                        ends.append(end)
                        split_at.append(-1)
                        pos = end + 1
                        continue
            self.line(data, pos, end, n, True)
            pos = end + 1

    def verified_file(self, f: BinaryIO) -> None:
        """The verified loop over a regular file, shared out between processes for a large file.

        This process reads the whole file (a rewrite copies from it) and indexes the first part; each worker
        maps the file (no copy, and it need not wait for this read) and indexes its part. The parts are joined
        in line order; see :func:`_verified_part`. A worker that fails (the file cut short under it, say) has
        its part redone here from the bytes read.
        """
        from ..parallel import fork_map, worker_count

        index, seen, changes = self.index, self.seen, self.index.changes
        size = os.fstat(f.fileno()).st_size
        workers = worker_count(size, PARALLEL_MIN_BYTES)
        me = os.getpid()
        read: list[bytes] = []

        def work(w: int, _: int) -> _Part:
            if os.getpid() != me:
                with mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ) as mm:
                    return _verified_part(mm, _cut(mm, w, workers), _cut(mm, w + 1, workers), changes)
            if not read:
                read.append(os.pread(f.fileno(), size, 0))
            return _verified_part(read[0], _cut(read[0], w, workers), _cut(read[0], w + 1, workers), changes)

        parts = fork_map(work, workers, workers)
        data = read[0] if read else os.pread(f.fileno(), size, 0)
        if len(data) != size:  # cut short meanwhile (by another program): index what was read, here alone
            parts = [_verified_part(data, 0, len(data), changes)]
        if data.startswith(BOM) or (data and not data.endswith(b"\n")):
            raise _Irregular()
        index.data = data
        columns = index._columns()
        lines_read = 0
        for part in parts:
            *rows, others = part
            ids, lines = rows[0], rows[1]
            if lines_read:  # line numbers count from the part's start
                rows[1] = lines = [n + lines_read for n in lines]
                others = [(n + lines_read, start, end) for n, start, end in others]
            lines_read += len(ids) + len(others)
            if not others and seen.keys().isdisjoint(ids):  # the usual case: every line canonical, ids new
                seen.update(zip(ids, lines, strict=True))
                for column, values in zip(columns, rows, strict=True):
                    column.extend(values)
            else:
                self._merge(data, (*rows, others))  # type: ignore[arg-type]
        index.tiled = len(index.ids) == lines_read and not index._raws

    def _merge(self, data: bytes, part: _Part) -> None:
        """Add one part's rows and lines in line order, as the one-process loop would: the runs of canonical
        rows between the lines parsed here are added whole when none of their ids was seen before."""
        *rows, others = part
        ids, lines = rows[0], rows[1]
        index, seen, where = self.index, self.seen, self.where
        columns = index._columns()
        k = 0
        for n, start, end in [*others, (-1, 0, 0)]:
            stop = len(ids) if n == -1 else bisect_left(lines, n, k)  # the rows before line n
            if seen.keys().isdisjoint(ids[k:stop]):
                seen.update(zip(ids[k:stop], lines[k:stop], strict=True))
                for column, values in zip(columns, rows, strict=True):
                    column.extend(values[k:stop])
            else:
                for row in range(k, stop):
                    ident, line = ids[row], lines[row]
                    first = seen.get(ident)
                    if first is None:
                        seen[ident] = line
                        index._add(*(column[row] for column in rows))
                    else:
                        self.problems.append(
                            DataProblem(where, line, f"duplicate id {ident} (first on line {first})")
                        )
            k = stop
            if n != -1:
                self.whole_line(data, start, end, n, True)

    def any_file(self) -> None:
        for n, raw in iter_lines(self.store.path, self.problems):
            if self.verify:
                m = _careful_match(raw, 0, len(raw))
                if m is not None:
                    rating, stamp = m.group(2, 3)
                    at, split_end = m.span(4)
                    self.add(
                        raw,
                        int(m.group(1)),
                        n,
                        None if rating == b"null" else int(rating),
                        None if stamp is None or stamp == b"null" else stamp[1:-1].decode(),
                        _SPLIT_BY_LENGTH[split_end - at],
                        0,
                        len(raw),
                        None,
                        at,
                    )
                else:
                    self.whole_line(raw, 0, len(raw), n, False)
            else:
                self.line(raw, 0, len(raw), n, False)

    def line(self, data: bytes, start: int, end: int, n: int, in_file: bool) -> None:
        """Index one line of ``data`` (without its newline), by the fastest way that is exact for it."""
        head = _HEAD.match(data, start, end)
        rest = _messages_end(data, head.end(), end) if head is not None else -1
        if head is not None and rest != -1:
            ident = int(head.group(1))
            tail = _TAIL.fullmatch(data, rest, end)
            if tail is not None:  # 1: the usual fields, plain values
                rating, stamp, split = tail.group(1, 2, 3)
                self.add(
                    data,
                    ident,
                    n,
                    None if rating == b"null" else int(rating),
                    None if stamp is None or stamp == b"null" else stamp[1:-1].decode(),
                    _SPLIT_BY_LENGTH[len(split)],
                    start,
                    end,
                    None,
                    -1,
                )
                return
            fields = _tail_fields(data, rest, end)
            if fields is not None:  # 2: any fields after the messages
                errs = validate_record({"id": ident, "messages": _PLACEHOLDER_MESSAGES, **fields})
                if errs:
                    self.problems.extend(DataProblem(self.where, n, e) for e in errs)
                    return
                self.add(
                    data,
                    ident,
                    n,
                    fields.get("rating"),
                    fields.get("createdAt"),
                    fields.get("split"),
                    start,
                    end,
                    None,
                    -1,
                )
                return
        self.whole_line(data, start, end, n, in_file)

    def whole_line(self, data: bytes, start: int, end: int, n: int, in_file: bool) -> None:
        """3: a line parsed whole and validated, exactly as Store.scan() does it."""
        raw = data[start:end]
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
        self.add(data, ex.id, n, ex.rating, ex.created_at, ex.split, start, end, ex, -1)

    def add(
        self,
        data: bytes,
        ident: int,
        n: int,
        rating: Any,
        created: Any,
        split: Any,
        start: int,
        end: int,
        ex: Example | None,
        at: int,
    ) -> None:
        first = self.seen.get(ident)
        if first is not None:
            self.problems.append(DataProblem(self.where, n, f"duplicate id {ident} (first on line {first})"))
            return
        self.seen[ident] = n
        index = self.index
        changed = ident in index.changes
        row = index._add(ident, n, rating, created, split, start, end, -1 if changed else at)
        if data is not index.data:
            index._raws[row] = data[start:end]
        if ex is not None:
            index._loaded[row] = ex
        if changed:
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
            index.splits[row] = ex.split


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for bulk work over every example.

    Building 100,000 rows (or tuples, or parsed records) sets off the collector again and again, and each pass
    walks every object built so far; what this code builds cannot form a cycle, so nothing is lost by waiting,
    and a fifth to a half of the time is saved. Nested use is fine (only the outermost turns it back on).
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def scan_index(store: Store, *, verify: bool = False) -> tuple[ExampleIndex, list[DataProblem]]:
    """Index every valid line, collecting every problem (like ``Store.scan()``, without parsing conversations).

    With ``verify`` every line is checked as ``Store.scan()`` checks it (conversations included), so the rows
    and problems are exactly those of a full read; see the module notes for how that stays cheap.
    """
    with gc_paused():
        try:
            if verify:
                indexer = _Indexer(store, b"", verify)
                try:
                    with open(store.path, "rb") as f:
                        indexer.verified_file(f)
                except FileNotFoundError:
                    pass
            else:
                data = store.path.read_bytes() if store.path.exists() else b""
                indexer = _Indexer(store, data, verify)
                indexer.regular_file()
        except _Irregular:
            indexer = _Indexer(store, b"", verify)
            indexer.any_file()
        return indexer.index, indexer.problems


_FIRST_SHARE = (
    0.8  # this process's share of a verified index relative to a worker's (it reads the file first)
)


def _cut(data: Buffer, k: int, parts: int) -> int:
    """Where part ``k`` of ``parts`` of a verified index starts: after the first newline at or past its share
    of the bytes (so ``data`` mapped or read gives the same cuts)."""
    size = len(data)
    if k == 0 or k >= parts:
        return 0 if k == 0 else size
    at = data.find(b"\n", int(size * (k - 1 + _FIRST_SHARE) / (parts - 1 + _FIRST_SHARE)))
    return size if at == -1 else at + 1


def read_index(store: Store, *, verify: bool = False) -> ExampleIndex:
    """:func:`scan_index`, strict like ``Store.read()``: raises DataError listing every blocking problem."""
    index, problems = scan_index(store, verify=verify)
    blocking = [p for p in problems if is_blocking(p)]
    if blocking:
        raise DataError(blocking)
    return index


__all__ = [
    "SPLIT_FIELDS",
    "Edit",
    "ExampleIndex",
    "IndexEntry",
    "flagged_lines",
    "gc_paused",
    "read_index",
    "scan_index",
    "split_field_length",
]
