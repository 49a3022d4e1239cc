"""A large examples.jsonl is decoded in pieces by forked processes; the snapshot must not depend on it.

``PARALLEL_MIN_KB`` is lowered so that a small file is cut into pieces too; ``AITELIER_NO_FORK=1`` reads the
same file in one process. Each test also checks literal expectations, not only that the two reads agree.
"""

from __future__ import annotations

from pathlib import Path

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
