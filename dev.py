#!/usr/bin/env python3
"""Developer entry point: the README's two quick-start commands.

    python3 dev.py demo    # offline demo of the main job in ./demo (no API keys, no network)
    python3 dev.py test    # lint, type check and the whole test suite (what CI runs)

Both create ./.venv on first use and install aitelier into it (with the dev extras for `test`), so a fresh
machine needs only Python >= 3.10 and access to the package registry.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")


def sh(*args: str | Path, check: bool = True, **kw) -> int:
    print("+", " ".join(str(a) for a in args), flush=True)
    rc = subprocess.run([str(a) for a in args], **kw).returncode
    if check and rc != 0:
        sys.exit(rc)
    return rc


def ensure_venv(extras: str) -> None:
    stamp = VENV / f".installed-{extras or 'base'}"
    pyproject = ROOT / "pyproject.toml"
    if stamp.exists() and stamp.stat().st_mtime >= pyproject.stat().st_mtime:
        return
    if not PY.exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    target = f".[{extras}]" if extras else "."
    sh(PY, "-m", "pip", "install", "-q", "--disable-pip-version-check", "-e", target, cwd=ROOT)
    stamp.touch()


def demo_steps(where: Path) -> list[list[str]]:
    """The `ait` commands the demo runs (tests/cli/test_quickstart.py runs the same list)."""
    c = ["-C", str(where)]
    return [
        ["init", "--example", "customer-support", str(where)],  # a project with 40 hand-written examples
        [*c, "stats"],  # where it stands and what to do next
        [*c, "list", "--unrated"],
        # `ait rate` is the interactive way; scripts rate with --set
        [
            *c,
            "rate",
            "--set",
            "11=9",
            "--set",
            "13=8",
            "--set",
            "21=4",
            "--set",
            "28=9",
            "--set",
            "34=6",
            "--set",
            "39=10",
        ],
        [*c, "split"],  # stratified, seeded; the val set is locked from now on
        [*c, "format"],  # every provider rule checked, then data/train.jsonl and data/val.jsonl written
        [*c, "validate", str(where / "data" / "train.jsonl"), "--provider", "together"],
        [*c, "stats", "--no-tokens"],
    ]


def demo() -> None:
    """Walk the main job offline on the bundled customer-support project."""
    ensure_venv("")
    ait = BIN / "ait"
    where = ROOT / "demo" / "customer-support"
    if where.exists():
        shutil.rmtree(where)
    where.parent.mkdir(exist_ok=True)
    steps = demo_steps(where)
    for step in steps:
        print(f"\n$ ait {' '.join(step)}", flush=True)
        rc = subprocess.run([str(ait), *step]).returncode
        if rc != 0:
            sys.exit(rc)
    rel = where.relative_to(ROOT)
    print(f"\nThe demo project is in {rel}. Next: `.venv/bin/ait -C {rel} rate --min 8` in a terminal, or")
    print(f"`.venv/bin/ait -C {rel} train --dry-run` with TOGETHER_API_KEY set (it uploads nothing).")


def test(pytest_args: list[str]) -> None:
    """Lint, type-check and run every test (slow ones included)."""
    ensure_venv("dev,local")  # the local provider's tests train a tiny model
    sh(BIN / "ruff", "check", "src", "tests", "bench", "dev.py", cwd=ROOT)
    sh(BIN / "ruff", "format", "--check", "src", "tests", "bench", "dev.py", cwd=ROOT)
    sh(BIN / "mypy", cwd=ROOT)
    sh(PY, "-m", "pytest", "-q", *pytest_args, cwd=ROOT)


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in ("demo", "test"):
        print(__doc__)
        sys.exit(2)
    if sys.argv[1] == "demo":
        demo()
    else:
        test(sys.argv[2:])


if __name__ == "__main__":
    main()
