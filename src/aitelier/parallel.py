"""Spread CPU-bound work over forked worker processes, falling back to doing it here.

Why processes: token counting and JSON encoding hold the GIL, so threads do not help. Why fork: the workers
see the parent's data without copying or pickling it; only their results travel back, pickled into a file that
lives in memory. Where fork is missing (Windows) or unwanted (``AITELIER_NO_FORK=1``), or the batch is small,
everything runs in this process. A worker that fails for any reason has its share redone here, so the result
never depends on the workers.
"""

from __future__ import annotations

import contextlib
import gc
import mmap
import os
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")

_in_worker = False  # set in a forked worker
_mapping = False  # set in the parent while it works on its own share: no nested forking either way


def worker_count(n_items: int, min_items: int) -> int:
    """How many processes to use for ``n_items`` (1: no forking)."""
    if (
        _in_worker
        or _mapping
        or n_items < min_items
        or not hasattr(os, "fork")
        or os.environ.get("AITELIER_NO_FORK")
    ):
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS has no affinity API
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8, n_items // max(1, min_items // 2)))


def line_pieces(data: bytes, min_kb: int) -> list[int]:
    """Where to cut ``data`` (JSON lines) into one piece per worker: offsets just after a newline, from 0 to
    ``len(data)`` (a single piece, [0, len(data)], below ``min_kb`` kilobytes or without forking)."""
    workers = worker_count(len(data) >> 10, min_kb)
    cuts = [0]
    for k in range(1, workers):
        newline = data.find(b"\n", max(cuts[-1], len(data) * k // workers))
        cuts.append(len(data) if newline < 0 else newline + 1)
    cuts.append(len(data))
    return cuts


def fork_map(work: Callable[[int, int], T], n_items: int, workers: int) -> list[T]:
    """``[work(start, end) for each of `workers` contiguous slices of range(n_items)]``, in order.

    Slice 0 runs here while the others run in forked children.
    """
    global _mapping
    bounds = [n_items * i // workers for i in range(workers + 1)]
    if workers < 2:
        return [work(0, n_items)]
    import pickle  # here: most commands never fork, and start-up time counts

    _mapping = True
    # Objects the garbage collector never visits are not copied into a worker just because a collection
    # there touched their headers (which would copy most of a large heap, page by page).
    gc.freeze()
    children: list[tuple[int, int, int]] = []  # pid, its result file, slice index
    try:
        for w in range(1, workers):
            fd = _scratch_file()
            pid = os.fork()
            if pid == 0:  # the worker: compute its slice, leave it in the file, exit without running cleanup
                status = 1
                try:
                    global _in_worker
                    _in_worker = True
                    gc.disable()
                    view = memoryview(pickle.dumps(work(bounds[w], bounds[w + 1]), pickle.HIGHEST_PROTOCOL))
                    while view:
                        view = view[os.write(fd, view) :]
                    status = 0
                finally:
                    os._exit(status)
            children.append((pid, fd, w))
        results: list[T] = [work(bounds[0], bounds[1])]
        while children:
            pid, fd, w = children[0]
            _, status = os.waitpid(pid, 0)
            children.pop(0)
            result: T
            try:
                if status != 0:
                    raise ValueError("worker failed")
                with mmap.mmap(fd, os.fstat(fd).st_size, access=mmap.ACCESS_READ) as data:
                    result = pickle.loads(data)
            except Exception:  # redo the share here: the answer must not depend on a worker
                result = work(bounds[w], bounds[w + 1])
            finally:
                os.close(fd)
            results.append(result)
        return results
    finally:
        _mapping = False
        gc.unfreeze()
        for pid, fd, _ in children:  # interrupted: leave no worker or descriptor behind
            with contextlib.suppress(OSError):
                os.close(fd)
            with contextlib.suppress(OSError, ChildProcessError):
                os.kill(pid, 9)
                os.waitpid(pid, 0)


def _scratch_file() -> int:
    """A file only in memory (no name, gone when closed) where a worker leaves its result: unlike a pipe, the
    worker never waits for the parent to read, and the parent reads it in one go."""
    if hasattr(os, "memfd_create"):
        return os.memfd_create("aitelier-worker", os.MFD_CLOEXEC)
    import tempfile

    with tempfile.TemporaryFile() as f:  # pragma: no cover - macOS
        return os.dup(f.fileno())


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for bulk work over every example.

    Building 100,000 records sets off the collector again and again, and each pass walks every object built so
    far; what this code builds cannot form a cycle, so nothing is lost by waiting. Nested use is fine (only the
    outermost turns it back on).
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


__all__ = ["fork_map", "gc_paused", "line_pieces", "worker_count"]
