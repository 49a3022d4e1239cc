"""The issue's figures for the core: start-up, `ait add`, `ait stats` (time and peak memory) on 100,000 examples.

    .venv/bin/python bench/bench_core.py          # N from AITELIER_BENCH_N, default 100000 (about 150 MB)

Each line says PASS or FAIL against its target:
- `ait --help` and `ait --version` median wall time <= 0.15 x `together --help` median, measured in the same run;
- `ait add --input/--output` on the N-example project <= 300 ms (median, a new conversation each run);
- `ait stats` <= 1.5 s (median) and peak resident memory <= 500 MB (getrusage of a fresh child process).
Also reported without a target: `ait stats --json`, `ait doctor`, and the library append alone.
Exits 1 if any target is missed.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import N, ait_cmd, make_project, summary, time_cmd, verdict  # noqa: E402

# Run in a fresh interpreter so RUSAGE_CHILDREN holds exactly one child: the command measured.
_PEAK = """
import resource, subprocess, sys, time
t = time.perf_counter()
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
elapsed = time.perf_counter() - t
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(rc, elapsed, ru.ru_maxrss / 1024 if sys.platform == "darwin" else ru.ru_maxrss, ru.ru_utime + ru.ru_stime)
"""


def peak(args: list[str], cwd: Path) -> tuple[int, float, float, float]:
    """(exit status, wall seconds, peak RSS in MB, CPU seconds) of one run of ``args``."""
    out = subprocess.run(
        [sys.executable, "-c", _PEAK, *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout.split()
    return int(out[0]), float(out[1]), float(out[2]) / 1024, float(out[3])


def together_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "together"
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-m", "together.cli.cli"]  # pragma: no cover - the console script is normal


def main() -> int:
    ait = ait_cmd()
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs{load}, Python {platform.python_version()}")
    failed = []

    def check(name: str, value: float, target: float, unit: str = "") -> None:
        line = verdict(name, value, target, unit)
        print(line)
        if line.startswith("FAIL"):
            failed.append(name)

    # -- start-up ----------------------------------------------------------------------------------------------
    time_cmd([*ait, "--version"], repeat=2)  # warm the disk cache for both
    time_cmd([*together_cmd(), "--help"], repeat=1)
    together = time_cmd([*together_cmd(), "--help"], repeat=7)
    help_ = time_cmd([*ait, "--help"], repeat=15)
    version = time_cmd([*ait, "--version"], repeat=15)
    print(f"together --help: {summary(together)}")
    print(f"ait --help:      {summary(help_)}")
    print(f"ait --version:   {summary(version)}")
    base = statistics.median(together)
    check("ait --help / together --help", statistics.median(help_) / base, 0.15)
    check("ait --version / together --help", statistics.median(version) / base, 0.15)

    # -- on the big project ------------------------------------------------------------------------------------
    t0 = time.perf_counter()
    root = make_project("core-bench", N)
    size = (root / "data" / "examples.jsonl").stat().st_size
    print(f"\nproject: {N:,} examples, {size / 1e6:.0f} MB (set up in {time.perf_counter() - t0:.1f} s)")

    inp = root / "in.txt"
    inp.write_text("Where is my order? It has been ten days.\n")
    add_times = []
    for i in range(9):
        out = root / "out.txt"
        out.write_text(f"Sorry about the wait: here is what happened to order {i}.\n")
        add_times += time_cmd([*ait, "add", "--input", str(inp), "--output", str(out)], cwd=root, repeat=1)
    print(f"ait add --input/--output: {summary(add_times)}")
    check("ait add median", statistics.median(add_times), 0.300, "s")

    runs = [peak([*ait, "stats"], root) for _ in range(5)]
    if any(rc != 0 for rc, _, _, _ in runs):
        print("FAIL  ait stats exited non-zero")
        failed.append("ait stats exit status")
    stats_times = [t for _, t, _, _ in runs]
    stats_peak = max(mb for _, _, mb, _ in runs)
    cpu = statistics.median(c for _, _, _, c in runs)
    print(f"ait stats: {summary(stats_times)}, CPU median {cpu * 1000:.0f} ms, peak RSS {stats_peak:.0f} MB")
    check("ait stats median", statistics.median(stats_times), 1.5, "s")
    check("ait stats peak RSS", stats_peak, 500, " MB")

    print(f"ait stats --json (no target): {summary(time_cmd([*ait, 'stats', '--json'], cwd=root, repeat=3))}")
    rc, secs, mb, _ = peak([*ait, "doctor"], root)
    print(f"ait doctor (no target): {secs * 1000:.0f} ms, peak RSS {mb:.0f} MB, exit {rc}")

    # the library append alone, without interpreter start-up
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from aitelier import Project

    project = Project.find(root)
    lib = []
    for i in range(9):
        t = time.perf_counter()
        project.store.append([{"messages": [{"role": "user", "content": f"library append {i}"}]}])
        lib.append(time.perf_counter() - t)
    print(f"Store.append in-process (no target): {summary(lib)}")

    print("\nall targets met" if not failed else f"\nmissed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
