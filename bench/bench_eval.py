"""Figures for `ait eval`: concurrent generation and the answer cache, against the loopback fake Together
server answering each chat call in 200 ms (the issue's figures).

    .venv/bin/python bench/bench_eval.py          # about 2 minutes (the concurrency-1 run alone is 80 s)
    .venv/bin/python bench/bench_eval.py --quick  # skip the concurrency-1 run

- start-up: from starting `ait eval` until its first call reaches the server (process start, imports, the SDK,
  reading the project). Generation is the rest of the run's wall time (the calls, then writing the file).
- 400 generations at --concurrency 16 (median of 3, --no-cache): generation <= 1.15 x the ideal
  400 x 0.2 s / 16 = 5 s.
- the same at --concurrency 1: at least 12x slower than at 16 (wall times).
- a second run: zero calls, and under 1 s more than `ait --version` (the bare process start).
Exits 1 if any target is missed.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "tests"))

from common import ait_cmd, verdict  # noqa: E402

from helpers import evals, fakes  # noqa: E402

N_VAL = 400
LATENCY = 0.2
CHAT = "/v1/chat/completions"


def main() -> int:
    quick = "--quick" in sys.argv
    server = fakes.together()
    server.latency("POST", CHAT, LATENCY)
    env = {
        "PATH": "/usr/bin:/bin",
        "TOGETHER_API_KEY": server.api_key,
        "TOGETHER_BASE_URL": server.url,
        "NO_COLOR": "1",
    }
    root = Path(tempfile.mkdtemp(prefix="ait-bench-eval-")) / "p"
    evals.make_project(root, n_val=N_VAL, n_train=10)
    base = [*ait_cmd(), "-C", str(root)]

    starts: list[float] = []  # start-up of each run that made calls

    def run(*args: str) -> tuple[float, int]:
        before = len(server.calls("POST", CHAT))
        t0 = time.monotonic()
        p = subprocess.run([*base, *args], capture_output=True, text=True, env=env, check=False)
        elapsed = time.monotonic() - t0
        if p.returncode != 0:
            raise SystemExit(f"ait {' '.join(args)} failed ({p.returncode}): {p.stderr.strip()}")
        made = server.calls("POST", CHAT)[before:]
        if made:
            starts.append(min(r.at for r in made) - t0)
        return elapsed, len(made)

    ideal = N_VAL * LATENCY / 16
    try:
        c16 = [run("eval", "--no-score", "--no-cache", "--concurrency", "16") for _ in range(3)]
        assert all(calls == N_VAL for _, calls in c16)
        cached = [run("eval", "--no-score", "--concurrency", "16") for _ in range(3)]
        bare = []
        for _ in range(3):
            t0 = time.perf_counter()
            subprocess.run([*ait_cmd(), "--version"], capture_output=True, env=env, check=False)
            bare.append(time.perf_counter() - t0)
        startup = statistics.median(starts)
        second = statistics.median(t for t, _ in cached)
        wall16 = statistics.median(t for t, _ in c16)
        gen16 = wall16 - startup
        print(
            f"start-up (until the first call arrives): {startup:.2f} s; `ait --version`: "
            f"{statistics.median(bare):.2f} s; a second run (all cached): {second:.2f} s"
        )
        print(
            f"400 generations at concurrency 16: wall {wall16:.2f} s (runs {', '.join(f'{t:.2f}' for t, _ in c16)})"
        )
        print(f"  generation {gen16:.2f} s = {gen16 / ideal:.2f}x the ideal {ideal:.1f} s")
        results = [verdict("generation / ideal at concurrency 16", gen16 / ideal, 1.15, "x")]
        calls_again = max(calls for _, calls in cached)
        results.append(verdict("calls made by a second run", calls_again, 0))
        results.append(
            verdict("second run minus `ait --version`", second - statistics.median(bare), 1.0, " s")
        )
        if not quick:
            wall1, calls1 = run("eval", "--no-score", "--no-cache", "--concurrency", "1")
            assert calls1 == N_VAL
            print(
                f"400 generations at concurrency 1: wall {wall1:.2f} s; {wall1 / wall16:.1f}x the concurrency-16 wall"
            )
            results.append(
                verdict("concurrency-16 wall / concurrency-1 wall", wall16 / wall1, round(1 / 12, 4))
            )
    finally:
        server.stop()
    for line in results:
        print(line)
    return 1 if any(line.startswith("FAIL") for line in results) else 0


if __name__ == "__main__":
    sys.exit(main())
