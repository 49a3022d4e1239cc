"""Fixtures shared by every test: an isolated environment and in-process / subprocess CLI runners."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from aitelier import Project

# the fixtures of each area, available to every test (tests/helpers/fixtures/)
pytest_plugins = [
    "helpers.fixtures.commands",
    "helpers.fixtures.data",
    "helpers.fixtures.providers",
    "helpers.fixtures.rate",
    "helpers.fixtures.store",
]

# property tests judge correctness, not speed: no per-example deadline (a busy machine made them flaky)
settings.register_profile("aitelier", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("aitelier")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path_factory):
    """No test sees real keys, a real home, colours or a project from the environment."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for var in (
        "AITELIER_PROJECT",
        "AITELIER_TRACEBACK",
        "TOGETHER_API_KEY",
        "OPENAI_API_KEY",
        "TOGETHER_BASE_URL",
        "OPENAI_BASE_URL",
        "EDITOR",
        "VISUAL",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture
def ait(monkeypatch):
    """Run `ait ARGS` in-process through the real main() and error boundary, in a fake Env.

    Nothing in ``sys`` is patched: the command reads ``input`` and writes to string buffers handed in through
    :class:`aitelier.cli.env.Env`. ``tty=True`` makes the fake streams terminals, so prompts and questions are
    answered from ``input``; ``size`` is then the terminal's (columns, lines). ``cwd`` is the working directory
    (relative paths in arguments are read from there).
    """
    from aitelier.cli.env import Env
    from aitelier.cli.main import main

    def run(
        *args: str,
        input: str | None = None,
        cwd: Path | None = None,
        tty: bool = False,
        size: tuple[int, int] = (100, 40),
        environ: dict[str, str] | None = None,
    ) -> Result:
        if cwd is not None:
            monkeypatch.chdir(cwd)
        out, err = io.StringIO(), io.StringIO()
        env = Env(
            stdin=io.StringIO(input or ""),
            stdout=out,
            stderr=err,
            stdin_isatty=tty,
            stdout_isatty=tty,
            terminal_size=size if tty else None,
            environ={**os.environ, **(environ or {})},
        )
        status = main(list(args), env)
        return Result(int(status), out.getvalue(), err.getvalue())

    return run


@pytest.fixture
def ait_proc():
    """Run `python -m aitelier ARGS` as a real process (for concurrency, signals and start-up)."""

    def run(
        *args: str,
        cwd: Path,
        input: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 60,
    ):
        full_env = {**os.environ, **(env or {})}
        p = subprocess.run(
            [sys.executable, "-m", "aitelier", *args],
            cwd=cwd,
            input=input,
            capture_output=True,
            text=True,
            env=full_env,
            timeout=timeout,
        )
        return Result(p.returncode, p.stdout, p.stderr)

    return run


@pytest.fixture
def project(tmp_path) -> Project:
    """An empty together project in a temp dir."""
    return Project.create(
        tmp_path / "proj", name="test", provider="together", system_prompt="You are helpful."
    )
