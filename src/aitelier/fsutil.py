"""Durable file primitives: atomic replace and durable append.

Every file aitelier writes goes through here, so a crash (even SIGKILL or power loss after fsync) leaves either
the old or the new content, never a torn file.

Symbolic links: :func:`atomic_write_bytes` writes through a link (the temp file goes next to the link's
target and is renamed over the target, so a linked ``data/examples.jsonl`` keeps feeding its real file);
:func:`durable_append` refuses one unless asked to follow it (``O_NOFOLLOW``: the journal and other files ait
owns must never send bytes to a file elsewhere). Temp files are created with ``O_EXCL`` and so never follow a
link either. New files get the mode the umask gives (0644 under umask 022), like any other tool's files.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import NoReturn

from .errors import SymlinkRefused


def now_iso(ts: float | None = None) -> str:
    """UTC time (now, or unix seconds ``ts``) like JavaScript's toISOString(), which the npm tool writes:
    2026-01-01T00:00:00.000Z."""
    when = datetime.now(timezone.utc) if ts is None else datetime.fromtimestamp(ts, timezone.utc)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_file_mode() -> int:
    """The mode a new file gets from the process's umask (0o666 masked), as open(2) would give it."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def refuse_symlink(path: Path) -> None:
    """Raise SymlinkRefused if ``path`` is a symbolic link (a dangling one too)."""
    if os.path.islink(path):
        raise SymlinkRefused(path)


def fsync_dir(directory: Path) -> None:
    """Make a new, renamed or removed name in ``directory`` durable (the name is a directory entry)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _raise_naming(e: OSError, path: Path, tmp: str | None = None) -> NoReturn:
    """Raise ``e`` naming ``path``: write(2) and fsync(2) errors (a full disk) do not say which file failed."""
    if e.errno is None or e.filename not in (None, tmp):
        raise e
    raise OSError(e.errno, e.strerror, str(path)) from e  # OSError(errno, ...) builds the matching subclass


Data = bytes | memoryview | Iterable[bytes | memoryview]  # a file's bytes, whole or in parts


def atomic_write_bytes(
    path: Path,
    data: Data,
    *,
    mode: int | None = None,
    before_rename: Callable[[], object] | None = None,
) -> None:
    """Write ``data`` to ``path`` through a temp file in the same directory, fsync, then rename over it.

    ``data`` may be an iterable of chunks (a generator streaming a large file works); if it raises, or
    ``before_rename`` (called once everything is written) does, the temp file is removed and ``path`` is left as
    it was. If ``path`` is a symbolic link, its target is replaced
    (the temp file is made beside the target), and the link stays. The file keeps its mode; a new one gets
    the umask's.
    """
    path = Path(path)
    if os.path.islink(path):
        path = Path(os.path.realpath(path))
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    if mode is None:
        try:
            mode = os.stat(path).st_mode & 0o777
        except FileNotFoundError:
            mode = new_file_mode()
    fd, tmp = _new_temp(directory, path.name)
    try:
        try:
            _write_all(fd, [data] if isinstance(data, (bytes, memoryview)) else data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, mode)  # made 0600
        if before_rename is not None:
            before_rename()
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            _raise_naming(e, path, tmp)
        raise
    fsync_dir(directory)


def _new_temp(directory: Path, name: str) -> tuple[int, str]:
    """A new file ``.NAME.RANDOM.tmp`` in ``directory``, opened for writing (O_EXCL: never an existing file, never
    through a link). Like tempfile.mkstemp, without the imports that cost a command's start-up a few ms."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
    while True:
        tmp = os.path.join(directory, f".{name}.{os.urandom(6).hex()}.tmp")
        try:
            return os.open(tmp, flags, 0o600), tmp
        except FileExistsError:  # pragma: no cover - 48 random bits
            continue


_BATCH = 1024  # buffers per writev(2) (the least IOV_MAX POSIX allows)
_BATCH_BYTES = 1 << 22


def _write_all(fd: int, parts: Iterable[bytes | memoryview]) -> None:
    """Write every part, in order, with few system calls and no copy in between: the parts (lines, or slices
    of a file read) go to writev(2) in batches of up to 1,024 buffers or about 4 MB."""
    batch: list[bytes | memoryview] = []
    size = 0
    for part in parts:
        batch.append(part)
        size += len(part)
        if len(batch) == _BATCH or size >= _BATCH_BYTES:
            _writev(fd, batch, size)
            batch, size = [], 0
    if batch:
        _writev(fd, batch, size)


def _writev(fd: int, batch: list[bytes | memoryview], size: int) -> None:
    written = os.writev(fd, batch) if hasattr(os, "writev") else 0  # Windows has no writev
    if written < size:  # or a short write (a signal, a nearly full disk): the rest one write(2) at a time
        rest = memoryview(b"".join(batch))[written:]
        while rest:
            rest = rest[os.write(fd, rest) :]


def atomic_write_files(files: Sequence[tuple[Path, Data]]) -> None:
    """:func:`atomic_write_bytes` for each ``(path, data)``, at once: all but the first in threads of their own
    (copying into the page cache and fsync release the GIL, so the cores write several files together). The
    first failure is raised when all have ended; each other file is then written whole or left as it was."""
    import threading

    failed: list[BaseException] = []

    def write(path: Path, data: Data) -> None:
        try:
            atomic_write_bytes(path, data)
        except BaseException as e:  # raised below, in the caller's thread
            failed.append(e)

    threads = [threading.Thread(target=write, args=item, daemon=True) for item in files[1:]]
    for t in threads:
        t.start()
    for item in files[:1]:
        write(*item)
    for t in threads:
        t.join()
    if failed:
        raise failed[0]


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def durable_append(path: Path, data: bytes, *, follow_symlinks: bool = False) -> None:
    """Append ``data`` with a single write(2) and fsync.

    One write() to a regular file is not torn by a signal, so SIGKILL leaves the file with all of it or none.
    A short write (disk full) is rolled back so no partial line is left behind. A symbolic link at ``path`` is
    refused (SymlinkRefused) unless ``follow_symlinks`` (for ``examples.jsonl``, written through like
    :func:`atomic_write_bytes` does).
    """
    path = Path(path)
    existed = os.path.lexists(path)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
        refuse_symlink(path)  # where O_NOFOLLOW does not exist, and for a clear message
    try:
        fd = os.open(path, flags, 0o666)  # the umask applies
    except OSError as e:
        if e.errno == errno.ELOOP:  # it became a link after the check
            raise SymlinkRefused(path) from e
        raise
    try:
        start = os.fstat(fd).st_size
        try:
            written = os.write(fd, data)
        except OSError as e:
            with contextlib.suppress(OSError):  # not every file can be truncated (a device); report the write
                os.ftruncate(fd, start)
            _raise_naming(e, path)
        if written != len(data):
            os.ftruncate(fd, start)
            raise OSError(f"short write to {path} ({written} of {len(data)} bytes); nothing was appended")
        try:
            os.fsync(fd)
        except OSError as e:
            _raise_naming(e, path)
    finally:
        os.close(fd)
    if not existed:
        fsync_dir(path.parent)
