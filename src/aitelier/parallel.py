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


def map_lines(
    fd: int, size: int, min_kb: int, work: Callable[[bytes, int, int], T], *, keep: bool = False
) -> tuple[bytes | None, list[T]]:
    """Run ``work(buf, end, offset)`` on the first ``size`` bytes of a file of lines, cut into one piece of
    whole lines per worker (a single piece below ``min_kb`` kilobytes or without forking): the piece is
    ``buf[:end]``, and ``buf[0]`` is at ``offset`` in the file. Each worker reads its own piece (``pread``), so
    the reading is shared out too. Returns the results in file order and, with ``keep``, the ``size`` bytes,
    which this process reads meanwhile (for a caller that copies from them; else it reads only its piece).

    A piece starts at the first line that starts at or after its share of the bytes. The pieces are read at
    different moments: a caller that must know they are the same bytes as the ones kept checks that the file
    did not change meanwhile (the store compares its size and modification time)."""
    workers = worker_count(size >> 10, min_kb)
    # with ``keep``, this process reads the whole file besides its piece: its piece is smaller by a seventh
    first = size // workers * 6 // 7 if keep else size // workers
    near = [0, *(first + (size - first) * k // (workers - 1) for k in range(workers - 1)), size]
    kept: list[bytes] = []

    def piece(k: int, _next: int) -> T:
        if k == 0 and (keep or workers == 1):
            buf = read_at(fd, 0, size)
            kept.append(buf)
            end = size if workers == 1 else _line_start(fd, size, near[1])
            return work(buf, min(end, len(buf)), 0)
        start, end = _line_start(fd, size, near[k]), _line_start(fd, size, near[k + 1])
        buf = read_at(fd, start, end)
        return work(buf, len(buf), start)

    results = fork_map(piece, workers, workers)  # the first piece always runs here
    return (kept[0] if keep else None), results


_PROBE = 1 << 16


def _line_start(fd: int, size: int, pos: int) -> int:
    """Where the first line that starts at or after ``pos`` starts (``size`` if none does): just after the
    first newline at or after ``pos - 1``, read in small steps."""
    if pos <= 0 or pos >= size:
        return max(0, min(pos, size))
    at = pos - 1
    while at < size:
        chunk = os.pread(fd, min(_PROBE, size - at), at)
        if not chunk:
            break
        newline = chunk.find(b"\n")
        if newline >= 0:
            return at + newline + 1
        at += len(chunk)
    return size


def read_at(fd: int, start: int, end: int) -> bytes:
    """The file's bytes from ``start`` to ``end`` (fewer if it ends sooner), with as few reads as it takes."""
    chunks: list[bytes] = []
    pos = start
    while pos < end and (chunk := os.pread(fd, end - pos, pos)):
        chunks.append(chunk)
        pos += len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


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


__all__ = ["fork_map", "gc_paused", "map_lines", "read_at", "worker_count"]
