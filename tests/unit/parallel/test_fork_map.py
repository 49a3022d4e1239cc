"""fork_map's results come back from the workers as they were built; large buffers without a copy into the
pickle."""

from __future__ import annotations

import os
import pickle

import pytest

from aitelier import parallel


@pytest.fixture
def forking(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AITELIER_NO_FORK", raising=False)
    if not hasattr(os, "fork"):
        pytest.skip("no fork here")


def test_a_buffer_in_a_result_comes_back_as_the_same_bytes(forking: None) -> None:
    def work(start: int, end: int) -> tuple[int, list[int], pickle.PickleBuffer, int]:
        blob = bytearray(b"".join(b"line %d\n" % i for i in range(start * 1000, end * 1000)))
        return os.getpid(), list(range(start, end)), pickle.PickleBuffer(blob), len(blob)

    results = parallel.fork_map(work, 3, 3)
    assert [r[1] for r in results] == [[0], [1], [2]]
    assert results[0][0] == os.getpid() and {r[0] for r in results[1:]}.isdisjoint({os.getpid()})
    for k, (_pid, _ids, buf, size) in enumerate(results):
        expected = b"".join(b"line %d\n" % i for i in range(k * 1000, (k + 1) * 1000))
        assert len(memoryview(buf)) == size and bytes(memoryview(buf)) == expected
    # a worker's buffer is a view of what it left in memory, not a copy unpickled from it
    assert all(type(r[2]) is memoryview and r[2].readonly for r in results[1:])


def test_a_worker_that_fails_has_its_share_done_here(forking: None) -> None:
    parent = os.getpid()

    def work(start: int, end: int) -> tuple[int, pickle.PickleBuffer]:
        if os.getpid() != parent:
            os._exit(3)  # a worker dies without a result
        return start, pickle.PickleBuffer(bytearray(b"x" * (start + 1)))

    results = parallel.fork_map(work, 2, 2)
    assert [(s, bytes(memoryview(b))) for s, b in results] == [(0, b"x"), (1, b"xx")]


def test_the_slices_cover_everything_in_order_and_this_process_takes_the_larger(forking: None) -> None:
    for n, workers in ((1000, 2), (1000, 3), (7, 4), (1, 2), (0, 2)):
        slices = parallel.fork_map(lambda start, end: (start, end), n, workers)
        assert len(slices) == workers and slices[0][0] == 0 and slices[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(slices, slices[1:], strict=False))
        assert all(start <= end for start, end in slices)
    [(a, b), (c, d)] = parallel.fork_map(lambda start, end: (start, end), 1000, 2)
    assert (b - a) - (d - c) == round(2 * 1000 * parallel.PARENT_EXTRA)  # 520 here, 480 in the worker
