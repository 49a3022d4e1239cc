"""Paired figures against the peers, measured in one run: the npm aitelier 0.5.0 and the together SDK's file check.

    .venv/bin/python bench/bench_peers.py [--repeat 5] [--baseline PATH/TO/OLD/ait] [--only stats,split,...]

On the N-example project (AITELIER_BENCH_N, default 100,000 examples, about 152 MB, from bench/make_examples.py)
each measure runs the tools alternately (ait, peer, ait, peer, ...) so that a busy machine slows both alike, and
prints the medians and their ratio against the target of issue 8:

- `ait format` <= 0.8x npm's format on a first run (no derived caches), <= 0.3x on a second run with nothing
  changed;
- `ait validate FILE` <= 1.0x the together SDK's `check_file` of the same train file, run as a process like ours
  (`together files check` would do the same but needs a login); the in-process call is printed for reference;
- `ait stats` <= 0.5x npm; `ait add` <= 0.15x npm; first `ait split` <= 0.35x npm; opening `ait rate` (to the
  first example drawn, in a pseudo-terminal) <= 0.5x npm; `ait list` is reported without a target.

The npm tool is built from ../shared/peers with ../shared/tools/build-npm-peer into bench/.data/npm-peer (or
AITELIER_NPM_PEER names its dist/index.js). Without node or the peer's source, the npm ratios are skipped with one
line saying why. With --baseline (or AITELIER_BASELINE_AIT), an older `ait` is run in the same rotation and the
change against it is printed, for the "no figure gets worse by more than 10%" check.
Exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DATA, REPO, N, ait_cmd, examples_file  # noqa: E402

SHARED = REPO.parent / "shared"
# the together SDK's own file check, run as a process like ours (its CLI's `files check` needs a login)
SDK_CHECK = (
    "import sys; from together.lib.utils.files import check_file; "
    "sys.exit(0 if check_file(sys.argv[1])['is_check_passed'] else 1)"
)
Cmd = list[str]


def npm_peer() -> tuple[Cmd | None, str]:
    """The command that runs the npm tool, or None and the reason it is not available."""
    given = os.environ.get("AITELIER_NPM_PEER")
    if given:
        return ["node", given], given
    if shutil.which("node") is None:
        return None, "node is not installed"
    build = SHARED / "tools" / "build-npm-peer"
    if not build.exists():
        return None, f"{build} is absent (set AITELIER_NPM_PEER to the peer's dist/index.js)"
    out = subprocess.run(["bash", str(build), str(DATA / "npm-peer")], capture_output=True, text=True)
    if out.returncode != 0:
        return None, f"building the npm peer failed: {out.stderr.strip().splitlines()[-1:]}"
    index = out.stdout.strip().splitlines()[-1]
    return ["node", index], index


def compile_package() -> str:
    """Byte-compile the aitelier being measured, as `pip install` does: an editable install run with
    PYTHONDONTWRITEBYTECODE set would otherwise compile every module again on every start."""
    import compileall

    import aitelier

    folder = Path(aitelier.__file__).parent
    ok = compileall.compile_dir(str(folder), quiet=1)
    return f"bytecode of {folder} {'compiled' if ok else 'NOT compiled'}"


def project(name: str, *, split: bool = False) -> Path:
    """A fresh project directory holding the N examples (optionally split with a fixed seed by the old layout)."""
    root = DATA / name
    if root.exists():
        shutil.rmtree(root)
    (root / "data").mkdir(parents=True)
    cfg = {
        "name": name,
        "provider": "together",
        "model": "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
        "systemPrompt": "You are a support agent.",
        "qualityThreshold": 8,
        "runs": [],
    }
    (root / ".aitelier.json").write_text(json.dumps(cfg, indent=2) + "\n")
    shutil.copyfile(examples_file(N), root / "data" / "examples.jsonl")
    (root / "pristine.json").write_text(json.dumps(cfg, indent=2) + "\n")
    if split:
        subprocess.run([*ait_cmd(), "split"], cwd=root, capture_output=True, check=True)
    return root


def restore_unsplit(root: Path) -> None:
    shutil.copyfile(examples_file(N), root / "data" / "examples.jsonl")
    shutil.copyfile(root / "pristine.json", root / ".aitelier.json")
    for p in (root / "data").iterdir():
        if p.name != "examples.jsonl":
            p.unlink() if p.is_file() else shutil.rmtree(p)


def drop_derived(root: Path) -> None:
    """Remove what a first `format` would not find: its outputs and every derived cache under data/."""
    for p in (root / "data").iterdir():
        if p.name in ("train.jsonl", "val.jsonl") or (p.name.startswith(".") and "cache" in p.name):
            p.unlink() if p.is_file() else shutil.rmtree(p)


def run(cmd: Cmd, cwd: Path, *, check: bool = True) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child and its children) of one run.

    Dirty pages are written out first (sync): a tool that fsyncs its output (ait does, the npm tool does not)
    would otherwise also wait for the writeback of whatever the setup or the previous tool left in memory."""
    os.sync()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if check and p.returncode != 0:
        tail = (p.stderr or p.stdout).decode(errors="replace").strip().splitlines()[-3:]
        raise SystemExit(f"bench: `{' '.join(cmd)}` failed ({p.returncode}): {' | '.join(tail)}")
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def open_rate(cmd: Cmd, cwd: Path, ready: str) -> tuple[float, float]:
    """Seconds from starting an interactive rating command in a pseudo-terminal to its first example drawn."""
    import pexpect

    env = {**os.environ, "NO_COLOR": "1", "TERM": "xterm"}
    os.sync()
    t0 = time.perf_counter()
    child = pexpect.spawn(cmd[0], cmd[1:], cwd=str(cwd), env=env, encoding="utf-8", timeout=120)
    child.expect_exact(ready)
    wall = time.perf_counter() - t0
    child.terminate(force=True)
    child.close()
    return wall, float("nan")


