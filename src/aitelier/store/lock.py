"""The project's cross-process write lock (filelock: flock on POSIX, msvcrt on Windows).

One FileLock object per path and process makes the lock re-entrant, so a command that holds it can call a
store function that takes it again (for example `rm` updating the config while rewriting examples).

The lock file and the journal beside it are never followed if they are symbolic links (a cloned project could
carry one pointing anywhere; filelock opens the lock with O_TRUNC): taking the lock refuses with
SymlinkRefused, before anything is written. The wait is ``AITELIER_LOCK_TIMEOUT`` seconds (default 30).

Every write into ``data/`` takes this lock, so taking it is where a ``data/.gitignore`` for the files ait owns
there is written when the directory has none (a project made by the npm tool, or before ``ait init`` did it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import LockTimeout, UsageError
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
_locks: dict[str, Any] = {}


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


@contextmanager
def project_lock(path: Path, timeout: float | None = None) -> Iterator[None]:
    """Hold the writer lock. Never hold it while waiting for a person or the network."""
    from filelock import FileLock, Timeout

    path = Path(path)
    if timeout is None:
        timeout = lock_timeout()
    # resolve the directory, not the lock itself: resolving would follow a linked lock to its target
    key = str(path.parent.resolve() / path.name)
    lock = _locks.get(key)
    if lock is None:
        lock = _locks[key] = FileLock(key)
    if not lock.is_locked:
        refuse_symlink(path)
    try:
        lock.acquire(timeout=timeout)
    except Timeout as e:
        raise LockTimeout(
            f"another aitelier command has held {path} for over {timeout:g}s",
            hint="wait for it to finish, or remove the lock file if no aitelier process is running",
        ) from e
    try:
        for name in NO_FOLLOW:
            refuse_symlink(path.with_name(name))
        ignore = path.with_name(".gitignore")
        if not os.path.lexists(ignore):
            atomic_write_text(ignore, DATA_GITIGNORE)
        yield
    finally:
        lock.release()
