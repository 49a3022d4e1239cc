"""The example store: ``data/examples.jsonl``, one reader and one writer.

Reading (:meth:`Store.read`) decodes every line with the typed schema (:mod:`.schema`, msgspec) into a
:class:`Snapshot`: per valid example its id, rating, split and createdAt, its line number and its exact bytes,
with the full record decoded and validated on demand (``full=False``, the light view: the conversation is
skipped, not built) or up front (``full=True``). Anything that does not pass is a ``path:line``
:class:`~aitelier.errors.DataProblem`; nothing is silently dropped. Pending journal patches are applied.

Writing goes through four operations, each under the project lock:

* :meth:`Store.append` adds examples at the end in one write + fsync, without reading the file: the next id
  and the duplicate check come from a derived cache (``data/.cache.json``, keyed by the file's identity, safe
  to delete). The size before the append is recorded in ``data/.append.json`` first and the marker removed
  after the fsync, so an append cut short (SIGKILL, power loss) is proven torn and cut back by the next
  command: an import is all or nothing.
* :meth:`Store.patch` appends a field patch to ``data/.journal.jsonl`` (one fsynced append per key press in
  ``ait rate``, and ``ait edit``); every read applies pending patches; a rewrite folds them in.
* :meth:`Store.rewrite` writes the file anew (temp + fsync + rename) with some examples changed or removed:
  every line it does not change is copied byte for byte; a changed line keeps its keys in their order (a new key
  goes at the end, as JavaScript's JSON.stringify of a changed object does). Before a removal is renamed into
  place the id high-water mark is saved, so a removed id is never handed out again.
* :meth:`Store.compact` is a rewrite that changes nothing but folds the journal.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
import weakref
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import msgspec

from ..errors import DataError, DataProblem, LockTimeout, NotFound
from ..fsutil import atomic_write_bytes, durable_append, now_iso, refuse_symlink
from ..parallel import Buffer, gc_paused, map_file, map_lines, read_at, windows
from .jsonl import BOM, NO_NEWLINE, ORPHAN_PATCH, TORN_TAIL, is_blocking
from .lock import project_lock
from .records import UNSET, Example, dumps, new_record, normalise_messages
from .schema import (
    ANY,
    HEAD,
    LINE,
    ExampleHead,
    Head,
    decode_problem,
    encode,
    head_problem,
    record_problem,
)

EXAMPLES = "examples.jsonl"
JOURNAL = ".journal.jsonl"
LOCK = ".lock"
CACHE = ".cache.json"  # derived facts about examples.jsonl (safe to delete)
APPENDING = ".append.json"  # the size of examples.jsonl before an append in progress


Change = Mapping[str, Any]  # fields to set; a value of UNSET removes the field


KEY_SIZE = 12


def content_key(messages: list[dict[str, Any]]) -> bytes:
    """What makes two examples exact duplicates: the same conversation, every role and content in order (a
    digest of their JSON; other message keys, such as a weight, do not count)."""
    plain = [{"role": m.get("role"), "content": m.get("content")} for m in messages]
    return hashlib.sha256(encode(plain)).digest()[:KEY_SIZE]


class Keys:
    """The content keys of a file's examples and their ids, kept as one byte string so that the derived cache
    loads in no time and `ait add` looks one key up without building a dict of 100,000."""

    def __init__(self, digests: bytes = b"", ids: list[int] | None = None) -> None:
        self.digests = digests
        self.ids = ids or []

    def get(self, key: bytes) -> int | None:
        """The id of the first example with this key."""
        d = self.digests
        at = d.find(key)
        while at != -1 and at % KEY_SIZE:
            at = d.find(key, at + 1)
        return None if at == -1 else self.ids[at // KEY_SIZE]

    def add(self, pairs: Iterable[tuple[bytes, int]]) -> Keys:
        pairs = list(pairs)
        return Keys(self.digests + b"".join(k for k, _ in pairs), self.ids + [i for _, i in pairs])

    def without(self, gone: set[int]) -> Keys:
        d = self.digests
        kept = [
            (d[KEY_SIZE * n : KEY_SIZE * n + KEY_SIZE], i) for n, i in enumerate(self.ids) if i not in gone
        ]
        return Keys().add(kept)

    def as_dict(self) -> dict[bytes, int]:
        d = self.digests
        out: dict[bytes, int] = {}
        for n, ident in enumerate(self.ids):
            out.setdefault(d[KEY_SIZE * n : KEY_SIZE * n + KEY_SIZE], ident)
        return out


class _CacheFacts(msgspec.Struct, omit_defaults=True):
    """``data/.cache.json``: facts about one version of examples.jsonl, under its identity (``file``)."""

    file: list[int]
    maxId: int
    malformed: list[int]
    digests: bytes | None = None  # written as base64
    ids: list[int] | None = None


class _CacheFile(_CacheFacts, omit_defaults=True):
    """The facts and the file's rows as a light read decoded them (each piece's :class:`_Rows` as msgpack,
    base64); the commands that need only the facts decode :class:`_CacheFacts`, which skips the rows."""

    rows: list[bytes] | None = None


class _Rows(msgspec.Struct, array_like=True):
    """The rows of one piece of a clean file as a light read decoded them, so that reading the same file again
    need not decode it: the light views, and where each line starts and ends in the file (native 8-byte
    integers). A worker's piece travels to the parent in this form too."""

    heads: list[Head]
    starts: bytes
    ends: bytes


_FACTS = msgspec.json.Decoder(_CacheFacts)
_CACHE = msgspec.json.Decoder(_CacheFile)
_ROWS = msgspec.msgpack.Decoder(_Rows)
_C = TypeVar("_C", bound=_CacheFacts)


