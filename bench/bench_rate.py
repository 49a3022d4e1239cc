"""Benchmarks for `ait rate` on a generated 100,000-example project (about 147 MB).

    .venv/bin/python bench/bench_rate.py            # N from AITELIER_BENCH_N, default 100000

Targets from the issue:
  * opening `ait rate` (start to the first example drawn, in a pseudo-terminal) <= 1.5 s
  * key press to durable save, p95 <= 30 ms

Measured three ways for the key press: the library path a key runs (RatingSession.rate = one journal append with
lock and fsync), the same for undo, and end to end through a real terminal (a key sent to `ait rate`, timed until
the journal on disk has grown). For the comparison the issue asks for, it also times what a save per key would
cost with a full rewrite of examples.jsonl (read, change one line, atomic rewrite): that is what compaction does
once at the end of a session.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import N, ait_cmd, make_project, summary, verdict  # noqa: E402


def p95(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[max(0, int(round(0.95 * len(ordered))) - 1)]


def ms(times: list[float]) -> str:
    return f"{summary(times)}, p95 {p95(times) * 1000:.1f} ms"


def spawn_rate(root: Path, *args: str) -> Any:
    import pexpect

    env = {**os.environ, "NO_COLOR": "1", "TERM": "xterm"}
    env.pop("EDITOR", None)
    env.pop("VISUAL", None)
    ait = ait_cmd()
    child = pexpect.spawn(
        ait[0],
        [*ait[1:], "rate", *args],
        cwd=str(root),
        env=env,
        encoding="utf-8",
        timeout=60,
        dimensions=(40, 120),
    )
    child.delaybeforesend = None  # pexpect sleeps 50 ms before every send by default
    return child


def open_times(root: Path, repeat: int = 5) -> list[float]:
    """Seconds from starting `ait rate` to the first example fully drawn (its keys line is the last thing)."""
    import pexpect

    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        child = spawn_rate(root)
        child.expect_exact("q quit")
        times.append(time.perf_counter() - t0)
        child.send("q")
        child.expect(pexpect.EOF)
        child.close()
    return times


def terminal_key_times(root: Path, keys: int = 100) -> list[float]:
    """Seconds from sending a rating key to `ait rate` until the journal on disk holds the new patch."""
    import pexpect

    journal = root / "data" / ".journal.jsonl"
    child = spawn_rate(root)
    child.expect_exact("q quit")
    time.sleep(1)  # a person reads before the first key; `ait rate` loads the lock library meanwhile
    times = []
    for i in range(keys):
        size = journal.stat().st_size if journal.exists() else 0
        t0 = time.perf_counter()
        child.send(str(1 + i % 9))
        while not journal.exists() or journal.stat().st_size == size:
            if time.perf_counter() - t0 > 10:
                raise RuntimeError("the key was not saved within 10 s")
            time.sleep(0.0002)
        times.append(time.perf_counter() - t0)
        child.expect_exact("q quit")  # let it finish drawing before the next key, as a person would
    child.send("q")
    child.expect(pexpect.EOF, timeout=120)
    child.close()
    return times


def main() -> None:
    from aitelier import Project
    from aitelier.rating import RatingSession

    root = make_project("bench-rate", N)
    store = Project.find(root).store

    t0 = time.perf_counter()
    read = store.read(full=True)
    full_read = time.perf_counter() - t0
    print(
        f"Store.read(full=True) of {len(read):,} examples (every line checked in full, which `ait rate` does not need): {full_read:.2f} s"
    )
    del read

    t0 = time.perf_counter()
    session = RatingSession.open(store)
    opened = time.perf_counter() - t0
    print(f"RatingSession.open (index of {N:,} examples, queue of {session.total:,}): {opened:.2f} s")

    rate_times, undo_times = [], []
    for i in range(300):
        t0 = time.perf_counter()
        session.rate(1 + i % 10)
        rate_times.append(time.perf_counter() - t0)
    for _ in range(100):
        t0 = time.perf_counter()
        session.undo()
        undo_times.append(time.perf_counter() - t0)
    print(f"key press -> durable save, library (rate: journal append + fsync): {ms(rate_times)}")
    print(f"undo -> durable save, library: {ms(undo_times)}")

    t0 = time.perf_counter()
    session.close()
    print(
        f"compaction at the end of that session ({len(rate_times) - len(undo_times)} ratings): "
        f"{time.perf_counter() - t0:.2f} s"
    )

    # the alternative the journal replaces: a full rewrite of examples.jsonl per key press
    rewrite_times = []
    for i in range(3):
        store.patch(1 + i, {"rating": 5})
        t0 = time.perf_counter()
        store.compact()  # read everything, apply, atomic rewrite: what a per-key rewrite would cost
        rewrite_times.append(time.perf_counter() - t0)
    print(f"one save as a full rewrite of examples.jsonl (for comparison): {summary(rewrite_times)}")

    root = make_project("bench-rate", N)  # fresh copy: the same queue for the terminal runs
    opens = open_times(root)
    print(f"open `ait rate` to the first example drawn (pty): {summary(opens)}")
    keys = terminal_key_times(root)
    print(f"key press -> durable save, end to end through a pty: {ms(keys)}")

    print(verdict("open ait rate (median)", statistics.median(opens), 1.5, " s"))
    print(verdict("open ait rate (slowest)", max(opens), 1.5, " s"))
    print(verdict("key -> durable save p95 (library)", p95(rate_times) * 1000, 30, " ms"))
    print(verdict("key -> durable save p95 (pty)", p95(keys) * 1000, 30, " ms"))


if __name__ == "__main__":
    main()