class Table:
    def __init__(self) -> None:
        self.failed: list[str] = []

    def row(
        self,
        name: str,
        ours: list[tuple[float, float]],
        peer: list[tuple[float, float]] | None,
        target: float | None,
        peer_name: str,
        base: list[tuple[float, float]] | None = None,
    ) -> None:
        med = statistics.median(w for w, _ in ours)
        line = f"{name}: ait {med:.3f} s"
        cpu = [c for _, c in ours if c == c]
        if cpu:
            line += f" (CPU {statistics.median(cpu):.2f} s)"
        if peer:
            pmed = statistics.median(w for w, _ in peer)
            ratio = med / pmed
            line += f", {peer_name} {pmed:.3f} s, ratio {ratio:.2f}x"
            if target is not None:
                ok = ratio <= target
                line = f"{'PASS' if ok else 'FAIL'}  {line} (target <= {target}x)"
                if not ok:
                    self.failed.append(name)
            else:
                line = f"      {line}"
        else:
            line = f"SKIP  {line}" if target is not None else f"      {line}"
        if base:
            bmed = statistics.median(w for w, _ in base)
            line += f"; before {bmed:.3f} s ({(med / bmed - 1) * 100:+.0f}%)"
        print(line, flush=True)


def rotate(repeat: int, tools: dict[str, Callable[[], tuple[float, float]] | None]) -> dict[str, list]:
    out: dict[str, list] = {k: [] for k, v in tools.items() if v is not None}
    for _ in range(repeat):
        for k, fn in tools.items():
            if fn is not None:
                out[k].append(fn())
    return out


