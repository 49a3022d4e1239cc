"""What fsutil promises: the umask's mode for new files, fsync before the rename and of the directory after,
an fsync'd append, and never writing through a symbolic link it was not told to follow."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from aitelier.errors import SymlinkRefused
from aitelier.fsutil import atomic_write_bytes, atomic_write_files, durable_append


@pytest.fixture
def umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(
    ("mask", "expected"), [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)], ids=["022", "027", "002"]
)
def test_new_files_get_the_umasks_mode(tmp_path: Path, umask: None, mask: int, expected: int) -> None:
    os.umask(mask)
    atomic_write_bytes(tmp_path / "a", b"x")
    durable_append(tmp_path / "b", b"x\n")
    assert mode(tmp_path / "a") == expected
    assert mode(tmp_path / "b") == expected


def test_a_new_file_is_0644_under_umask_022(tmp_path: Path, umask: None) -> None:
    atomic_write_bytes(tmp_path / "new.jsonl", b"{}\n")
    assert mode(tmp_path / "new.jsonl") == 0o644


def test_files_written_at_once_each_end_whole_and_a_failure_is_raised_once_all_have_ended(
    tmp_path: Path,
) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    atomic_write_files([(a, [b"1\n", b"2\n"]), (b, b"3\n")])
    assert (a.read_bytes(), b.read_bytes()) == (b"1\n2\n", b"3\n")
    (tmp_path / "file").write_bytes(b"")
    unwritable = tmp_path / "file" / "c.jsonl"  # its directory is a file
    with pytest.raises(OSError):  # failing in the thread
        atomic_write_files([(a, b"new a\n"), (unwritable, b"x\n")])
    with pytest.raises(OSError):  # failing here, while the thread writes
        atomic_write_files([(unwritable, b"x\n"), (b, b"new b\n")])
    assert (a.read_bytes(), b.read_bytes()) == (b"new a\n", b"new b\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl", "b.jsonl", "file"]  # no temp file left


class Spy:
    """Records os.fsync (of a directory or of a regular file, by inode) and os.replace, in order."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.events: list[tuple[str, object]] = []
        real_fsync, real_replace = os.fsync, os.replace

        def fsync(fd: int) -> None:
            st = os.fstat(fd)
            self.events.append(("fsync-dir" if stat.S_ISDIR(st.st_mode) else "fsync-file", st.st_ino))
            real_fsync(fd)

        def replace(src: str, dst: str) -> None:
            self.events.append(("replace", os.stat(src).st_ino))
            real_replace(src, dst)

        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "replace", replace)

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.events]


def test_atomic_write_fsyncs_the_file_before_the_rename_and_the_directory_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = tmp_path / "examples.jsonl"
    f.write_bytes(b"old\n")
    spy = Spy(monkeypatch)
    atomic_write_bytes(f, [b"new", b"\n"])
    assert spy.kinds() == ["fsync-file", "replace", "fsync-dir"]
    # the file fsync'd is the one renamed into place, and it is what the path now holds
    assert spy.events[0][1] == spy.events[1][1] == f.stat().st_ino
    assert spy.events[2][1] == tmp_path.stat().st_ino
    assert f.read_bytes() == b"new\n"


def test_durable_append_fsyncs_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / ".journal.jsonl"
    f.write_bytes(b"a\n")
    spy = Spy(monkeypatch)
    durable_append(f, b"b\n")
    assert spy.events == [("fsync-file", f.stat().st_ino)]
    assert f.read_bytes() == b"a\nb\n"


def test_durable_append_of_a_new_file_fsyncs_its_directory_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = Spy(monkeypatch)
    durable_append(tmp_path / "new", b"b\n")
    assert spy.kinds() == ["fsync-file", "fsync-dir"]


# -- symbolic links -----------------------------------------------------------------------------------------
def test_durable_append_refuses_a_symlink_and_leaves_its_target_alone(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.txt"
    target.write_bytes(b"nineteen bytes here")
    link = tmp_path / ".journal.jsonl"
    link.symlink_to(target)
    with pytest.raises(SymlinkRefused, match=r"\.journal\.jsonl is a symbolic link"):
        durable_append(link, b'{"id":1,"set":{"rating":5}}\n')
    assert target.read_bytes() == b"nineteen bytes here"
    assert link.is_symlink()


def test_durable_append_refuses_a_dangling_symlink(tmp_path: Path) -> None:
    link = tmp_path / ".journal.jsonl"
    link.symlink_to(tmp_path / "missing")
    with pytest.raises(SymlinkRefused):
        durable_append(link, b"x\n")
    assert not (tmp_path / "missing").exists()


def test_durable_append_follows_a_link_when_told(tmp_path: Path) -> None:
    target = tmp_path / "real.jsonl"
    target.write_bytes(b"a\n")
    link = tmp_path / "examples.jsonl"
    link.symlink_to(target)
    durable_append(link, b"b\n", follow_symlinks=True)
    assert target.read_bytes() == b"a\nb\n"
    assert link.is_symlink()


def test_atomic_write_through_a_symlink_replaces_the_target_and_keeps_the_link(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    target = shared / "examples.jsonl"
    target.write_bytes(b"old\n")
    os.chmod(target, 0o640)
    data = tmp_path / "proj" / "data"
    data.mkdir(parents=True)
    link = data / "examples.jsonl"
    link.symlink_to(target)
    atomic_write_bytes(link, b"new\n")
    assert link.is_symlink()
    assert os.readlink(link) == str(target)
    assert target.read_bytes() == b"new\n"
    assert mode(target) == 0o640
    # the temp file was made beside the target (and is gone), none beside the link
    assert sorted(p.name for p in shared.iterdir()) == ["examples.jsonl"]
    assert sorted(p.name for p in data.iterdir()) == ["examples.jsonl"]
