"""A large examples.jsonl is decoded in pieces by forked processes; the snapshot must not depend on it.

``PARALLEL_MIN_KB`` is lowered so that a small file is cut into pieces too; ``AITELIER_NO_FORK=1`` reads the
same file in one process. Each test also checks literal expectations, not only that the two reads agree.
"""

from __future__ import annotations

import os
import time
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


def _rewrite_in_place(path: Path, lines: list[bytes]) -> None:
    """What another program (not ait) may do: write the file over in place, the same size, a shorter first
    line (so every later line starts elsewhere), its modification time moved on (a coarse clock may not)."""
    with open(path, "r+b") as f:
        shorter = line(1, rating=8)
        padded = lines[-1] + b" " * (len(lines[0]) - len(shorter))
        f.write(b"".join(x + b"\n" for x in [shorter, *lines[1:-1], padded]))
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


def test_a_file_written_in_place_while_read_stops_the_read(
    tmp_path: Path, in_pieces: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aitelier import parallel

    lines = [line(i, rating=8) for i in range(1, 401)]
    lines[0] = line(1, rating=8, tags=["a-tag"])
    store = store_of(tmp_path, lines)

    def in_turn(work: Any, n_items: int, workers: int) -> list[Any]:  # the pieces one after another, here
        done = [work(0, 1)]
        _rewrite_in_place(store.path, lines)  # after the first piece: the later ones see the new bytes
        return done + [work(k, k + 1) for k in range(1, workers)]

    monkeypatch.setattr(parallel, "fork_map", in_turn)
    with pytest.raises(DataError) as e:
        store.read(strict=False)
    assert str(e.value.problems[0]).endswith("changed by another program while being read")
    monkeypatch.undo()
    snap = store.read()  # read again, it is the new file
    assert snap.ids == list(range(1, 401)) and snap.raw(0) == line(1, rating=8)


def test_a_snapshot_notices_its_file_written_in_place_later(tmp_path: Path) -> None:
    lines = [line(i, rating=8) for i in range(1, 401)]
    lines[0] = line(1, rating=8, tags=["a-tag"])
    store = store_of(tmp_path, lines)
    snap = store.read()  # decoded now (no read cache yet): its bytes are the mapped file
    assert snap.get(2).raw == lines[1]
    _rewrite_in_place(store.path, lines)
    with pytest.raises(DataError, match="changed by another program"):
        snap.verify()
    time.sleep(0.15)  # a row's line is checked unchanged at most ten times a second
    with pytest.raises(DataError, match="changed by another program"):
        snap.get(3)


def test_a_snapshot_reads_on_after_an_append_but_not_after_a_longer_file_written_in_place(
    tmp_path: Path,
) -> None:
    lines = [line(i, rating=8) for i in range(1, 401)]
    store = store_of(tmp_path, lines)
    snap = store.read()
    store.append([{"messages": record(999)["messages"]}], check_duplicates=False)
    time.sleep(0.15)
    assert snap.get(3).raw == lines[2]  # the bytes read are still there, as they were
    with open(store.path, "r+b") as f:  # another program writes a longer first line in place
        f.write(line(1, rating=8, tags=["a-longer-first-line"]) + b"\n")
        f.write(b"".join(x + b"\n" for x in lines[1:]))
    time.sleep(0.15)
    with pytest.raises(DataError, match="changed by another program"):
        snap.get(9)


def test_a_rewrite_is_not_renamed_over_a_file_another_program_changed_meanwhile(tmp_path: Path) -> None:
    lines = [line(i, rating=8) for i in range(1, 401)]
    lines[0] = line(1, rating=8, tags=["a-tag"])
    store = store_of(tmp_path, lines)

    def plan(snap: Any) -> dict[int, None]:
        _rewrite_in_place(store.path, lines)  # while ait holds its lock: not every program asks for it
        return {5: None}

    with pytest.raises(DataError, match="changed by another program"):
        store.rewrite(plan)
    assert store.path.read_bytes().startswith(line(1, rating=8) + b"\n")  # the other program's file, kept
    assert not [n for n in os.listdir(store.path.parent) if n.endswith(".tmp")]  # no temp file left behind
