"""Benchmarks for `ait split` and `ait format` on a generated 100,000-example project (about 147 MB).

    .venv/bin/python bench/bench_data.py            # N from AITELIER_BENCH_N, default 100000

Targets from the issue: `ait split` <= 2 s and `ait format` (full validation and token counting) <= 5 s at
100k. Also measured: the together SDK's own file check (`together.lib.utils.files.check_file`, which only
checks that each line is a JSON object) on the produced train file, and the ratio of `ait format` to it; and
the two ways of counting tokens offline (tiktoken's batch encode vs bpe-openai's Rust counter) on the texts
`format` counts, so the choice of counter is backed by a number.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import N, ait_cmd, examples_file, make_project, summary, time_cmd, verdict  # noqa: E402


def cpu_cmd(args: list[str], *, cwd: Path, repeat: int) -> list[float]:
    """CPU seconds (user + system, the command and its workers) of each run: less sensitive than wall-clock
    time to other processes competing for the cores."""
    import resource
    import subprocess

    out = []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(args, cwd=cwd, capture_output=True, check=False)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        out.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return out


def _fresh_examples(root: Path) -> None:
    """Put back the generated examples (no splits) so each split run does the full assignment."""
    shutil.copyfile(examples_file(N), root / "data" / "examples.jsonl")
    cfg_path = root / ".aitelier.json"
    cfg = json.loads(cfg_path.read_text())
    cfg.pop("splitSeed", None)
    cfg.pop("splitRatio", None)
    cfg_path.write_text(json.dumps(cfg, indent=2) + "\n")


def bench_split(root: Path, ait: list[str], repeat: int) -> tuple[list[float], list[float]]:
    first = []
    for _ in range(repeat):
        _fresh_examples(root)
        first += time_cmd([*ait, "split"], cwd=root, repeat=1)
    again = time_cmd([*ait, "split"], cwd=root, repeat=repeat)  # nothing new: reads, plans, writes nothing
    return first, again


def bench_sdk_check(path: Path, repeat: int) -> list[float]:
    from together.lib.utils.files import check_file

    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        report = check_file(path)
        times.append(time.perf_counter() - t0)
        assert report["is_check_passed"], report
    return times


def bench_counters(root: Path) -> dict[str, float]:
    """Seconds to count the distinct texts of the produced train file: tiktoken batch vs bpe-openai."""
    from aitelier import tokens
    from aitelier.parallel import worker_count

    texts: dict[str, None] = {}
    with open(root / "data" / "train.jsonl", encoding="utf-8") as f:
        for line in f:
            for m in json.loads(line)["messages"]:
                texts[m["content"]] = None
    distinct = list(texts)
    out: dict[str, float] = {"texts": float(len(distinct)), "mb": sum(map(len, distinct)) / 1e6}
    enc = tokens.tiktoken_encoding("cl100k_base")
    for threads in (1, 2):
        t0 = time.perf_counter()
        a = sum(map(len, enc.encode_ordinary_batch(distinct, num_threads=threads)))
        out[f"tiktoken batch, {threads} thread(s)"] = time.perf_counter() - t0
    c = tokens.counter("cl100k_base")
    t0 = time.perf_counter()
    b = sum(c.count(t) for t in distinct)
    out["bpe-openai count, 1 process"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    b2 = sum(c.count_many(distinct))
    workers = worker_count(len(distinct), tokens.PARALLEL_MIN_TEXTS)
    out[f"bpe-openai count_many, {workers} process(es)"] = time.perf_counter() - t0
    assert a == b == b2, (a, b, b2)
    return out


def main() -> None:
    repeat = 3
    root = make_project("bench-data", N)
    ait = ait_cmd()

    split_first, split_again = bench_split(root, ait, repeat)
    print(f"ait split, first assignment of {N:,} examples: {summary(split_first)}")
    print(f"ait split, nothing new to assign: {summary(split_again)}")

    fmt = time_cmd([*ait, "format"], cwd=root, repeat=repeat)
    print(f"ait format (validation + token counting + write): {summary(fmt)}")
    fmt_cpu = cpu_cmd([*ait, "format"], cwd=root, repeat=repeat)
    print(f"ait format CPU time (all processes): {summary(fmt_cpu)}")
    val = time_cmd([*ait, "validate"], cwd=root, repeat=repeat)
    print(f"ait validate (the same checks, no write): {summary(val)}")

    train = root / "data" / "train.jsonl"
    size = train.stat().st_size / 1e6
    n_train = train.read_bytes().count(b"\n")
    sdk = bench_sdk_check(train, repeat)
    print(f"together SDK check_file on train.jsonl ({n_train:,} lines, {size:.0f} MB): {summary(sdk)}")
    ratio = statistics.median(fmt) / statistics.median(sdk)
    print(
        f"ratio ait format / SDK check: {ratio:.2f}x (aim <= 1.0x; format also counts tokens and checks more)"
    )
    # the same file the SDK checks, with every rule and the token count (and process start-up)
    vfile = time_cmd([*ait, "validate", str(train), "--provider", "together"], cwd=root, repeat=repeat)
    vratio = statistics.median(vfile) / statistics.median(sdk)
    print(f"ait validate data/train.jsonl --provider together: {summary(vfile)}")
    print(f"ratio ait validate FILE / SDK check: {vratio:.2f}x")

    counters = bench_counters(root)
    print(f"token counting of {int(counters.pop('texts')):,} distinct texts ({counters.pop('mb'):.0f} MB):")
    for name, secs in counters.items():
        print(f"  {name}: {secs * 1000:.0f} ms")

    print(verdict("ait split (first assignment) median", statistics.median(split_first), 2.0, "s"))
    print(verdict("ait split (nothing new) median", statistics.median(split_again), 2.0, "s"))
    print(verdict("ait format median", statistics.median(fmt), 5.0, "s"))
    print(verdict("ait format / SDK check", ratio, 1.0, "x"))


if __name__ == "__main__":
    main()
