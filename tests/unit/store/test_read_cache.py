"""A light read of a file read before takes its rows from the derived cache (``data/.cache.json``), keyed by
the file's identity. Whatever the cache holds, a read must give what decoding the file gives."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import msgspec
import pytest

from aitelier.errors import DataError
from aitelier.store import Store
from aitelier.store import store as store_module
from helpers import dumps, line, record, snapshot_facts, store_of, write_lines


def _cache(store: Store) -> dict[str, object]:
    return json.loads(store.cache_path.read_bytes())


LINES = [line(i, rating=i % 10 + 1, split=("val" if i % 4 == 0 else None)) for i in range(1, 31)]


def test_a_second_read_of_the_same_file_comes_from_the_cache_and_equals_the_first(tmp_path: Path) -> None:
    store = store_of(tmp_path, LINES)
    first = snapshot_facts(store)
    assert _cache(store).get("rows")  # the light read left its rows for the next one
    assert snapshot_facts(store) == first
    assert first[0] == list(range(1, 31)) and first[2][3] == "val" and first[2][4] is None
    assert first[5] == LINES


def test_patches_apply_on_top_of_cached_rows(tmp_path: Path) -> None:
    store = store_of(tmp_path, LINES)
    snapshot_facts(store)
    store.patch(5, {"rating": 10, "split": "train"})
    snap = store.read()
    assert snap.get(5).data["rating"] == 10 and snap.splits[4] == "train"
    assert snap.ratings[3] == 5  # the others as in the file
    store.compact()
    assert snapshot_facts(store)[1][4] == 10


def test_a_file_changed_by_another_program_is_decoded_again(tmp_path: Path) -> None:
    store = store_of(tmp_path, LINES)
    snapshot_facts(store)
    changed = list(LINES)
    changed[0] = dumps(record(1, rating=9))  # the same length as the line it replaces
    assert len(changed[0]) == len(LINES[0])
    path = store.path
    st = os.stat(path)
    write_lines(path, changed)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size and mtime: the inode times still differ
    assert snapshot_facts(store)[1][0] == 9


def test_a_broken_cache_is_ignored(tmp_path: Path) -> None:
    store = store_of(tmp_path, LINES)
    expected = snapshot_facts(store)
    cache = _cache(store)
    [piece] = cache["rows"]
    heads, starts, ends = msgspec.msgpack.decode(base64.b64decode(piece))  # a piece's rows, as msgpack
    odd = msgspec.msgpack.encode([heads, starts[:-1], ends])  # not whole 8-byte integers
    fewer = msgspec.msgpack.encode([heads[1:], starts, ends])
    for rows in ("AAAA", "not base64!", 12, ["AAAA"], [_b64(odd)], [_b64(fewer)], [piece, piece]):
        store.cache_path.write_text(json.dumps({**cache, "rows": rows}))
        assert snapshot_facts(store) == expected


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_a_file_read_in_pieces_is_cached_a_piece_each_as_each_process_packed_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "PARALLEL_MIN_KB", 1)
    monkeypatch.delenv("AITELIER_NO_FORK", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    lines = [line(i, rating=i % 10 + 1, split=("val" if i % 4 == 0 else None)) for i in range(1, 301)]
    store = store_of(tmp_path, lines)
    first = snapshot_facts(store)
    assert len(_cache(store)["rows"]) == 3
    assert snapshot_facts(store) == first and first[0] == list(range(1, 301)) and first[5] == lines


def test_rows_of_a_file_with_problems_are_not_cached(tmp_path: Path) -> None:
    lines = [*LINES, b"{not json"]
    store = store_of(tmp_path, lines)
    first = snapshot_facts(store)
    assert first[-1] == [(31, "invalid JSON: Expecting property name enclosed in double quotes (column 2)")]
    assert _cache(store).get("rows") is None
    assert snapshot_facts(store) == first


def test_an_append_and_a_rewrite_are_seen(tmp_path: Path) -> None:
    store = store_of(tmp_path, LINES)
    snapshot_facts(store)
    store.append([{"messages": record(99)["messages"]}], check_duplicates=False)
    assert snapshot_facts(store)[0] == list(range(1, 32))
    store.rewrite(lambda snap: {0: None})
    facts = snapshot_facts(store)
    assert facts[0] == list(range(2, 32)) and facts[5][:29] == LINES[1:]


def test_the_bytes_of_a_cached_read_are_read_when_needed_and_must_not_have_changed(tmp_path: Path) -> None:
    store = store_of(tmp_path, LINES)
    snapshot_facts(store)
    snap = store.read()  # rows from the cache
    assert snap.get(7).data == {**record(7, rating=8), "id": 7}
    later = store.read()
    with open(store.path, "r+b") as f:  # another program writes over the file in place
        f.write(LINES[1][: len(LINES[0])])
    with pytest.raises(DataError) as e:
        later.get(3)
    assert "changed by another program while being read" in str(e.value.problems[0])


def test_a_few_lines_are_read_one_by_one_then_the_whole_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "LINES_READ_ALONE", 5)
    store = store_of(tmp_path, LINES)
    snapshot_facts(store)
    snap = store.read()  # rows from the cache
    assert [snap.raw(r) for r in (29, 0, 3)] == [LINES[29], LINES[0], LINES[3]]  # one line each
    assert [ex.raw for ex in snap.examples()] == LINES  # then all of them


def test_a_snapshot_reads_its_own_file_after_a_rewrite_replaced_it(tmp_path: Path) -> None:
    store = store_of(tmp_path, LINES)
    snapshot_facts(store)
    snap = store.read()  # rows from the cache, no bytes read yet
    store.rewrite(lambda s: {0: {"rating": 1}})  # a new file renamed over the one the snapshot was read from
    assert snap.get(2).raw == LINES[1] and snap.get(1).data["rating"] == 2
    assert store.read().get(1).data["rating"] == 1