CHANGED = "changed by another program while being read"


def _changed_error(path: Path) -> DataError:
    return DataError([DataProblem(str(path), None, CHANGED)], hint="run the command again")


LINES_READ_ALONE = 256  # lines of a snapshot from the cache read one by one before the whole file is read


class Snapshot:
    """Every valid example of examples.jsonl as read at one moment, in file order (one row each).

    A row is the light view (:class:`~.schema.Head`) even after a full read: that read validates each line against
    the whole schema but does not keep the conversations it checked (150 MB of text for 100,000 examples); a
    row's full record is decoded from its bytes when it is asked for (:meth:`record`)."""

    def __init__(self, path: Path, journal: Path) -> None:
        self.path = path
        self.journal_path = journal
        self.heads: list[Head] = []  # journal applied
        self._data: Buffer | None = (
            b""  # the file's bytes, read or mapped (no byte-order mark); None: not yet
        )
        self._fd = -1  # a descriptor of the file read, while its bytes are read on demand or mapped
        self._verified = 0.0  # when the mapped bytes were last checked unchanged (time.monotonic)
        self._lines_read = 0  # lines read one by one from it
        self._close: Callable[[], Any] = _nothing
        self.starts = array("q")  # where each row's line starts in ``data``
        self.ends = array("q")  # and ends (its newline, or a CR before it, is not part of it)
        self.lines: Sequence[int] = range(1, 1)  # each row's line number
        self.problems: list[DataProblem] = []
        self.changes: dict[int, dict[str, Any]] = {}  # pending journal changes by id
        self.patches = 0  # how many journal patches they fold
        self.records: dict[int, dict[str, Any]] = {}  # row -> full record (journal applied), once decoded
        self.key: list[int] | None = None  # the identity of the file read (see Store cache)
        self.other_ids: list[int] = []  # ids on lines that are JSON objects but not valid examples
        self.content_keys: list[bytes] | None = (
            None  # each row's content_key, when the read was asked for them
        )
        self._rows: dict[int, int] | None = None

    def __len__(self) -> int:
        return len(self.heads)

    # -- columns ------------------------------------------------------------------------------------------------
    @property
    def ids(self) -> list[int]:
        return [h.id for h in self.heads]

    @property
    def ratings(self) -> list[int | None]:
        return [h.rating for h in self.heads]

    @property
    def splits(self) -> list[str | None]:
        return [h.split for h in self.heads]

    @property
    def created(self) -> list[str | None]:
        return [h.createdAt for h in self.heads]

    def check(self) -> Snapshot:
        """Raise DataError listing every problem that must stop a command; the snapshot otherwise."""
        blocking = [p for p in self.problems if is_blocking(p)]
        if blocking:
            raise DataError(blocking)
        return self

    # -- the bytes --------------------------------------------------------------------------------------------
    @property
    def data(self) -> Buffer:
        """The file's bytes as read or mapped (a byte-order mark left out), read now if the rows came from the
        cache."""
        if self._data is None:
            assert self.key is not None
            self._data = self._pread(0, self.key[2])
            self._close()
            self._fd = -1
        return self._data

    def read_later(self, fd: int) -> None:
        """Read the bytes from ``fd`` (a descriptor of the file whose rows these are) when they are needed: a
        few lines one by one (opening `ait rate`, `ait show`), the whole file once more are asked for."""
        self.mapped(fd)
        self._data, self._lines_read = None, 0

    def mapped(self, fd: int) -> None:
        """The bytes are mapped from the file ``fd`` is open on: :meth:`verify` checks it against ``key``."""
        self._fd, self._close = fd, weakref.finalize(self, os.close, fd)

    def verify(self, *, replaced: bool = False) -> None:
        """Raise DataError if the file whose bytes are mapped here was changed in place since it was read, or,
        with ``replaced``, if the path now names another file or a changed one (a writer's last check)."""
        self._verified = time.monotonic()
        if self._changed() or (replaced and self.key and _file_key(os.stat(self.path))[:4] != self.key[:4]):
            raise _changed_error(self.path)

    def _changed(self, *, grown: bool = True) -> bool:
        """Whether the file open here is not as it was read; ``grown``: unless it only grew, as an append (by
        ait or another program) leaves the bytes read as they were, while a change in place (never ait's: it
        replaces files whole) moves the size or the modification time. (Not the change time: replacing the
        file, as every rewrite does, changes the old one's link count and so its ctime.)"""
        key = self.key
        if key is None or self._fd < 0:
            return False
        now = _file_key(os.fstat(self._fd))
        return now[:4] != key[:4] and not (grown and now[:2] == key[:2] and now[2] > key[2])

    def _pread(self, start: int, end: int) -> bytes:
        data = read_at(self._fd, start, end)
        if len(data) != end - start or self._changed():
            raise _changed_error(self.path)
        return data

    # -- one example ----------------------------------------------------------------------------------------
    def raw(self, row: int) -> bytes:
        """The row's line as read, without its ending (from mapped bytes, checked unchanged at most every
        tenth of a second: a snapshot may be kept for a long rating session)."""
        if self._data is None and self._lines_read < LINES_READ_ALONE:
            self._lines_read += 1
            return self._pread(self.starts[row], self.ends[row])
        if self._fd >= 0 and time.monotonic() - self._verified > 0.1:
            self.verify()
        return self.data[self.starts[row] : self.ends[row]]

    def row_of(self, ident: int) -> int | None:
        if self._rows is None:
            self._rows = {h.id: row for row, h in enumerate(self.heads)}
        return self._rows.get(ident)

    def find(self, ident: int) -> int:
        row = self.row_of(ident)
        if row is None:
            raise NotFound(f"no example with id {ident}", hint="`ait list` shows the ids")
        return row

    def record(self, row: int) -> dict[str, Any]:
        """The full record of a row (journal applied), decoded and validated; DataError with path:line if not."""
        rec = self.records.get(row)
        if rec is None:
            raw, n = self.raw(row), self.lines[row]
            obj: Any = None
            try:
                obj = ANY.decode(raw)
                err = record_problem(obj)
            except msgspec.DecodeError as e:
                err = decode_problem(raw, e)
            if err is None and obj["id"] != self.heads[row].id:
                err = f"id {obj['id']} where the read found {self.heads[row].id}"
            if err:
                if self._changed(grown=False):
                    err = CHANGED  # it grew, but not by an append: the bytes read moved under the mapping
                raise DataError([DataProblem(str(self.path), n, err)])
            change = self.changes.get(obj["id"])
            rec = self.records[row] = _changed(obj, change) if change else obj
        return rec

    def example(self, row: int) -> Example:
        rec = self.record(row)
        changed = self.heads[row].id in self.changes
        return Example(rec, None if changed else self.raw(row), self.lines[row])

    def get(self, ident: int) -> Example:
        return self.example(self.find(ident))

    def examples(self) -> Iterator[Example]:
        """Every example in file order, each decoded and validated in full as it comes."""
        for row in range(len(self.heads)):
            yield self.example(row)

    __iter__ = examples


