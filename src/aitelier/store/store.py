"""The example store: ``data/examples.jsonl`` plus a small append-only journal.

Design (why it looks like this):

* Appends (``ait add``/``ait import``) are one ``write(2)`` + fsync under the project lock, so they are durable
  at once and cheap on a 100 MB file: the next id comes from a scan of line prefixes, not a full JSON parse.
* Edits (``rm``, ``edit``, ``split``, the journal fold) rewrite the file atomically (temp + fsync + rename). They
  check every line as strictly as a full read but parse only the lines they change (or that are not in
  canonical form) and copy the others as read: see :mod:`aitelier.store.index` (the verified index).
* Frequent single-example changes (each key press in ``ait rate``) are appended to ``data/.journal.jsonl`` as
  field patches and fsynced: a 30-byte append instead of a 100 MB rewrite. Every read applies pending patches;
  the next rewrite (``compact``) folds them into examples.jsonl and deletes the journal. Replaying a patch is
  idempotent, so a crash between the rewrite and the journal's removal is harmless.
* The store never prints; problems are raised as :class:`~aitelier.errors.DataError` with path and line.
"""

from __future__ import annotations

import contextlib
import json
import mmap
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DataError, DataProblem, NotFound
from ..fsutil import atomic_write_bytes, durable_append, now_iso
from .jsonl import TORN_TAIL, decode_line, is_blocking, iter_lines, scan_json
from .lock import project_lock
from .records import UNSET, Example, dumps, looks_valid, new_record, normalise_messages, validate_record

if TYPE_CHECKING:
    from .index import Edit, ExampleIndex

EXAMPLES = "examples.jsonl"
JOURNAL = ".journal.jsonl"
LOCK = ".lock"
CACHE = ".cache.json"  # derived facts about examples.jsonl (safe to delete; see Store.max_id)


@dataclass
class ReadResult:
    examples: list[Example]
    problems: list[DataProblem] = field(default_factory=list)
    journal_applied: int = 0


@dataclass
class AppendResult:
    ids: list[int]
    duplicates: list[tuple[int, int]]  # (new id, existing id) pairs that are exact duplicates


