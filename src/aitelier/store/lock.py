"""The project's cross-process write lock: flock(2) on ``data/.lock`` (POSIX), msvcrt.locking on Windows.

The lock is re-entrant within a thread, so a command that holds it can call a store function that takes it
again (for example `rm` updating the config while rewriting examples); threads of one process take turns like
processes do. flock is what the filelock library (which earlier versions used) takes, so an older ait running
beside this one is excluded too. The lock is released when its holder exits, however it exits.

The lock file and the journal beside it are never followed if they are symbolic links (a cloned project could
carry one pointing anywhere): taking the lock refuses with SymlinkRefused, before anything is written. The
wait is ``AITELIER_LOCK_TIMEOUT`` seconds (default 30), trying again every 50 ms.

Every write into ``data/`` takes this lock, so taking it is where a ``data/.gitignore`` for the files ait owns
there is written when the directory has none (a project made by the npm tool, or before ``ait init`` did it).
"""

from __future__ import annotations

import errno
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import LockTimeout, SymlinkRefused, UsageError
from ..fsutil import atomic_write_text, refuse_symlink

DEFAULT_TIMEOUT = 30.0
TIMEOUT_ENV = "AITELIER_LOCK_TIMEOUT"
# files beside the lock that are opened for writing in place (appended to, truncated): never through a link
NO_FOLLOW = (".journal.jsonl",)
# what ait keeps in data/ besides the examples: lock, caches, journal, backups, temp files of unfinished writes
DATA_GITIGNORE = """\
# written by aitelier: files it keeps here besides the examples (lock, caches, journal, backups, temp files)
.lock
.cache.json
.tokens.cache
.append.json
.format.json
.format.memo
.journal.jsonl
*.bak
*.bak-*
.*.tmp
"""
POLL = 0.05  # seconds between tries while another process holds the lock


def lock_timeout() -> float:
    """Seconds a writer waits for the lock: $AITELIER_LOCK_TIMEOUT, else 30."""
    raw = os.environ.get(TIMEOUT_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also NaN
        raise UsageError(f"{TIMEOUT_ENV} must be a number of seconds >= 0, got {raw!r}")
    return value


class _FileLock:
    """One lock file's lock in this process: a re-entrant thread lock, and the OS lock held while it is."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.threads = threading.RLock()
        self.fd: int | None = None
        self.depth = 0

    def acquire(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        if not self.threads.acquire(timeout=timeout):
            return False
        if self.depth == 0:
            try:
                self.fd = _lock_file(self.path, deadline)
            except BaseException:
                self.threads.release()
                raise
            if self.fd is None:
                self.threads.release()
                return False
        self.depth += 1
        return True

    def release(self) -> None:
        self.depth -= 1
        if self.depth == 0 and self.fd is not None:
            os.close(self.fd)  # closing the file releases the OS lock
            self.fd = None
        self.threads.release()


def _lock_file(path: str, deadline: float) -> int | None:
    """The descriptor of the lock file, locked; None if another process still holds it at ``deadline``."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
    except OSError as e:
        if e.errno == errno.ELOOP:  # it became a link after the check
            raise SymlinkRefused(Path(path)) from e
        raise
    try:
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                os.close(fd)
                return None
            time.sleep(POLL)
    except BaseException:
        os.close(fd)
        raise
    return fd


if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.EACCES):
                return False
            raise
        return True


_locks: dict[str, _FileLock] = {}
_registry = threading.Lock()


@contextmanager
def project_lock(path: Path, timeout: float | None = None) -> Iterator[None]:
    """Hold the writer lock. Never hold it while waiting for a person or the network."""
    path = Path(path)
    if timeout is None:
        timeout = lock_timeout()
    # resolve the directory, not the lock itself: resolving would follow a linked lock to its target
    key = str(path.parent.resolve() / path.name)
    with _registry:
        lock = _locks.get(key)
        if lock is None:
            lock = _locks[key] = _FileLock(key)
    refuse_symlink(path)
    if not lock.acquire(timeout):
        raise LockTimeout(
            f"another aitelier command has held {path} for over {timeout:g}s",
            hint="wait for it to finish, or remove the lock file if no aitelier process is running",
        )
    try:
        for name in NO_FOLLOW:
            refuse_symlink(path.with_name(name))
        ignore = path.with_name(".gitignore")
        if not os.path.lexists(ignore):
            atomic_write_text(ignore, DATA_GITIGNORE)
        yield
    finally:
        lock.release()
