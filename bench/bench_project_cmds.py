"""Benchmarks for the core commands on a generated 100,000-example project (about 147 MB).

    .venv/bin/python bench/bench_project_cmds.py            # N from AITELIER_BENCH_N, default 100000

Target from the issue: `ait add` <= 300 ms. Also reported (no target): a small `ait import` (which finds
duplicates with byte searches), a 100-line import (which parses the store once), `ait show` and `ait list`.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import N, ait_cmd, make_project, summary, time_cmd, verdict  # noqa: E402


def main() -> None:
    root = make_project("bench-core", N)
    ait = ait_cmd()
    conv = root / "conv.json"
    results = {}

    # `ait add`: a fresh conversation each run (so no duplicate path), from a file
    times = []
    for i in range(7):
        conv.write_text(
            json.dumps(
                [
                    {"role": "user", "content": f"benchmark question {i}"},
                    {"role": "assistant", "content": "benchmark answer"},
                ]
            )
        )
        times += time_cmd([*ait, "add", "--messages", str(conv)], cwd=root, repeat=1)
    results["add"] = times
    print(f"ait add ({N:,} examples): {summary(times)}")

    small = root / "small.jsonl"
    small.write_text(
        "".join(json.dumps({"prompt": f"small {i}", "completion": "a"}) + "\n" for i in range(5))
    )
    results["import5"] = time_cmd([*ait, "import", str(small), "--dry-run"], cwd=root, repeat=3)
    print(f"ait import --dry-run, 5 lines: {summary(results['import5'])}")

    big = root / "big.jsonl"
    big.write_text("".join(json.dumps({"prompt": f"big {i}", "completion": "a"}) + "\n" for i in range(100)))
    results["import100"] = time_cmd([*ait, "import", str(big), "--dry-run"], cwd=root, repeat=3)
    print(f"ait import --dry-run, 100 lines: {summary(results['import100'])}")

    results["show"] = time_cmd([*ait, "show", "50000"], cwd=root, repeat=3)
    print(f"ait show 50000: {summary(results['show'])}")
    results["list"] = time_cmd([*ait, "list", "--min", "10", "--limit", "20"], cwd=root, repeat=3)
    print(f"ait list --min 10 --limit 20: {summary(results['list'])}")

    print(verdict("ait add median", statistics.median(results["add"]), 0.300, "s"))


if __name__ == "__main__":
    main()
