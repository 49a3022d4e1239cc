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
from typing import Any, TypeVar

Buffer = bytes | mmap.mmap  # the bytes of a file, read or mapped

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


def map_lines(data: Buffer, min_kb: int, work: Callable[[Buffer, int, int], T]) -> list[T]:
    """``[work(data, start, end) for each piece]`` in order: ``data`` (a file's bytes, :func:`map_file`) cut
    into one piece of whole lines per worker (a single piece below ``min_kb`` kilobytes or without forking). A
    piece starts at the first line that starts at or after its share of the bytes."""
    size = len(data)
    return fork_map(
        lambda a, b: work(data, _line_start(data, size, a), _line_start(data, size, b)),
        size,
        worker_count(size >> 10, min_kb),
    )


def map_file(fd: int, size: int) -> Buffer:
    """The first ``size`` bytes of a file, mapped read-only where the system can (else read into memory): no
    copy, and the pages the page cache holds are mapped in one call, not faulted in one by one (a tenth of a
    second for 150 MB); forked workers share them.

    Mapped bytes are the file's as it is: a program that writes the file in place changes them, and one that
    truncates it makes reading past its new end fatal (SIGBUS). ait never does either to a file it maps (it
    replaces files whole, or appends); a caller that keeps the mapping checks that the file did not change.
    Windows (which cannot replace a mapped file) reads."""
    if size <= 0:
        return b""
    if hasattr(mmap, "MAP_SHARED"):
        try:
            flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
            return mmap.mmap(fd, size, flags=flags, prot=mmap.PROT_READ)
        except (OSError, ValueError):  # a file that cannot be mapped (some file systems)
            pass
    return read_at(fd, 0, size)


WINDOW = 1 << 18


def windows(data: Buffer, start: int, end: int) -> Iterator[tuple[bytes, int]]:
    """``data[start:end]`` (whole lines) as copies of about 256 KB each, whole lines too, with where each starts in
    ``data``: quick to search (a mapping's own ``find`` is a byte-by-byte loop before Python 3.12), in the
    processor's cache, and small enough that the allocator gives one's memory to the next. (4 MB copies took fresh
    pages each time: splitting half of a 152 MB file into lines, and nothing else, cost 11,000 page faults and
    0.12-0.25 s against 0.07 s; in a whole read, which does much more per line, 3,000 faults and no measurable time.)
    """
    while start < end:
        stop = min(start + WINDOW, end)
        chunk = data[start:stop]
        if stop < end:
            cut = chunk.rfind(b"\n") + 1
            if cut == 0:  # a line longer than a window: the whole line
                stop = _line_start(data, end, stop)
                chunk = data[start:stop]
            elif cut < len(chunk):
                chunk, stop = chunk[:cut], start + cut
        yield chunk, start
        start = stop


def _line_start(data: Buffer, size: int, pos: int) -> int:
    """Where the first line that starts at or after ``pos`` starts (``size`` if none does)."""
    if pos <= 0:
        return 0
    newline = data.find(b"\n", pos - 1, size)
    return size if newline < 0 else newline + 1


def read_at(fd: int, start: int, end: int) -> bytes:
    """The file's bytes from ``start`` to ``end`` (fewer if it ends sooner), with as few reads as it takes."""
    chunks: list[bytes] = []
    pos = start
    while pos < end and (chunk := os.pread(fd, end - pos, pos)):
        chunks.append(chunk)
        pos += len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


PARENT_EXTRA = 0.02


def fork_map(work: Callable[[int, int], T], n_items: int, workers: int) -> list[T]:
    """``[work(start, end) for each of `workers` contiguous slices of range(n_items)]``, in order.

    Slice 0 runs here while the others run in forked children. It is the larger by PARENT_EXTRA of all: a worker
    goes through its items a few % slower (its first touch of each page it shares with this process costs a
    fault), then sends its result, and this process only waits for the last one.
    """
    global _mapping
    if workers < 2:
        return [work(0, n_items)]
    mine = 1 / workers + PARENT_EXTRA
    step = (1 - mine) / (workers - 1)
    bounds = [0, *(round(n_items * (mine + step * k)) for k in range(workers - 1)), n_items]
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
                    _send(fd, work(bounds[w], bounds[w + 1]))
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
                result = _receive(fd)
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


def _send(fd: int, result: object) -> None:
    """Leave ``result`` in the file ``fd``: how many parts and their sizes, its pickle, then the bytes of every
    ``pickle.PickleBuffer`` in it apart (out of band: a large buffer is written once, not copied into the pickle)."""
    import pickle

    buffers: list[pickle.PickleBuffer] = []
    parts: list[bytes | memoryview] = [pickle.dumps(result, 5, buffer_callback=buffers.append)]
    parts += (b.raw() for b in buffers)
    head = b"".join(n.to_bytes(8, "little") for n in (len(parts), *map(len, parts)))
    for part in (head, *parts):
        view = memoryview(part)
        while view:
            view = view[os.write(fd, view) :]


def _receive(fd: int) -> Any:
    """What :func:`_send` left in ``fd``; each out-of-band buffer comes back as a memoryview of the file mapped
    (no copy: the mapping lives as long as the views)."""
    import pickle
    from itertools import accumulate

    data = memoryview(mmap.mmap(fd, os.fstat(fd).st_size, access=mmap.ACCESS_READ))
    n = int.from_bytes(data[:8], "little")
    sizes = (int.from_bytes(data[8 * i : 8 * i + 8], "little") for i in range(1, n + 1))
    ends = list(accumulate(sizes, initial=8 * n + 8))
    parts = [data[a:b] for a, b in zip(ends, ends[1:], strict=False)]
    return pickle.loads(parts[0], buffers=parts[1:])


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


__all__ = ["Buffer", "fork_map", "gc_paused", "map_file", "map_lines", "read_at", "windows", "worker_count"]