class Store:
    def __init__(
        self,
        data_dir: Path,
        *,
        next_id_floor: Callable[[], int] | None = None,
        raise_next_id_floor: Callable[[int], None] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / EXAMPLES
        self.journal_path = self.data_dir / JOURNAL
        self.lock_path = self.data_dir / LOCK
        self.cache_path = self.data_dir / CACHE
        # ids below this floor were used once and must never be reused (they were deleted); see Project
        self._next_id_floor = next_id_floor or (lambda: 1)
        self._raise_next_id_floor = raise_next_id_floor or (lambda n: None)

    # -- locking --------------------------------------------------------------------------------------------
    @contextmanager
    def locked(self, timeout: float | None = None) -> Iterator[None]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with project_lock(self.lock_path, timeout):
            yield

    # -- reading --------------------------------------------------------------------------------------------
    def _iter_valid(self, problems: list[DataProblem]) -> Iterator[tuple[int, dict[str, Any], bytes]]:
        """Stream (line, object, raw bytes) of every valid line; everything else becomes a problem.

        The hot loop of every full read (100,000 lines in the benchmark project), so the common case (a JSON
        object line that passes the quick validity check) is inlined; anything else takes the slow paths of
        decode_line and validate_record, which also word the problems.
        """
        if not self.path.exists():
            return
        path = self.path
        where = str(path)
        seen: dict[int, int] = {}
        for n, raw in iter_lines(path, problems):
            try:
                text = raw.decode("utf-8")
                obj, end = scan_json(text, 0)
                if end != len(text):
                    raise ValueError("trailing data")
            except (ValueError, StopIteration, RecursionError):
                obj, problem = decode_line(path, n, raw)
                if problem:
                    problems.append(problem)
                    continue
            if not looks_valid(obj):
                errs = validate_record(obj)
                if errs:
                    problems.extend(DataProblem(where, n, e) for e in errs)
                    continue
            ident = obj["id"]
            first = seen.setdefault(ident, n)
            if first != n:
                problems.append(DataProblem(where, n, f"duplicate id {ident} (first on line {first})"))
                continue
            yield n, obj, raw

    def scan(self) -> ReadResult:
        """Parse every line, collecting all problems instead of stopping at the first."""
        problems: list[DataProblem] = []
        changes, applied = self._journal_changes(problems)
        examples: list[Example] = []
        for n, obj, raw in self._iter_valid(problems):
            ex = Example(obj, raw, n)
            change = changes.get(ex.id)
            if change is not None:
                ex = ex.updated(**change)
                if not self._check_patched(ex.data, problems):
                    continue
            examples.append(ex)
        return ReadResult(examples, problems, applied)

    def iter_records(self, problems: list[DataProblem] | None = None) -> Iterator[dict[str, Any]]:
        """Stream every valid example as a dict with pending journal patches applied; memory stays flat.

        With a ``problems`` list, problems are collected there and reading goes on (like :meth:`scan`). Without
        one, reading is strict (like :meth:`read`): after the last record, a :class:`DataError` listing every
        blocking problem is raised, so a caller that sums over the records never returns a partial answer.
        """
        strict = problems is None
        found: list[DataProblem] = [] if problems is None else problems
        changes, _ = self._journal_changes(found)
        for _n, obj, _raw in self._iter_valid(found):
            change = changes.get(obj["id"])
            if change is not None:
                obj = Example(obj).updated(**change).data
                if not self._check_patched(obj, found):
                    continue
            yield obj
        if strict:
            blocking = [p for p in found if is_blocking(p)]
            if blocking:
                raise DataError(blocking)

    def read(self) -> list[Example]:
        """All examples with pending journal patches applied. Raises DataError on any real problem."""
        result = self.scan()
        blocking = [p for p in result.problems if is_blocking(p)]
        if blocking:
            raise DataError(blocking)
        return result.examples

    def get(self, ident: int) -> Example:
        """One example (journal applied), reading strictly but keeping only that one in memory."""
        problems: list[DataProblem] = []
        changes, _ = self._journal_changes(problems)
        found: Example | None = None
        for n, obj, raw in self._iter_valid(problems):
            if obj["id"] == ident:
                found = Example(obj, raw, n)
        blocking = [p for p in problems if is_blocking(p)]
        if found is not None and ident in changes:
            found = found.updated(**changes[ident])
            self._check_patched(found.data, blocking)
        if blocking:
            raise DataError(blocking)
        if found is None:
            raise NotFound(f"no example with id {ident}", hint="`ait list` shows the ids")
        return found

    # -- journal --------------------------------------------------------------------------------------------
    def _read_journal(self, problems: list[DataProblem]) -> list[dict[str, Any]]:
        if not self.journal_path.exists():
            return []
        data = self.journal_path.read_bytes()
        lines = data.split(b"\n")
        # b"" when the file ends in a newline; otherwise a write that never completed (power loss). That patch
        # was never acknowledged, so it is not applied; the next patch() cuts it off, `ait doctor` reports it.
        if lines.pop():
            problems.append(DataProblem(str(self.journal_path), len(lines) + 1, TORN_TAIL, fixable=True))
        patches = []
        where = str(self.journal_path)
        for n, raw in enumerate(lines, 1):
            obj, problem = decode_line(self.journal_path, n, raw)
            if problem:
                problems.append(problem)
                continue
            err = _patch_problem(obj)
            if err:
                problems.append(DataProblem(where, n, err))
                continue
            patches.append(obj)
        return patches

    def _journal_changes(self, problems: list[DataProblem]) -> tuple[dict[int, dict[str, Any]], int]:
        """Pending patches folded per example id: {id: {field: value or UNSET}}, and how many patches."""
        patches = self._read_journal(problems)
        changes: dict[int, dict[str, Any]] = {}
        for p in patches:
            change = changes.setdefault(p["id"], {})
            change.update(p.get("set") or {})
            for k in p.get("unset") or ():
                change[k] = UNSET
        return changes, len(patches)

    def _check_patched(self, data: dict[str, Any], problems: list[DataProblem]) -> bool:
        errs = validate_record(data)
        for e in errs:
            problems.append(
                DataProblem(
                    str(self.journal_path),
                    None,
                    f"a pending change makes example {data.get('id')} invalid: {e}",
                    example_id=data.get("id"),
                )
            )
        return not errs

    def patch(self, ident: int, set_fields: dict[str, Any], unset: Iterable[str] = ()) -> None:
        """Durably record a change to one example (the rating hot path): lock, append, fsync, unlock."""
        record: dict[str, Any] = {"id": ident, "set": set_fields}
        unset = list(unset)
        if unset:
            record["unset"] = unset
        line = (dumps(record) + "\n").encode("utf-8")
        with self.locked():
            self.drop_torn_journal_tail()
            durable_append(self.journal_path, line)

    def drop_torn_journal_tail(self) -> bool:
        """Drop an incomplete last journal line (a patch that was never acknowledged); call it holding the lock.

        :meth:`patch` calls this so a new patch never lands glued to a torn one; returns whether it cut anything.
        """
        if not self.journal_path.exists():
            return False
        with open(self.journal_path, "r+b") as f:
            size = f.seek(0, os.SEEK_END)
            if size == 0:
                return False
            f.seek(size - 1)
            if f.read(1) == b"\n":
                return False
            f.seek(0)
            keep = f.read().rfind(b"\n") + 1
            f.truncate(keep)
            f.flush()
            os.fsync(f.fileno())
        return True

    def has_pending_journal(self) -> bool:
        return self.journal_path.exists() and self.journal_path.stat().st_size > 0

    # -- writing --------------------------------------------------------------------------------------------
    def _write_all(self, examples: list[Example]) -> None:
        chunks = []
        for ex in examples:
            chunks.append(ex.to_line())
            chunks.append(b"\n")
        atomic_write_bytes(self.path, chunks)
        self._remember_max_id(self._current_key(), max((ex.id for ex in examples), default=0))
        if self.journal_path.exists():
            os.unlink(self.journal_path)

    def update(self, fn: Callable[[list[Example]], list[Example]]) -> list[Example]:
        """Read (strictly), let ``fn`` return the new list, and rewrite atomically; all under the lock."""
        with self.locked():
            examples = self.read()
            new = fn(list(examples))
            self._write_all(new)
            return new

    def verified_index(self) -> ExampleIndex:
        """Every example as an index row, checked as strictly as :meth:`read` checks it (DataError listing every
        blocking problem), but with only the lines that are not in canonical form parsed (see store.index)."""
        from .index import read_index

        return read_index(self, verify=True)

    def rewrite(
        self,
        index: ExampleIndex,
        edits: Mapping[int, Edit | None],
        splits: Mapping[int, str | None] | None = None,
    ) -> None:
        """Write examples.jsonl anew from a verified index read under the lock (hold it throughout).

        ``edits`` maps rows to their change (an :data:`~aitelier.store.index.Edit`; None drops the row);
        ``splits`` maps rows to a new split (None removes the field), changed as
        :meth:`~aitelier.store.index.ExampleIndex.split_edit` changes them (the many edits of a first
        ``ait split``, done here without building an edit per row). A row with a pending journal change is
        serialised with it applied; every other row keeps its bytes, copied without parsing. The journal is
        folded in, so it is removed. The result is the file ``_write_all`` writes for the examples :meth:`read`
        returns with those rows changed.
        """
        if not index.verified:
            raise ValueError("Store.rewrite needs a verified index")
        ids = index.ids
        changed: dict[int, Edit | None] = dict(edits)
        targets = dict(splits or {})
        if index.changes:
            for row, ident in enumerate(ids):
                if ident in index.changes and row not in changed and row not in targets:
                    changed[row] = index.serialised(row)
        split_at = index.split_at  # -1: not canonical (see ExampleIndex.split_at)
        for row in [row for row in targets if split_at[row] < 0 or row in changed]:
            split = targets.pop(row)
            if row not in changed:
                changed[row] = index.split_edit(row, split)
        atomic_write_bytes(self.path, _pieces(index, changed, targets))
        dropped = None in changed.values()
        kept = (i for row, i in enumerate(ids) if not (row in changed and changed[row] is None))
        self._remember_max_id(self._current_key(), max(kept if dropped else ids, default=0))
        if self.journal_path.exists():
            os.unlink(self.journal_path)

    def compact(self) -> int:
        """Fold pending journal patches into examples.jsonl. Returns how many were folded.

        Checks the whole file as strictly as :meth:`read` (and refuses the same way) but parses only the lines
        that change or are not in canonical form; every other line is copied as read.
        """
        from .index import gc_paused

        with self.locked(), gc_paused():
            if not self.has_pending_journal():
                return 0
            index = self.verified_index()
            self.rewrite(index, {})
            return index.patches

    def max_id(self) -> int:
        """Largest id in the file.

        Remembered in ``data/.cache.json`` under the file's identity (device, inode, size, mtime and ctime in ns),
        so consecutive appends to a 150 MB file do not rescan it; any change by any program changes that identity
        and the next call scans again. The scan reads line prefixes (full JSON only for unusual lines).
        """
        try:
            with open(self.path, "rb") as f:
                st = os.fstat(f.fileno())
                key = _file_key(st)
                cached = self._cached_max_id(key)
                if cached is not None:
                    return cached
                best = self._scan_max_id(f, st.st_size)
        except FileNotFoundError:
            return 0
        self._remember_max_id(key, best)
        return best

    def _scan_max_id(self, f: Any, size: int) -> int:
        if size == 0:
            return 0
        best = 0
        with mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ) as mm:
            pos, n = 0, 0
            prefix = b'{"id":'
            while pos < size:
                end = mm.find(b"\n", pos)
                if end == -1:
                    end = size
                n += 1
                ident: Any = None
                if mm[pos : pos + 6] == prefix:
                    stop = pos + 6
                    while stop < end and 48 <= mm[stop] <= 57:
                        stop += 1
                    if stop > pos + 6 and stop < end and mm[stop] in (44, 125):  # ',' or '}'
                        ident = int(mm[pos + 6 : stop])
                if ident is None:
                    line = mm[pos:end].rstrip(b"\r")
                    if line.strip():
                        obj, problem = decode_line(self.path, n, line)
                        if problem:
                            raise DataError([problem])
                        ident = obj.get("id") if isinstance(obj, dict) else None
                        if not isinstance(ident, int) or isinstance(ident, bool):
                            raise DataError([DataProblem(str(self.path), n, "line has no integer `id`")])
                if ident is not None and ident > best:
                    best = ident
                pos = end + 1
        return best

    def _cached_max_id(self, key: list[int]) -> int | None:
        try:
            cache = json.loads(self.cache_path.read_bytes())
            entry = cache["maxId"]
            if entry["file"] == key and type(entry["value"]) is int:
                return int(entry["value"])
        except (OSError, ValueError, TypeError, KeyError):
            pass
        return None

    def _remember_max_id(self, key: list[int] | None, value: int) -> None:
        """Best effort: a cache that cannot be written only costs the next command a scan."""
        if key is None:
            return
        tmp = self.cache_path.with_name(f"{self.cache_path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_bytes(dumps({"maxId": {"file": key, "value": value}}).encode("utf-8"))
            os.replace(tmp, self.cache_path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()

    def _current_key(self) -> list[int] | None:
        try:
            return _file_key(os.stat(self.path))
        except FileNotFoundError:
            return None

    def find_duplicate(self, messages: list[dict[str, Any]]) -> int | None:
        """Id of an existing example with exactly these messages, by a byte search of the file."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return None
        needle = b'"messages":' + dumps(normalise_messages(messages)).encode("utf-8")
        with open(self.path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            at = mm.find(needle)
            if at == -1:
                return None
            start = mm.rfind(b"\n", 0, at) + 1
            end = mm.find(b"\n", at)
            obj, problem = decode_line(self.path, 0, mm[start : end if end != -1 else len(mm)])
        if problem or not isinstance(obj, dict):
            return None
        ident = obj.get("id")
        return ident if isinstance(ident, int) else None

    def append(
        self,
        conversations: list[dict[str, Any]],
        *,
        check_duplicates: bool = True,
        skip_duplicates: bool = False,
    ) -> AppendResult:
        """Append new examples in one durable write. Each item: ``messages``, optional ``rating`` and extras.

        Ids are assigned under the lock, so concurrent appends never collide. With ``skip_duplicates`` an exact
        duplicate of an existing example (or of an earlier item) is left out instead of only being reported.
        """
        created = now_iso()
        with self.locked():
            file_max = self.max_id()
            next_id = max(file_max + 1, self._next_id_floor())
            ids: list[int] = []
            dups: list[tuple[int, int]] = []
            seen: dict[str, int] = {}
            chunks: list[bytes] = []
            for conv in conversations:
                messages = normalise_messages(conv["messages"])
                key = dumps(messages)
                dup = seen.get(key)
                if dup is None and check_duplicates:
                    dup = self.find_duplicate(messages)
                if dup is not None:
                    if skip_duplicates:
                        dups.append((0, dup))
                        continue
                    dups.append((next_id, dup))
                extra = {k: v for k, v in conv.items() if k not in ("messages", "rating")}
                rec = new_record(
                    next_id, messages, rating=conv.get("rating"), created_at=created, extra=extra
                )
                chunks.append(dumps(rec).encode("utf-8") + b"\n")
                seen[key] = next_id
                ids.append(next_id)
                next_id += 1
            if chunks:
                payload = b"".join(chunks)
                if self.path.exists() and self.path.stat().st_size > 0:
                    with open(self.path, "rb") as f:
                        f.seek(-1, os.SEEK_END)
                        if f.read(1) != b"\n":
                            payload = b"\n" + payload
                durable_append(self.path, payload, follow_symlinks=True)  # write through a linked file
                self._remember_max_id(self._current_key(), max(file_max, ids[-1]))
            return AppendResult(ids, dups)

    def remove(self, ident: int) -> Example:
        """Delete one example (checked and written like :meth:`update`, without parsing the other lines)."""
        with self.locked():
            floor = max(self.max_id() + 1, self._next_id_floor())
            index = self.verified_index()
            row = _row_of(index, ident)
            if row is None:
                raise NotFound(f"no example with id {ident}", hint="`ait list` shows the ids")
            removed = index.load(row)
            self.rewrite(index, {row: None})
            # remember the high-water mark so a removed id is never handed out again
            self._raise_next_id_floor(floor)
        return removed

    def replace(self, example: Example) -> None:
        """Rewrite one example in place (used by `ait edit`), bumping its version."""
        with self.locked():
            index = self.verified_index()
            row = _row_of(index, example.id)
            if row is None:
                raise NotFound(f"no example with id {example.id}")
            self.rewrite(index, {row: example.to_line()})


def _edited(line: bytes, edit: Edit | None) -> bytes | None:
    if isinstance(edit, tuple):
        start, stop, new = edit
        return line[:start] + new + line[stop:]
    return edit


_PIECE = 1 << 20


def _pieces(
    index: ExampleIndex, changed: dict[int, Edit | None], splits: dict[int, str | None]
) -> Iterator[bytes]:
    """The new file in pieces of about 1 MiB (one write each, streamed: never the whole file in memory twice).

    ``splits`` holds canonical rows only, edited here as ``index.split_edit`` would edit them.
    """
    if not index.tiled:  # read line by line (a byte-level oddity): every row on its own
        group: list[bytes] = []
        size = 0
        for row in range(len(index)):
            line: bytes | None = index.raw(row)
            if row in changed:
                line = _edited(index.raw(row), changed[row])
            elif row in splits:
                line = _edited(index.raw(row), index.split_edit(row, splits[row]))
            if line is not None:
                group += (line, b"\n")
                size += len(line) + 1
                if size >= _PIECE:
                    yield b"".join(group)
                    group, size = [], 0
        yield b"".join(group)
        return
    # every line of the file is a row: copy the runs between changes straight from the bytes read
    from .index import SPLIT_FIELDS, split_field_length

    data, starts, ends = index.data, index.starts, index.ends
    split_at, old_splits, fields = index.split_at, index.splits, SPLIT_FIELDS
    view = memoryview(data)
    chunks: list[bytes | memoryview] = []
    at = mark = 0  # copied up to ``at``; ``mark``: where the current piece began
    for row in sorted(changed.keys() | splits.keys()) if changed else sorted(splits):
        start = starts[row]
        if row in splits:  # split_edit, written out
            offset = start + split_at[row]
            chunks += (view[at:offset], fields[splits[row]])
            at = offset + split_field_length(data, offset, old_splits[row])
        else:
            edit = changed[row]
            if isinstance(edit, tuple):
                offset, stop, new = edit
                chunks += (view[at : start + offset], new)
                at = start + stop
            else:
                chunks.append(view[at:start])
                if edit is not None:
                    chunks += (edit, b"\n")
                at = ends[row] + 1
        if at - mark >= _PIECE:
            yield b"".join(chunks)
            chunks, mark = [], at
    chunks.append(view[at:])
    yield b"".join(chunks)


def _row_of(index: ExampleIndex, ident: int) -> int | None:
    try:
        return index.ids.index(ident)
    except ValueError:
        return None


def _file_key(st: os.stat_result) -> list[int]:
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _patch_problem(obj: Any) -> str | None:
    """Why a parsed journal line is not a valid patch, or None."""
    if not isinstance(obj, dict):
        return "not a journal patch (expected a JSON object)"
    ident = obj.get("id")
    if not isinstance(ident, int) or isinstance(ident, bool):
        return "not a journal patch (no integer `id`)"
    set_fields = obj.get("set")
    if set_fields is not None and not isinstance(set_fields, dict):
        return "not a journal patch (`set` must be an object)"
    unset = obj.get("unset")
    if unset is not None and not (isinstance(unset, list) and all(isinstance(k, str) for k in unset)):
        return "not a journal patch (`unset` must be a list of field names)"
    if "id" in (set_fields or {}) or "id" in (unset or ()):
        return "not a journal patch (it may not change `id`)"
    return None


__all__ = ["Store", "ReadResult", "AppendResult", "EXAMPLES", "JOURNAL", "LOCK", "CACHE"]
