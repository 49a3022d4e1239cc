"""map_lines cuts a file's bytes into pieces of whole lines, one per worker; windows goes through a piece a few
hundred kilobytes (here: a few bytes) at a time, whole lines each."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aitelier import parallel


def _mapped(path: Path, size: int | None = None) -> parallel.Buffer:
    fd = os.open(path, os.O_RDONLY)
    try:
        return parallel.map_file(fd, os.fstat(fd).st_size if size is None else size)
    finally:
        os.close(fd)  # the mapping outlives the descriptor


line_bytes = st.binary(min_size=0, max_size=3000).map(lambda b: b.replace(b"\n", b"x"))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(line_bytes, min_size=0, max_size=12), last_newline=st.booleans())
def test_the_pieces_are_the_file_cut_between_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lines: list[bytes], last_newline: bool
) -> None:
    monkeypatch.delenv("AITELIER_NO_FORK", raising=False)
    data = b"\n".join(lines) + (b"\n" if last_newline and lines else b"")
    path = tmp_path / "f.jsonl"
    path.write_bytes(data)
    mapped = _mapped(path)
    assert mapped[:] == data
    pieces = parallel.map_lines(mapped, 0, lambda buf, start, end: (buf[start:end], start))
    assert b"".join(p for p, _ in pieces) == data
    offset = 0
    for piece, at in pieces:
        assert at == offset
        assert at == 0 or data[at - 1 : at] == b"\n"  # each piece starts a line
        offset += len(piece)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lines=st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"x")), max_size=20),
    last_newline=st.booleans(),
    window=st.integers(1, 50),
    data=st.data(),
)
def test_windows_are_the_piece_in_whole_lines(
    monkeypatch: pytest.MonkeyPatch, lines: list[bytes], last_newline: bool, window: int, data: st.DataObject
) -> None:
    monkeypatch.setattr(parallel, "WINDOW", window)
    text = b"\n".join(lines) + (b"\n" if last_newline and lines else b"")
    starts = [0] + [i + 1 for i, c in enumerate(text) if c == ord("\n")]
    start = data.draw(st.sampled_from([s for s in starts if s <= len(text)]))
    got = list(parallel.windows(text, start, len(text)))
    assert b"".join(chunk for chunk, _ in got) == text[start:]
    at = start
    for chunk, offset in got:
        assert offset == at and chunk == text[at : at + len(chunk)]
        at += len(chunk)
        # whole lines: each window but the file's last ends with a newline, and holds one line at least
        assert chunk.endswith(b"\n") or at == len(text)
        assert len(chunk) <= window or chunk.count(b"\n") <= 1


def test_a_large_file_is_shared_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AITELIER_NO_FORK", raising=False)
    if parallel.worker_count(1000, 1) < 2:
        pytest.skip("one core: no pieces")
    data = b"".join(b"%05d %s\n" % (i, b"y" * (i % 50)) for i in range(4000))
    path = tmp_path / "f.jsonl"
    path.write_bytes(data)
    pieces = parallel.map_lines(_mapped(path), 1, lambda buf, start, end: (buf[start:end], os.getpid()))
    assert len(pieces) >= 2 and pieces[0][1] == os.getpid() != pieces[1][1]  # worked on in another process
    assert [p.count(b"\n") for p, _ in pieces] == [len(p.splitlines()) for p, _ in pieces]
    assert b"".join(p for p, _ in pieces) == data


def test_only_the_bytes_asked_for_are_mapped(tmp_path: Path) -> None:
    data = b"".join(b"line %d\n" % i for i in range(3000))
    path = tmp_path / "f.jsonl"
    path.write_bytes(data + b"appended after the size was taken\n")
    mapped = _mapped(path, len(data))
    assert len(mapped) == len(data) and mapped[:] == data
    assert _mapped(path, 0) == b""
