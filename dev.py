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


def demo() -> None:
    """Walk the main job offline on the bundled customer-support project."""
    ensure_venv("")
    ait = BIN / "ait"
    where = ROOT / "demo" / "customer-support"
    if where.exists():
        shutil.rmtree(where)
    where.parent.mkdir(exist_ok=True)
    steps = [
        ["init", "--example", "customer-support", str(where)],
        ["-C", str(where), "stats"],
    ]
    for step in steps:
        print(f"\n$ ait {' '.join(step)}", flush=True)
        rc = subprocess.run([str(ait), *step]).returncode
        if rc != 0:
            sys.exit(rc)
    print(f"\nThe demo project is in {where.relative_to(ROOT)}; try `{ait} -C {where.relative_to(ROOT)} list`.")


def test(pytest_args: list[str]) -> None:
    """Lint, type-check and run every test (slow ones included)."""
    ensure_venv("dev")
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
