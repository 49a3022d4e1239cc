"""The project's cross-process write lock (filelock: flock on POSIX, msvcrt on Windows).

One FileLock object per path and process makes the lock re-entrant, so a command that holds it can call a
store function that takes it again (for example `rm` updating the config while rewriting examples).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import LockTimeout

DEFAULT_TIMEOUT = 30.0
_locks: dict[str, Any] = {}


@contextmanager
def project_lock(path: Path, timeout: float = DEFAULT_TIMEOUT) -> Iterator[None]:
    """Hold the writer lock. Never hold it while waiting for a person or the network."""
    from filelock import FileLock, Timeout

    key = str(Path(path).resolve())
    lock = _locks.get(key)
    if lock is None:
        lock = _locks[key] = FileLock(key)
    try:
        lock.acquire(timeout=timeout)
    except Timeout as e:
        raise LockTimeout(
            f"another aitelier command has held {path} for over {timeout:.0f}s",
            hint="wait for it to finish, or remove the lock file if no aitelier process is running",
        ) from e
    try:
        yield
    finally:
        lock.release()
