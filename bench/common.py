"""Shared benchmark helpers: the 100,000-example project everyone measures against, and timing."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "bench" / ".data"
N = int(os.environ.get("AITELIER_BENCH_N", "100000"))


def examples_file(n: int = N, seed: int = 7) -> Path:
    """The seeded synthetic examples (bench/make_examples.py), generated once into bench/.data, then reused."""
    from make_examples import write

    DATA.mkdir(parents=True, exist_ok=True)
    out = DATA / f"examples-{n}-{seed}.jsonl"
    if not out.exists():
        tmp = out.with_suffix(".tmp")
        write(n, str(tmp), seed=seed)
        tmp.rename(out)
    return out


def make_project(name: str, n: int = N, provider: str = "together") -> Path:
    """A fresh project directory holding the n-example file (copied, so benchmarks may modify it)."""
    root = DATA / name
    if root.exists():
        shutil.rmtree(root)
    (root / "data").mkdir(parents=True)
    cfg = {
        "name": name,
        "provider": provider,
        "model": "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
        "systemPrompt": "You are a support agent.",
        "qualityThreshold": 8,
        "runs": [],
    }
    (root / ".aitelier.json").write_text(json.dumps(cfg, indent=2) + "\n")
    shutil.copyfile(examples_file(n), root / "data" / "examples.jsonl")
    return root


def ait_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "ait"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "aitelier"]


def time_cmd(
    args: list[str], *, cwd: Path | None = None, repeat: int = 5, input: str | None = None
) -> list[float]:
    """Wall-clock seconds of each run of a command."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(args, cwd=cwd, input=input, text=True, capture_output=True, check=False)
        times.append(time.perf_counter() - t0)
    return times


def peak_rss_mb(args: list[str], *, cwd: Path | None = None) -> tuple[float, float]:
    """(seconds, peak resident memory in MB) of one run, via /usr/bin/time-free getrusage on the child."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    subprocess.run(args, cwd=cwd, capture_output=True, check=False)
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the max over all waited-for children: run this in a fresh process for accuracy
    return elapsed, max(after, before) / 1024


def summary(times: list[float]) -> str:
    return f"median {statistics.median(times) * 1000:.0f} ms (min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}, n={len(times)})"


def verdict(name: str, value: float, target: float, unit: str = "") -> str:
    ok = "PASS" if value <= target else "FAIL"
    return f"{ok}  {name}: {value:.3f}{unit} (target <= {target}{unit})"
