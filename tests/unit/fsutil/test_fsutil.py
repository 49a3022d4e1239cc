"""Durable file primitives: atomic replace, durable append, timestamps."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from aitelier import fsutil
from aitelier.fsutil import atomic_write_bytes, atomic_write_text, durable_append, now_iso


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_atomic_write_creates_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    f = tmp_path / "sub" / "a.jsonl"
    atomic_write_bytes(f, b"one\n")
    assert f.read_bytes() == b"one\n"
    atomic_write_bytes(f, [b"two", b"\n", b"three\n"])
    assert f.read_bytes() == b"two\nthree\n"
    atomic_write_text(f, "é\n")
    assert f.read_bytes() == "é\n".encode()
    assert leftovers(f.parent) == []


def test_atomic_write_of_many_pieces_writes_them_all_in_order(tmp_path: Path) -> None:
    """More pieces than one writev(2) takes (1,024), slices of a buffer, and pieces larger than a batch."""
    f = tmp_path / "a"
    big = bytes(range(256)) * 20_000  # 5 MB
    pieces: list[bytes | memoryview] = [b"%d\n" % i for i in range(3000)]
    pieces += [memoryview(big)[:7], big, memoryview(big)[100:], b"", b"end\n"]
    atomic_write_bytes(f, pieces)
    assert f.read_bytes() == b"".join(pieces)
    assert leftovers(tmp_path) == []


def test_a_short_writev_is_completed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "a"
    real_writev = os.writev
    monkeypatch.setattr(fsutil.os, "writev", lambda fd, bufs: real_writev(fd, [bytes(bufs[0])[:2]]))
    atomic_write_bytes(f, [b"first\n", b"second\n"])
    assert f.read_bytes() == b"first\nsecond\n"


def test_atomic_write_keeps_the_file_mode(tmp_path: Path) -> None:
    f = tmp_path / "a"
    f.write_bytes(b"x")
    os.chmod(f, 0o600)
    atomic_write_bytes(f, b"y")
    assert stat.S_IMODE(f.stat().st_mode) == 0o600


def test_a_failing_writer_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    f = tmp_path / "a"
    f.write_bytes(b"old\n")

    def chunks():
        yield b"new, half"
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        atomic_write_bytes(f, chunks())
    assert f.read_bytes() == b"old\n"
    assert leftovers(tmp_path) == []


def test_durable_append(tmp_path: Path) -> None:
    f = tmp_path / "j"
    durable_append(f, b"a\n")
    durable_append(f, b"b\n")
    assert f.read_bytes() == b"a\nb\n"


def test_a_short_append_is_rolled_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "j"
    f.write_bytes(b"a\n")
    real_write = os.write
    monkeypatch.setattr(fsutil.os, "write", lambda fd, data: real_write(fd, data[:3]))
    with pytest.raises(OSError, match="short write"):
        durable_append(f, b"bbbbbb\n")
    assert f.read_bytes() == b"a\n"


def test_a_failed_append_is_rolled_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "j"
    f.write_bytes(b"a\n")

    def broken(fd: int, data: bytes) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fsutil.os, "write", broken)
    with pytest.raises(OSError, match="No space"):
        durable_append(f, b"b\n")
    assert f.read_bytes() == b"a\n"


def test_now_iso_is_javascript_toisostring() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", now_iso())