MEASURES = ("stats", "rate", "list", "format", "validate", "split", "add")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--baseline", default=os.environ.get("AITELIER_BASELINE_AIT"))
    ap.add_argument(
        "--only", help=f"comma-separated measures to run, of: {', '.join(MEASURES)} (default: all)"
    )
    a = ap.parse_args()
    only = set(MEASURES if a.only is None else a.only.split(","))
    if not only <= set(MEASURES):
        ap.error(f"--only takes {', '.join(MEASURES)}")
    ait = ait_cmd()
    compiled = compile_package()
    base = [a.baseline] if a.baseline else None
    npm, why = npm_peer()
    load = os.getloadavg()[0]
    print(
        f"{N:,} examples, {os.cpu_count()} CPUs, load average {load:.1f}, repeat {a.repeat}; npm peer: {why}; "
        f"{compiled}"
    )
    t = Table()
    r = a.repeat

    # read-only commands on one split project
    if only & {"stats", "rate", "list"}:
        shared_root = project("peers-split", split=True)
    if "stats" in only:
        res = rotate(
            r,
            {
                "ait": lambda: run([*ait, "stats"], shared_root),
                "npm": (lambda: run([*npm, "stats"], shared_root)) if npm else None,
                "base": (lambda: run([*base, "stats"], shared_root)) if base else None,
            },
        )
        t.row("stats", res["ait"], res.get("npm"), 0.5, "npm", res.get("base"))

    if "rate" in only:
        ready_ait, ready_npm = "q quit", "What would you like to do?"
        res = rotate(
            r,
            {
                "ait": lambda: open_rate([*ait, "rate"], shared_root, ready_ait),
                "npm": (lambda: open_rate([*npm, "rate"], shared_root, ready_npm)) if npm else None,
                "base": (lambda: open_rate([*base, "rate"], shared_root, ready_ait)) if base else None,
            },
        )
        t.row("opening rate (first example drawn)", res["ait"], res.get("npm"), 0.5, "npm", res.get("base"))

    if "list" in only:
        res = rotate(
            1,
            {
                "ait": lambda: run([*ait, "list"], shared_root),
                "npm": (lambda: run([*npm, "list", "--no-interactive"], shared_root)) if npm else None,
                "base": (lambda: run([*base, "list"], shared_root)) if base else None,
            },
        )
        t.row("list (every example)", res["ait"], res.get("npm"), None, "npm", res.get("base"))

    # format: a first run (outputs and caches removed before each) and a second run with nothing changed
    if only & {"format", "validate"}:
        roots = {k: project(f"peers-format-{k}", split=True) for k in ("ait", "npm", "base")}

    def cold(cmd: Cmd, root: Path) -> tuple[float, float]:
        drop_derived(root)
        return run(cmd, root)

    if "format" in only:
        res = rotate(
            r,
            {
                "ait": lambda: cold([*ait, "format"], roots["ait"]),
                "npm": (lambda: cold([*npm, "format"], roots["npm"])) if npm else None,
                "base": (lambda: cold([*base, "format"], roots["base"])) if base else None,
            },
        )
        t.row("format, first run", res["ait"], res.get("npm"), 0.8, "npm", res.get("base"))
        res = rotate(
            r,
            {
                "ait": lambda: run([*ait, "format"], roots["ait"]),
                "npm": (lambda: run([*npm, "format"], roots["npm"])) if npm else None,
                "base": (lambda: run([*base, "format"], roots["base"])) if base else None,
            },
        )
        t.row("format, second run (nothing changed)", res["ait"], res.get("npm"), 0.3, "npm", res.get("base"))

    # validate FILE against the together SDK's check of the same file
    if "validate" in only:
        train = roots["ait"] / "data" / "train.jsonl"
        if not train.exists():  # --only validate: the file the first format would have written
            run([*ait, "format"], roots["ait"])
        sdk_check = [sys.executable, "-c", SDK_CHECK, str(train)]
        res = rotate(
            r,
            {
                "ait": lambda: run([*ait, "validate", str(train), "--provider", "together"], roots["ait"]),
                "sdk": lambda: run(sdk_check, roots["ait"]),
                "base": (lambda: run([*base, "validate", str(train), "--provider", "together"], roots["ait"]))
                if base
                else None,
            },
        )
        t.row(
            f"validate FILE ({train.stat().st_size / 1e6:.0f} MB train file)",
            res["ait"],
            res["sdk"],
            1.0,
            "the SDK's check_file",
            res.get("base"),
        )
        from together.lib.utils.files import check_file

        inproc = []
        for _ in range(r):
            t0 = time.perf_counter()
            check_file(train)
            inproc.append(time.perf_counter() - t0)
        ours = statistics.median(w for w, _ in res["ait"])
        print(
            f"      (check_file called in-process, no start-up: {statistics.median(inproc):.3f} s; "
            f"ait validate FILE / that: {ours / statistics.median(inproc):.2f}x)"
        )

    # first split: the unsplit examples put back before every run
    if only & {"split", "add"}:
        split_roots = {k: project(f"peers-split-{k}") for k in ("ait", "npm", "base")}

    def first_split(cmd: Cmd, root: Path) -> tuple[float, float]:
        restore_unsplit(root)
        return run(cmd, root)

    if "split" in only:
        res = rotate(
            r,
            {
                "ait": lambda: first_split([*ait, "split"], split_roots["ait"]),
                "npm": (lambda: first_split([*npm, "split"], split_roots["npm"])) if npm else None,
                "base": (lambda: first_split([*base, "split"], split_roots["base"])) if base else None,
            },
        )
        t.row("split, first assignment", res["ait"], res.get("npm"), 0.35, "npm", res.get("base"))

    # add: a new conversation each run, from files
    counter = iter(range(10**6))

    def add(cmd: Cmd, root: Path, flags: tuple[str, str]) -> tuple[float, float]:
        i = next(counter)
        (root / "in.txt").write_text(f"bench question {i}: where is my order?\n")
        (root / "out.txt").write_text(f"bench answer {i}: it ships tomorrow.\n")
        return run([*cmd, "add", flags[0], "in.txt", flags[1], "out.txt"], root)

    if "add" in only:
        res = rotate(
            r,
            {
                "ait": lambda: add(ait, split_roots["ait"], ("--input", "--output")),
                "npm": (lambda: add(npm, split_roots["npm"], ("-i", "-o"))) if npm else None,
                "base": (lambda: add(base, split_roots["base"], ("--input", "--output"))) if base else None,
            },
        )
        t.row("add (one example)", res["ait"], res.get("npm"), 0.15, "npm", res.get("base"))

    if t.failed:
        print(f"missed: {', '.join(t.failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
