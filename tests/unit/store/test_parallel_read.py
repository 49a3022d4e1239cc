"""A large examples.jsonl is decoded in pieces by forked processes; the snapshot must not depend on it.

``PARALLEL_MIN_KB`` is lowered so that a small file is cut into pieces too; ``AITELIER_NO_FORK=1`` reads the
same file in one process. Each test also checks literal expectations, not only that the two reads agree.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from aitelier.errors import DataError
from aitelier.store import Store
from aitelier.store import store as store_module
from helpers import dumps, line, record, snapshot_facts, store_of


@pytest.fixture
def in_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "PARALLEL_MIN_KB", 1)
    monkeypatch.delenv("AITELIER_NO_FORK", raising=False)


def _both(store: Store, monkeypatch: pytest.MonkeyPatch, *, full: bool) -> tuple[object, ...]:
    pieces = snapshot_facts(store, full=full)
    monkeypatch.setenv("AITELIER_NO_FORK", "1")
    one = snapshot_facts(store, full=full)
    monkeypatch.delenv("AITELIER_NO_FORK")
    assert pieces == one
    return pieces


@pytest.mark.parametrize("full", [False, True])
def test_a_file_read_in_pieces_gives_every_row_in_order(
    tmp_path: Path, in_pieces: None, monkeypatch: pytest.MonkeyPatch, full: bool
) -> None:
    n = 400  # ~60 KB: several pieces
    lines = [line(i, rating=i % 10 + 1, split=("val" if i % 5 == 0 else "train")) for i in range(1, n + 1)]
    store = store_of(tmp_path, lines)
    ids, ratings, splits, _created, numbers, raws, problems = _both(store, monkeypatch, full=full)
    assert ids == list(range(1, n + 1))
    assert ratings == [i % 10 + 1 for i in range(1, n + 1)]
    assert splits == ["val" if i % 5 == 0 else "train" for i in range(1, n + 1)]
    assert numbers == list(range(1, n + 1))
    assert raws == lines
    assert problems == []


@pytest.mark.parametrize("full", [False, True])
def test_a_bad_line_late_in_the_file_is_reported_with_its_line_number(
    tmp_path: Path, in_pieces: None, monkeypatch: pytest.MonkeyPatch, full: bool
) -> None:
    lines = [line(i, rating=8) for i in range(1, 401)]
    lines[389] = dumps(record(390, rating=11))  # in the last piece
    store = store_of(tmp_path, lines)
    ids, *_rest, problems = _both(store, monkeypatch, full=full)
    assert problems == [(390, "`rating`: expected int <= 10, got 11")]
    assert 390 not in ids and len(ids) == 399  # type: ignore[operator, arg-type]
    with pytest.raises(DataError):
        store.read(full=full)


def test_a_conversation_error_stops_only_a_full_read(
    tmp_path: Path, in_pieces: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [line(i, rating=8) for i in range(1, 401)]
    lines[-1] = dumps(record(400, rating=8, messages=[{"role": "robot", "content": "x"}]))
    store = store_of(tmp_path, lines)
    assert _both(store, monkeypatch, full=False)[-1] == []
    (problem,) = _both(store, monkeypatch, full=True)[-1]  # type: ignore[misc]
    assert problem[0] == 400 and "robot" in problem[1]


def test_the_same_id_in_two_pieces_is_a_duplicate(
    tmp_path: Path, in_pieces: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [line(i, rating=8) for i in range(1, 401)]
    lines[399] = line(3, rating=8, messages=[{"role": "user", "content": "other"}])
    store = store_of(tmp_path, lines)
    problems = _both(store, monkeypatch, full=True)[-1]
    assert problems == [(400, "duplicate id 3 (first on line 3)")]


def test_duplicate_keys_found_in_pieces(tmp_path: Path, in_pieces: None) -> None:
    lines = [line(i, rating=8) for i in range(1, 401)]
    lines[399] = dumps(record(400, rating=8, messages=record(2)["messages"]))
    store = store_of(tmp_path, lines)
    known = store.known_conversations()
    assert len(known) == 399 and sorted(known.values())[:3] == [1, 2, 3]


@pytest.mark.parametrize("full", [False, True])
def test_odd_bytes_in_a_later_piece_send_the_file_to_the_careful_loop(
    tmp_path: Path, in_pieces: None, monkeypatch: pytest.MonkeyPatch, full: bool
) -> None:
    lines = [line(i, rating=8) for i in range(1, 401)]
    lines[398] = line(399, rating=8, messages=[{"role": "user", "content": "café ☕"}])  # not ASCII
    lines[399] = line(400, rating=8) + b"\r"  # a CRLF ending, last piece
    store = store_of(tmp_path, lines)
    ids, _r, _s, _c, _n, raws, problems = _both(store, monkeypatch, full=full)
    assert problems == [(400, "CRLF line ending")]
    assert ids == list(range(1, 401))
    assert raws[398] == lines[398]  # type: ignore[index]


def test_a_file_written_in_place_while_read_is_decoded_from_the_bytes_read_here(
    tmp_path: Path, in_pieces: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aitelier import parallel

    lines = [line(i, rating=8) for i in range(1, 401)]
    lines[0] = line(1, rating=8, tags=["a-tag"])
    store = store_of(tmp_path, lines)
    real_read = parallel.read_at
    reads: list[int] = []

    def read_then_rewrite(fd: int, start: int, end: int) -> bytes:
        got = real_read(fd, start, end)
        if not reads:  # after the first read (this process's, of the whole file), another program (not ait)
            # rewrites the file in place with a shorter first line: every later line is whole, but earlier
            with open(store.path, "r+b") as f:
                shorter = line(1, rating=8)  # and as many spaces after the last line's object: the same size
                padded = lines[-1] + b" " * (len(lines[0]) - len(shorter))
                f.write(b"".join(x + b"\n" for x in [shorter, *lines[1:-1], padded]))
                f.truncate()
            st = os.stat(store.path)
            os.utime(store.path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # a coarse clock: move it
        reads.append(start)
        return got

    def in_turn(work: Any, n_items: int, workers: int) -> list[Any]:  # the pieces one after another, here
        return [work(k, k + 1) for k in range(workers)]

    monkeypatch.setattr(parallel, "read_at", read_then_rewrite)
    monkeypatch.setattr(parallel, "fork_map", in_turn)
    snap = store.read(strict=False)
    assert len(reads) >= 2  # the later pieces were read after the rewrite
    assert snap.problems == []
    assert snap.ids == list(range(1, 401))
    assert [snap.data[snap.starts[r] : snap.ends[r]] for r in range(len(snap))] == lines
