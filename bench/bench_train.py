"""Figures for `ait train`, `ait status` and `ait cancel`, against the loopback fake Together server.

    .venv/bin/python bench/bench_train.py        # N from AITELIER_BENCH_N, default 100000 (about 150 MB)

- `ait train --dry-run` on an N-example train.jsonl: the local pre-flight (SHA-256, line count, the provider's
  rules and token counts through the formats module) plus the SDK import and one limits request. Target: at
  most 2 s more than `ait validate data/train.jsonl --val data/val.jsonl` (the same rules), measured here too,
  so the figure is what train adds on top of validation.
- `ait train --yes` end to end (upload with Together's 302 + PUT + preprocess flow, validation poll, price,
  create) on the same files; reported, no target (it is dominated by the same pre-flight).
- `ait status --all` on a project with 500 finished runs: no SDK import, no network; target <= 0.5 s median.
- `ait status` of one running job (SDK import, three requests, loss curve); target <= 2 s median.
Exits 1 if any target is missed.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import REPO, N, ait_cmd, make_project, summary, time_cmd, verdict  # noqa: E402


def _fakes() -> object:
    """The loopback fake servers the tests use (tests/helpers/fakes.py loads them)."""
    sys.path.insert(0, str(REPO / "tests"))
    from helpers.fakes import package

    return package().together


def formatted_project(name: str, n: int) -> Path:
    """A project whose train/val files hold the N bench examples (as `ait format` would write them)."""
    root = make_project(name, n)
    data = root / "data"
    with (
        (data / "examples.jsonl").open(encoding="utf-8") as src,
        (data / "train.jsonl").open("w", encoding="utf-8") as train,
        (data / "val.jsonl").open("w", encoding="utf-8") as val,
    ):
        for i, line in enumerate(src):
            out = json.dumps({"messages": json.loads(line)["messages"]}, ensure_ascii=False) + "\n"
            (val if i % 10 == 0 else train).write(out)
    old = (data / "train.jsonl").stat().st_mtime - 100
    os.utime(data / "examples.jsonl", (old, old))
    return root


def main() -> None:
    fake_mod = _fakes()
    server = fake_mod.FakeTogether().start()  # type: ignore[attr-defined]
    os.environ.update(
        TOGETHER_API_KEY=server.api_key,
        TOGETHER_BASE_URL=server.url,
        AITELIER_POLL_INTERVAL="0.01",
        AITELIER_TIMEOUT="120",
    )
    ait = ait_cmd()
    repeat = 3
    results = []

    root = formatted_project("bench-train", N)
    size = (root / "data" / "train.jsonl").stat().st_size / 1e6
    dry = time_cmd([*ait, "train", "--dry-run"], cwd=root, repeat=repeat)
    print(f"ait train --dry-run ({N:,} examples, train.jsonl {size:.0f} MB): {summary(dry)}")
    val = time_cmd(
        [*ait, "validate", "data/train.jsonl", "--val", "data/val.jsonl", "--provider", "together"],
        cwd=root,
        repeat=repeat,
    )
    print(f"ait validate of the same files (the rules alone): {summary(val)}")
    extra = statistics.median(dry) - statistics.median(val)
    results.append(verdict("ait train --dry-run minus ait validate, medians", extra, 2.0, "s"))

    real = time_cmd([*ait, "train", "--yes", "--force-new"], cwd=root, repeat=1)
    jobs = len(server.jobs)
    print(
        f"ait train --yes (upload {size:.0f} MB + validate + price + create): {summary(real)}; jobs: {jobs}"
    )

    one = time_cmd([*ait, "status"], cwd=root, repeat=repeat)
    print(f"ait status (one running job: refresh, events, loss curve): {summary(one)}")
    results.append(verdict("ait status median", statistics.median(one), 2.0, "s"))

    many = make_project("bench-status", 10)
    cfg = json.loads((many / ".aitelier.json").read_text())
    cfg["runs"] = [
        {
            "id": f"run-{i:012x}",
            "provider": "together",
            "baseModel": "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
            "status": "succeeded",
            "providerStatus": "completed",
            "jobId": f"ft-{i:08d}",
            "fineTunedModel": f"user/model-{i}",
            "startedAt": "2026-11-25T10:00:00.000Z",
            "finishedAt": "2026-11-25T11:00:00.000Z",
        }
        for i in range(500)
    ]
    (many / ".aitelier.json").write_text(json.dumps(cfg, indent=2) + "\n")
    before = len(server.requests)
    table = time_cmd([*ait, "status", "--all"], cwd=many, repeat=5)
    assert len(server.requests) == before, "status --all asked the provider about finished runs"
    print(f"ait status --all (500 finished runs, no network): {summary(table)}")
    results.append(verdict("ait status --all median", statistics.median(table), 0.5, "s"))

    server.stop()
    for line in results:
        print(line)
    sys.exit(1 if any(line.startswith("FAIL") for line in results) else 0)


if __name__ == "__main__":
    main()