@dataclass
class AppendResult:
    ids: list[int]
    duplicates: list[tuple[int, int]]  # (new id, existing id) pairs that are exact duplicates
    malformed: list[int] = field(default_factory=list)  # lines of examples.jsonl that are not valid examples


@dataclass
class _Facts:
    """What the cache remembers about one version of examples.jsonl."""

    max_id: int
    malformed: list[int]  # line numbers (the first few) of lines that are not valid examples
    keys: Keys | None  # content key -> id (None: not known)


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
        self.marker_path = self.data_dir / APPENDING
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
    def read(self, *, full: bool = False, strict: bool = True) -> Snapshot:
        """Every example, decoded and validated by the schema; journal patches applied.

        ``full`` validates every line against the whole schema (the conversation included); otherwise only the
        light view is decoded and validated. Either way a row's full record is decoded when it is asked for.
        ``strict`` raises DataError listing every blocking problem; otherwise the problems are in
        ``snapshot.problems``.
        """
        return self._read(full, strict, keyed=False)

    def _read(self, full: bool, strict: bool, *, keyed: bool) -> Snapshot:
        """:meth:`read`; ``keyed`` (with ``full``) also takes each row's content key while its conversation is
        at hand (``snap.content_keys``)."""
        self._recover(wait=False)
        snap = Snapshot(self.path, self.journal_path)
        self._read_journal(snap)  # before the file: a fold in between then only applies patches twice
        rows: list[bytes] | None = None  # the rows decoded here, for the cache
        with gc_paused():  # 100,000 rows: nothing built here forms a cycle
            if full and keyed:
                snap.content_keys = []
            cached, source = self._open(snap, full)
            if source is not None:
                problems = len(snap.problems)  # the journal's
                try:
                    packed = _decode(snap, *source, full)
                finally:
                    os.close(source[0])
                if not full and snap.key is not None and len(snap.problems) == problems:
                    rows = packed
            _apply_journal(snap)
        if snap.key is not None and (cached is None or rows is not None):  # new facts, or rows it lacked
            self._remember_read(snap, cached, rows)
        return snap.check() if strict else snap

    def _open(self, snap: Snapshot, full: bool) -> tuple[_CacheFacts | None, tuple[int, int] | None]:
        """The derived cache's entry for the file as it is (None if it has none), and what is left to read: a
        descriptor of the file and how many of its bytes, up to the size recorded before an append that is
        still in progress (or torn). A light read of a file whose rows the cache holds takes them from there
        and leaves nothing to read now: the snapshot reads the bytes if it needs them."""
        try:
            with open(self.path, "rb") as f:
                st = os.fstat(f.fileno())
                limit = self._append_limit(st)
                if limit is not None:
                    return None, (os.dup(f.fileno()), limit)
                key = _file_key(st)
                cached: _CacheFacts | None = None
                if full:  # the rows kept are a light read's: a full read only needs the facts
                    cached = self._cache_entry(key, _FACTS) if st.st_size else None
                else:
                    entry = cached = self._cache_entry(key, _CACHE) if st.st_size else None
                    if entry is not None and _rows_from_cache(snap, st.st_size, entry):
                        snap.key = key
                        snap.read_later(os.dup(f.fileno()))
                        return entry, None
                snap.key = key
                return cached, (os.dup(f.fileno()), st.st_size)
        except FileNotFoundError:
            return None, None

    def _read_journal(self, snap: Snapshot) -> None:
        try:
            data = self.journal_path.read_bytes()
        except FileNotFoundError:  # none, or folded and removed meanwhile
            return
        where = str(self.journal_path)
        lines = data.split(b"\n")
        # b"" when the file ends in a newline; otherwise a write that never completed (power loss). That patch
        # was never acknowledged, so it is not applied; the next patch() cuts it off, `ait doctor` reports it.
        if lines.pop():
            snap.problems.append(DataProblem(where, len(lines) + 1, TORN_TAIL, fixable=True))
        for n, raw in enumerate(lines, 1):
            try:
                obj = ANY.decode(raw)
            except msgspec.DecodeError as e:
                snap.problems.append(DataProblem(where, n, decode_problem(raw, e)))
                continue
            err = _patch_problem(obj)
            if err:
                snap.problems.append(DataProblem(where, n, err))
                continue
            change = snap.changes.setdefault(obj["id"], {})
            change.update(obj.get("set") or {})
            for k in obj.get("unset") or ():
                change[k] = UNSET
            snap.patches += 1

    # -- the journal ----------------------------------------------------------------------------------------
    def patch(self, ident: int, set_fields: Mapping[str, Any], unset: Iterable[str] = ()) -> None:
        """Durably record a change to one example (the rating hot path): lock, append, fsync, unlock."""
        record: dict[str, Any] = {"id": ident, "set": dict(set_fields)}
        unset = list(unset)
        if unset:
            record["unset"] = unset
        err = _patch_problem(record)
        if err is None:
            err = record_problem(
                _changed(_PROBE, {k: v for k, v in record["set"].items() if k != "messages"})
            )
            if "messages" in record["set"]:
                err = err or record_problem({**_PROBE, "messages": record["set"]["messages"]})
        if err:
            raise DataError([DataProblem(str(self.journal_path), None, f"refusing a change: {err}")])
        line = dumps(record).encode("utf-8") + b"\n"
        with self.locked():
            self.drop_torn_journal_tail()
            durable_append(self.journal_path, line)

    def drop_torn_journal_tail(self) -> bool:
        """Drop an incomplete last journal line (a patch that was never acknowledged); call it holding the lock."""
        try:
            f = open(self.journal_path, "r+b")  # noqa: SIM115 - closed by the with below
        except FileNotFoundError:
            return False
        with f:
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
        try:
            return self.journal_path.stat().st_size > 0
        except FileNotFoundError:
            return False

    # -- appending ------------------------------------------------------------------------------------------
    def append(self, conversations: list[dict[str, Any]], *, check_duplicates: bool = True) -> AppendResult:
        """Append new examples in one durable write. Each item: ``messages``, optional ``rating`` and extras.

        Ids are assigned under the lock, so concurrent appends never collide. An exact duplicate of an earlier
        item, or (unless ``check_duplicates`` is False) of an existing example, is added and reported.
        """
        created = now_iso()
        with self.locked():
            self._recover(wait=True)
            facts, size, ends_well = self._facts(need_keys=check_duplicates)
            next_id = max(facts.max_id + 1, self._next_id_floor())
            existing = facts.keys or Keys()
            ids: list[int] = []
            dups: list[tuple[int, int]] = []
            seen: dict[bytes, int] = {}
            chunks: list[bytes] = []
            for conv in conversations:
                messages = normalise_messages(conv["messages"])
                key = content_key(messages)
                dup = seen.get(key)
                if dup is None and check_duplicates:
                    dup = existing.get(key)
                if dup is not None:
                    dups.append((next_id, dup))
                extra = {k: v for k, v in conv.items() if k not in ("messages", "rating")}
                rec = new_record(
                    next_id, messages, rating=conv.get("rating"), created_at=created, extra=extra
                )
                err = record_problem(rec)
                if err:
                    raise DataError([DataProblem(f"example {next_id}", None, err)])
                chunks.append(dumps(rec).encode("utf-8") + b"\n")
                seen.setdefault(key, next_id)
                ids.append(next_id)
                next_id += 1
            if chunks:
                payload = b"".join(chunks)
                if not ends_well:
                    payload = b"\n" + payload  # the last line is complete but has no newline
                self._append_durably(payload, size)
                keys = None
                if facts.keys is not None:
                    keys = facts.keys.add(seen.items())
                self._remember(_Facts(max(facts.max_id, ids[-1]), facts.malformed, keys))
            return AppendResult(ids, dups, facts.malformed)

    def _append_durably(self, payload: bytes, size: int) -> None:
        """Record the size before the append (fsynced), append and fsync, then drop the record."""
        st = os.stat(self.path) if size else None
        marker = {"size": size, "ino": st.st_ino if st else None, "dev": st.st_dev if st else None}
        refuse_symlink(self.marker_path)
        atomic_write_bytes(self.marker_path, dumps(marker).encode("utf-8"))
        durable_append(self.path, payload, follow_symlinks=True)  # write through a linked file
        self.marker_path.unlink()

    def _append_limit(self, st: os.stat_result) -> int | None:
        """The committed size of examples.jsonl while an append marker names this file; None without one."""
        try:
            marker = ANY.decode(self.marker_path.read_bytes())
            size = marker["size"]
            if not isinstance(size, int) or size < 0:
                return None
            if marker.get("ino") is not None and (marker["ino"], marker["dev"]) != (st.st_ino, st.st_dev):
                return None  # the file was replaced since: the marker is stale
            return min(size, st.st_size)
        except (FileNotFoundError, msgspec.DecodeError, TypeError, KeyError):
            return None

    def _recover(self, *, wait: bool) -> bool:
        """Cut back an append that was interrupted (its marker is still there). Returns whether it cut.

        Writers call it holding the lock (``wait``); a reader tries the lock without waiting and leaves the
        repair to the next command if another one holds it (meanwhile every read stops at the committed size).
        """
        if not self.marker_path.exists():
            return False
        if not wait:
            try:
                with self.locked(timeout=0):
                    return self._recover(wait=True)
            except LockTimeout:  # busy (an append may be running): every read stops at the committed size
                return False
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            st = None
        limit = self._append_limit(st) if st is not None else None
        cut = False
        if st is not None and limit is not None and limit < st.st_size:
            with open(self.path, "r+b") as f:
                f.truncate(limit)
                f.flush()
                os.fsync(f.fileno())
            cut = True
        with contextlib.suppress(FileNotFoundError):
            self.marker_path.unlink()
        return cut

    # -- rewriting ------------------------------------------------------------------------------------------
    def rewrite(self, plan: Callable[[Snapshot], Mapping[int, Change | None]]) -> Snapshot:
        """Write examples.jsonl anew with the changes ``plan`` returns ({row: fields to set, or None to remove});
        all under the lock, on data read under it. Pending journal patches are folded in. Returns the
        snapshot the plan saw. Nothing is written when there is nothing to change."""
        with self.locked():
            self._recover(wait=True)
            snap = self.read(full=True)  # every line checked, though only the changed ones are decoded
            edits = plan(snap)
            if not edits and not snap.changes:
                return snap
            self._write(snap, edits)
            return snap

    def _write(self, snap: Snapshot, edits: Mapping[int, Change | None]) -> None:
        """Write the file as read with the edited rows spliced in: everything else is copied from the bytes read,
        in slices between the edits (a run of unchanged lines is one slice, whatever its length)."""
        heads, starts, ends, data = snap.heads, snap.starts, snap.ends, snap.data
        removed = [row for row, e in edits.items() if e is None]
        if removed:  # saved before the rename: no window in which a removed id could be handed out again
            self._raise_next_id_floor(max(snap.ids) + 1)
        changes = snap.changes
        journal_rows = {row for ident in changes if (row := snap.row_of(ident)) is not None}
        n = len(heads)
        view = memoryview(data)
        # the new file: slices of the bytes read, and what replaces the rest; data[kept:] is still to be copied
        # (or skipped), and a row starts there
        out: list[bytes | memoryview] = []
        add = out.append
        kept = starts[0] if n else len(data)
        # a line between two rows that is not a row is dropped (and a CR before a newline): rows whose line does not
        # start right after the previous row's newline (none in a file written by ait or the npm tool)
        lengths = sum(map(int.__sub__, ends, starts)) + n - 1
        breaks = (
            {r for r in range(1, n) if starts[r] != ends[r - 1] + 1}
            if n and lengths != ends[-1] - kept
            else ()
        )
        # A split for a line with no "split" key (as the decoder saw it, escapes and all) that ends in its closing
        # brace goes at the end of the object's bytes, the rest of the line copied: the first `ait split` changes
        # every example this way. By id of each distinct edit: the bytes that add its one key (None: another kind).
        inserts: dict[int, bytes | None] = {}
        get, unset = edits.get, msgspec.UNSET
        odd = journal_rows.union(breaks)
        for row in sorted({*edits, *odd}) if odd else sorted(edits):
            if row in breaks and get(row - 1, _KEEP) is not None:  # else the removal spans it
                add(view[kept : ends[row - 1]])
                add(b"\n")
                kept = starts[row]
            edit = get(row, _KEEP)
            key = inserts.get(id(edit), b"")
            if key == b"":
                key = inserts[id(edit)] = _insert_key(edit)
            if key is not None and heads[row].stored_split is unset and row not in journal_rows:
                end = ends[row] - 1
                if data[end] == 0x7D:
                    add(view[kept:end])
                    add(key)
                    kept = end
                    continue
            if edit is _KEEP and row not in journal_rows:
                continue
            if edit is None:
                add(view[kept : starts[row]])
                kept = starts[row + 1] if row + 1 < n else len(data)
            else:
                add(view[kept : starts[row]])
                add(encode(snap.record(row) if edit is _KEEP else _changed(snap.record(row), edit)))
                kept = ends[row]
        if n and get(n - 1, _KEEP) is not None and data[ends[-1] :] != b"\n":
            add(view[kept : ends[-1]])  # a newline at the end, and nothing after it
            add(b"\n")
        elif n:
            add(view[kept:])
        # the bytes copied are the ones read (mapped bytes follow the file), and the file is still the one read
        atomic_write_bytes(self.path, out, before_rename=lambda: snap.verify(replaced=True))
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.journal_path)
        cached = self._cached(snap.key) if snap.key is not None else None
        keys = cached.keys if cached is not None else None
        if keys is not None and _touches_messages([*changes.values(), *edits.values()]):
            keys = None  # a conversation changed: the duplicate keys are rebuilt by the next full read
        if removed:
            gone = {heads[row].id for row in removed}
            keys = keys.without(gone) if keys is not None else None
            max_id = max((h.id for h in heads if h.id not in gone), default=0)
        else:
            max_id = max(snap.ids, default=0)
        self._remember(_Facts(max_id, [], keys))

    def compact(self) -> int:
        """Fold pending journal patches into examples.jsonl. Returns how many were folded."""
        if not self.has_pending_journal():
            return 0
        return self.rewrite(lambda snap: {}).patches

    def remove(self, ident: int) -> Example:
        """Delete one example; its id is never handed out again."""
        found: list[Example] = []

        def drop(snap: Snapshot) -> dict[int, None]:
            row = snap.find(ident)
            found.append(snap.example(row))
            return {row: None}

        self.rewrite(drop)
        return found[0]

    def max_id(self) -> int:
        """The largest id in examples.jsonl (valid lines, and JSON objects that hold an integer id), from the
        derived cache when it describes the file as it is, otherwise from a light read."""
        return self._facts(need_keys=False)[0].max_id

    def known_conversations(self) -> dict[bytes, int]:
        """The :func:`content_key` of every example's conversation -> its id (the first one's, for duplicates).

        From the derived cache when it describes the file as it is; otherwise from a full read (strict: a
        malformed examples.jsonl raises DataError)."""
        try:
            key = _file_key(os.stat(self.path))
        except FileNotFoundError:
            return {}
        facts = self._cached(key)
        if facts is None or facts.keys is None:
            facts = _facts_of(self._read(True, True, keyed=True), True)
        return facts.keys.as_dict() if facts.keys is not None else {}

    # -- the derived cache (next id, malformed lines, duplicate keys) -----------------------------------------
    def _facts(self, *, need_keys: bool) -> tuple[_Facts, int, bool]:
        """The facts about the file as it is now (from the cache, else read), its size, and whether it ends
        in a newline (or is empty). Raises DataError when the last line is torn: nothing is appended after it."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return _Facts(0, [], Keys()), 0, True
        if st.st_size == 0:
            return _Facts(0, [], Keys()), 0, True
        facts = self._cached(_file_key(st))
        if facts is None or (need_keys and facts.keys is None):
            snap = self._read(need_keys, False, keyed=need_keys)
            facts = _facts_of(snap, need_keys)
            self._remember(facts)
        with open(self.path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            ends_well = f.read(1) == b"\n"
            if not ends_well:
                tail = f.seek(0, os.SEEK_END)
                f.seek(max(0, tail - (1 << 20)))
                last = f.read().rsplit(b"\n", 1)[-1]
                try:
                    HEAD.decode(last)
                except (msgspec.DecodeError, msgspec.ValidationError) as e:
                    raise DataError(
                        [
                            DataProblem(
                                str(self.path), None, f"the last line is incomplete ({e}); nothing was added"
                            )
                        ],
                        hint="`ait doctor` shows it; `ait doctor --fix` can move it aside",
                    ) from None
        return facts, st.st_size, ends_well

    def _cache_entry(self, key: list[int] | None, decoder: msgspec.json.Decoder[_C]) -> _C | None:
        """The derived cache when it describes the file with this identity (None: missing, stale or broken);
        decoded by ``decoder`` (``_FACTS`` leaves out the rows)."""
        try:
            cache = decoder.decode(self.cache_path.read_bytes())
        except (OSError, msgspec.DecodeError):
            return None
        return cache if cache.file == key else None

    def _cached(self, key: list[int]) -> _Facts | None:
        cache = self._cache_entry(key, _FACTS)
        if cache is None:
            return None
        keys = None
        if cache.digests is not None and cache.ids is not None:
            if len(cache.digests) != KEY_SIZE * len(cache.ids):
                return None
            keys = Keys(cache.digests, cache.ids)
        return _Facts(cache.maxId, cache.malformed, keys)

    def _remember_read(self, snap: Snapshot, cached: _CacheFacts | None, rows: list[bytes] | None) -> None:
        """After a whole read: remember its facts (and the rows it decoded), keeping what the cache already
        knew about the same file."""
        assert snap.key is not None
        facts = _facts_of(snap, False)
        if cached is not None:
            facts.keys = Keys(cached.digests, cached.ids) if cached.digests and cached.ids else None
        self._remember(facts, snap.key, rows)

    def _remember(self, facts: _Facts, key: list[int] | None = None, rows: list[bytes] | None = None) -> None:
        """Best effort: a cache that cannot be written only costs the next command a read."""
        if key is None:
            try:
                key = _file_key(os.stat(self.path))
            except FileNotFoundError:
                return
        keys = facts.keys
        entry = _CacheFile(
            key,
            facts.max_id,
            facts.malformed[:20],
            keys.digests if keys else None,
            keys.ids if keys else None,
            rows,
        )
        tmp = self.cache_path.with_name(f"{self.cache_path.name}.{os.getpid()}.tmp")
        try:  # O_NOFOLLOW: a link left at that name (a cloned project) is not written through
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o666)
            with os.fdopen(fd, "wb") as f:
                f.write(msgspec.json.encode(entry))
            os.replace(tmp, self.cache_path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()


# -- decoding -----------------------------------------------------------------------------------------------------
def _decode(snap: Snapshot, fd: int, size: int, full: bool) -> list[bytes] | None:
    """Map the file's first ``size`` bytes and decode them into the snapshot's rows; every line that does not
    pass is a problem. The common case runs at C speed: a large file is decoded in pieces of whole lines, one
    per core, in forked processes (:func:`~aitelier.parallel.map_lines`); a piece with odd bytes or a line
    that does not pass, or a duplicate id, sends the whole file to the careful loop. Returns each piece's rows
    packed for the read cache (by the process that decoded it) after a light read that took the pieces.

    A file with an append still in progress (no identity in ``snap.key``) is read into memory instead: its size
    moves, so a change in place could not be told from the append."""
    where = str(snap.path)
    keyed = snap.content_keys is not None

    def work(data: Buffer, start: int, end: int) -> _Piece | None:
        piece = _decode_piece(data, start, end, full, keyed)
        if piece is not None and not full:
            piece.pack()  # here, while the other processes still decode theirs
        return piece

    data = map_file(fd, size) if snap.key is not None else read_at(fd, 0, size)
    if not isinstance(data, bytes):
        snap.mapped(os.dup(fd))
    pieces = map_lines(data, PARALLEL_MIN_KB, work)
    snap.verify()  # the mapped bytes did not change while they were decoded
    if data[: len(BOM)] == BOM:
        snap.problems.append(DataProblem(where, 1, "file starts with a UTF-8 byte-order mark", fixable=True))
        data = data[len(BOM) :]  # a copy: the careful loop counts offsets from after the mark
        pieces = [None]
    snap._data = data
    taken = _take_pieces(snap, pieces)
    if not taken:
        _decode_lines(snap, data, *_line_bounds(data, 0, len(data)), full)
    if data and data[-1:] != b"\n":
        snap.problems.append(DataProblem(where, data[:].count(b"\n") + 1, NO_NEWLINE, fixable=True))
    return [piece.pack() for piece in cast("list[_Piece]", pieces)] if taken and not full else None


def _rows_from_cache(snap: Snapshot, size: int, cached: _CacheFile) -> bool:
    """Fill the snapshot from the rows the cache kept for this very file (same device, inode, size and times
    to the nanosecond); False: decode the file."""
    if cached.rows is None:
        return False
    try:
        pieces = [_Piece.unpack(packed) for packed in cached.rows]
    except (msgspec.DecodeError, ValueError):  # ValueError: not a whole number of integers
        return False
    starts, ends = array("q"), array("q")
    for piece in pieces:  # whole, in order, and within the file
        n, last = len(piece.heads), ends[-1] if ends else -1
        if not len(piece.starts) == len(piece.ends) == n or (n and piece.starts[0] <= last):
            return False
        starts += piece.starts
        ends += piece.ends
    if ends and ends[-1] >= size:
        return False
    heads = [h for piece in pieces for h in piece.heads]
    snap.heads, snap.starts, snap.ends, snap.lines = heads, starts, ends, range(1, len(heads) + 1)
    return True


def _line_bounds(data: Buffer, pos: int, size: int) -> tuple[list[int], list[int]]:
    """Where each line of ``data[pos:size]`` starts and ends (its newline excluded); a last line without a
    newline counts."""
    starts: list[int] = []
    ends: list[int] = []
    for chunk, at in windows(data, pos, size):
        a, b = _bounds(chunk)
        starts += [x + at for x in a] if at else a
        ends += [x + at for x in b] if at else b
    return starts, ends


def _bounds(chunk: bytes) -> tuple[list[int], list[int]]:
    starts: list[int] = []
    ends: list[int] = []
    find, add_start, add_end = chunk.find, starts.append, ends.append
    pos, size = 0, len(chunk)
    while pos < size:
        end = find(b"\n", pos)
        if end < 0:
            end = size
        add_start(pos)
        add_end(end)
        pos = end + 1
    return starts, ends


PARALLEL_MIN_KB = 16 << 10  # below this many kilobytes (16 MB, ~10,000 examples) a file is decoded here


def _take_pieces(snap: Snapshot, pieces: list[_Piece | None]) -> bool:
    """Put the rows of every piece into the snapshot, in order; False (nothing taken) if a piece did not pass
    or an id is on two lines: the careful loop words every problem."""
    if None in pieces:
        return False
    done = cast("list[_Piece]", pieces)
    heads = [h for piece in done for h in piece.heads]
    ids = [h.id for h in heads]
    if len(set(ids)) != len(ids):
        return False
    for piece in done:
        snap.starts += piece.starts
        snap.ends += piece.ends
        if snap.content_keys is not None:
            snap.content_keys += piece.keys
    snap.heads = heads
    snap.lines = range(1, len(heads) + 1)
    return True


class _Piece:
    """The rows decoded from one piece of the file. Sent back from a worker process packed (:class:`_Rows` as
    msgpack: a few ms for 50,000 rows, against a quarter of a second to pickle them), which is also how the
    read cache keeps them."""

    def __init__(self, heads: list[Any], starts: array[int], ends: array[int], keys: list[bytes]) -> None:
        self.heads, self.starts, self.ends, self.keys = heads, starts, ends, keys
        self.packed: bytes | None = None

    def pack(self) -> bytes:
        if self.packed is None:
            self.packed = _PACK(_Rows(self.heads, self.starts.tobytes(), self.ends.tobytes()))
        return self.packed

    def __reduce__(self) -> tuple[Any, ...]:
        return _Piece.unpack, (self.pack(), self.keys)

    @staticmethod
    def unpack(packed: bytes, keys: list[bytes] | None = None) -> _Piece:
        """The piece :meth:`pack` made (ValueError: its bounds are not whole 8-byte integers; DecodeError)."""
        rows = _ROWS.decode(packed)
        starts, ends = array("q"), array("q")
        starts.frombytes(rows.starts)
        ends.frombytes(rows.ends)
        piece = _Piece(rows.heads, starts, ends, keys or [])
        piece.packed = packed
        return piece


_PACK = msgspec.msgpack.Encoder().encode


def _decode_piece(data: Buffer, start: int, end: int, full: bool, keyed: bool) -> _Piece | None:
    """Every line of ``data[start:end]`` decoded, validated against the whole schema when ``full``; None if a
    line does not pass or the piece holds a CR, or (for the light view, which skips strings) bytes that are not
    UTF-8. A line of a full read keeps its light view only: its conversation is let go as soon as it is checked
    (and its content key taken, when ``keyed``), so the text is never all in memory at once."""
    heads: list[Any] = []
    keys: list[bytes] = []
    starts, ends = array("q"), array("q")
    add, add_key = heads.append, keys.append
    sha = hashlib.sha256
    try:
        for chunk, at in windows(data, start, end):
            if chunk.find(b"\r") >= 0 or not (full or chunk.isascii() or _utf8(chunk)):
                return None
            a, b = _bounds(chunk)
            view = memoryview(chunk)
            if not full:
                decode = HEAD.decode
                heads += [decode(view[x:y]) for x, y in zip(a, b, strict=True)]
            else:
                decode = LINE.decode
                for x, y in zip(a, b, strict=True):  # a blank line fails too
                    row = decode(view[x:y])
                    if keyed:
                        add_key(sha(encode(row.messages)).digest()[:KEY_SIZE])
                    row.messages = _RELEASED
                    add(row)
            starts.fromlist([x + at for x in a])
            ends.fromlist([y + at for y in b])
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return _Piece(heads, starts, ends, keys)


def _decode_lines(snap: Snapshot, data: Buffer, starts: list[int], ends: list[int], full: bool) -> None:
    """The careful loop: one line at a time, each problem worded with its line number."""
    where = str(snap.path)
    problems = snap.problems
    seen: dict[int, int] = {}
    lines: list[int] = []
    snap.lines = lines
    for n, (start, end) in enumerate(zip(starts, ends, strict=True), 1):
        if end > start and data[end - 1] == 13:  # CR
            problems.append(DataProblem(where, n, "CRLF line ending", fixable=True))
            end -= 1
        raw = data[start:end]
        if not raw.strip():
            problems.append(DataProblem(where, n, "blank line", fixable=True))
            continue
        try:
            obj = ANY.decode(raw)
        except msgspec.DecodeError as e:
            problems.append(DataProblem(where, n, decode_problem(raw, e)))
            continue
        err = record_problem(obj) if full else head_problem(obj)
        if err is None:
            head = msgspec.convert(obj, ExampleHead)  # what is kept of a line checked in full too
        if err is not None:
            problems.append(DataProblem(where, n, err))
            ident = obj.get("id") if isinstance(obj, dict) else None
            if type(ident) is int:
                snap.other_ids.append(ident)  # never hand out an id a malformed line may hold
            continue
        first = seen.setdefault(head.id, n)
        if first != n:
            problems.append(DataProblem(where, n, f"duplicate id {head.id} (first on line {first})"))
            continue
        snap.heads.append(head)
        if snap.content_keys is not None:
            snap.content_keys.append(content_key(obj["messages"]))
        snap.starts.append(start)
        snap.ends.append(end)
        lines.append(n)


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _apply_journal(snap: Snapshot) -> None:
    """Apply pending changes to the rows they name (validating the result); report changes for missing ids."""
    if not snap.changes:
        return
    where = str(snap.journal_path)
    drop: list[int] = []
    for ident, change in snap.changes.items():
        row = snap.row_of(ident)
        if row is None:
            snap.problems.append(
                DataProblem(where, None, f"example {ident} {ORPHAN_PATCH}", example_id=ident)
            )
            continue
        try:
            base = snap.records.get(row)
            if base is None:
                base = snap.record(row)  # decodes and applies the change
            else:
                base = snap.records[row] = _changed(base, change)
        except DataError as e:
            snap.problems.extend(e.problems)
            drop.append(row)
            continue
        err = record_problem(base)
        if err:
            snap.problems.append(
                DataProblem(
                    where, None, f"a pending change makes example {ident} invalid: {err}", example_id=ident
                )
            )
            drop.append(row)
            continue
        snap.heads[row] = msgspec.convert(base, ExampleHead)
        if snap.content_keys is not None:
            snap.content_keys[row] = content_key(base["messages"])
    if drop:
        gone = set(drop)
        keep = [row for row in range(len(snap.heads)) if row not in gone]
        records = snap.records
        snap.records = {new: records[old] for new, old in enumerate(keep) if old in records}
        snap.heads = [snap.heads[r] for r in keep]
        snap.starts = array("q", [snap.starts[r] for r in keep])
        snap.ends = array("q", [snap.ends[r] for r in keep])
        snap.lines = [snap.lines[r] for r in keep]
        if snap.content_keys is not None:
            snap.content_keys = [snap.content_keys[r] for r in keep]
        snap._rows = None


def _facts_of(snap: Snapshot, with_keys: bool) -> _Facts:
    malformed = sorted(
        {p.line for p in snap.problems if p.path == str(snap.path) and p.line and is_blocking(p)}
    )
    keys: Keys | None = None
    if with_keys:
        assert snap.content_keys is not None, "a keyed full read"
        keys = Keys().add(zip(snap.content_keys, snap.ids, strict=True))
    return _Facts(max([*snap.ids, *snap.other_ids], default=0), malformed, keys)


# -- small pieces -------------------------------------------------------------------------------------------------
class _Keep:
    pass


def _nothing() -> None:
    pass


_KEEP: Any = _Keep()
_PROBE = {"id": 1, "messages": [{"role": "user", "content": "-"}]}
_RELEASED: Any = ()  # what a row of a full read holds in place of the conversation it checked


def _changed(record: dict[str, Any], change: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``record`` with ``change`` applied: set keys keep their place, new keys go at the end."""
    out = dict(record)
    for k, v in change.items():
        if v is UNSET:
            out.pop(k, None)
        else:
            out[k] = v
    return out


def _insert_key(edit: Change | None) -> bytes | None:
    """The bytes that add an edit's one key, a split, at the end of a line's object (None: not such an edit)."""
    if edit is None or edit is _KEEP or edit.keys() != {"split"} or edit["split"] is UNSET:
        return None
    return b"," + encode(edit)[1:-1]


def _touches_messages(changes: Iterable[Change | None]) -> bool:
    """Whether any of these changes sets or removes a conversation (each distinct change object looked at once)."""
    distinct = {id(c): c for c in changes if c is not None}
    return any("messages" in c for c in distinct.values())


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


__all__ = [
    "APPENDING",
    "CACHE",
    "EXAMPLES",
    "JOURNAL",
    "LOCK",
    "NO_NEWLINE",
    "TORN_TAIL",
    "AppendResult",
    "Snapshot",
    "Store",
    "content_key",
    "is_blocking",
]
