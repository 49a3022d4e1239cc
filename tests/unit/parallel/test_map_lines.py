"""map_lines cuts a file into pieces of whole lines, each read by the process that works on it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aitelier import parallel


def _pieces(
    path: Path, *, keep: bool, size: int | None = None
) -> tuple[bytes | None, list[tuple[bytes, int]]]:
    fd = os.open(path, os.O_RDONLY)
    try:
        n = os.fstat(fd).st_size if size is None else size
        return parallel.map_lines(fd, n, 0, lambda buf, end, offset: (buf[:end], offset), keep=keep)
    finally:
        os.close(fd)


line_bytes = st.binary(min_size=0, max_size=3000).map(lambda b: b.replace(b"\n", b"x"))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(line_bytes, min_size=0, max_size=12), last_newline=st.booleans(), keep=st.booleans())
def test_the_pieces_are_the_file_cut_between_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lines: list[bytes], last_newline: bool, keep: bool
) -> None:
    monkeypatch.delenv("AITELIER_NO_FORK", raising=False)
    monkeypatch.setattr(parallel, "_PROBE", 7)  # a newline is looked for in small steps, across many reads
    data = b"\n".join(lines) + (b"\n" if last_newline and lines else b"")
    path = tmp_path / "f.jsonl"
    path.write_bytes(data)
    kept, pieces = _pieces(path, keep=keep)
    assert kept == (data if keep else None)
    assert b"".join(p for p, _ in pieces) == data
    offset = 0
    for piece, at in pieces:
        assert at == offset
        assert at == 0 or data[at - 1 : at] == b"\n"  # each piece starts a line
        offset += len(piece)


def test_a_large_file_is_shared_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AITELIER_NO_FORK", raising=False)
    if parallel.worker_count(1000, 1) < 2:
        pytest.skip("one core: no pieces")
    data = b"".join(b"%05d %s\n" % (i, b"y" * (i % 50)) for i in range(4000))
    path = tmp_path / "f.jsonl"
    path.write_bytes(data)
    kept, pieces = _pieces(path, keep=True)
    assert kept == data and len(pieces) >= 2
    assert pieces[1][1] > 0 and data[pieces[1][1] - 1] == ord("\n")
    # each worker read its own piece: every piece's bytes are exactly its lines
    assert [p.count(b"\n") for p, _ in pieces] == [len(p.splitlines()) for p, _ in pieces]
    assert sum(p.count(b"\n") for p, _ in pieces) == 4000


def test_only_the_bytes_asked_for_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AITELIER_NO_FORK", raising=False)
    data = b"".join(b"line %d\n" % i for i in range(3000))
    path = tmp_path / "f.jsonl"
    path.write_bytes(data + b"appended after the size was taken\n")
    kept, pieces = _pieces(path, keep=True, size=len(data))
    assert kept == data
    assert b"".join(p for p, _ in pieces) == data
