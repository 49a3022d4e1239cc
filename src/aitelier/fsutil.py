"""Durable file primitives: atomic replace and durable append.

Every file aitelier writes goes through here, so a crash (even SIGKILL or power loss after fsync) leaves either
the old or the new content, never a torn file.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path


def now_iso() -> str:
    """UTC time like JavaScript's toISOString(), which the npm tool writes: 2026-01-01T00:00:00.000Z."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _fsync_dir(directory: Path) -> None:
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


def atomic_write_bytes(path: Path, data: bytes | Iterable[bytes], *, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` through a temp file in the same directory, fsync, then rename over it.

    ``data`` may be an iterable of chunks (a generator streaming a large file works); if it raises, the temp
    file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    if mode is None:
        try:
            mode = os.stat(path).st_mode & 0o777
        except FileNotFoundError:
            mode = 0o644
    import tempfile  # here, not at the top: its imports cost every command's start-up ~5 ms

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            if isinstance(data, bytes):
                f.write(data)
            else:
                f.writelines(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def durable_append(path: Path, data: bytes) -> None:
    """Append ``data`` with a single write(2) and fsync.

    One write() to a regular file is not torn by a signal, so SIGKILL leaves the file with all of it or none.
    A short write (disk full) is rolled back so no partial line is left behind.
    """
    path = Path(path)
    existed = path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        start = os.fstat(fd).st_size
        try:
            written = os.write(fd, data)
        except OSError:
            os.ftruncate(fd, start)
            raise
        if written != len(data):
            os.ftruncate(fd, start)
            raise OSError(f"short write to {path} ({written} of {len(data)} bytes); nothing was appended")
        os.fsync(fd)
    finally:
        os.close(fd)
    if not existed:
        _fsync_dir(path.parent)
