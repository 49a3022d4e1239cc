"""Fixtures for the init/add/import/list/show/edit/rm tests.

Helpers are fixtures because test modules cannot import each other under ``--import-mode=importlib``.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aitelier import Project


def _line(ident: int, user: str, output: str, *, rating: Any = None, split: str | None = None) -> bytes:
    rec: dict[str, Any] = {
        "id": ident,
        "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": output}],
        "rating": rating,
        "originalOutput": None,
        "createdAt": "2026-01-01T00:00:00.000Z",
        "version": 1,
    }
    if split:
        rec["split"] = split
    return json.dumps(rec, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@pytest.fixture
def line() -> Callable[..., bytes]:
    """One examples.jsonl line as the npm tool writes it."""
    return _line


@pytest.fixture
def filled(project: Project) -> Project:
    """A project with six examples: ratings 9, None, 4, 10, None, 8; splits train/val/none mixed."""
    rows = [
        _line(
            1,
            "How do I reset my password?",
            "Click 'Forgot password' on the sign-in page.",
            rating=9,
            split="train",
        ),
        _line(2, "Where is my order?", "Your tracking link is in the confirmation email."),
        _line(3, "Can I return shoes?", "no", rating=4, split="train"),
        _line(4, "Do you ship abroad?", "We ship to the US and Canada.", rating=10, split="val"),
        _line(5, "Is there a discount?", "Sign up for the newsletter for 10% off."),
        _line(6, "What are your hours?", "We are open 9 to 5, Monday to Friday.", rating=8),
    ]
    project.examples_path.write_bytes(b"\n".join(rows) + b"\n")
    return project


@pytest.fixture
def spawn_env() -> Callable[..., dict[str, str]]:
    """The environment for a pexpect child: the test's (isolated) environment plus overrides."""

    def make(**extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(extra)
        env.setdefault("TERM", "xterm")
        env["COLUMNS"] = "120"
        env["LINES"] = "40"
        return env

    return make


@pytest.fixture
def spawn(spawn_env: Callable[..., dict[str, str]]) -> Callable[..., Any]:
    """Start `python -m aitelier ARGS` on a pseudo-terminal."""
    pexpect = pytest.importorskip("pexpect")

    def start(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 30) -> Any:
        child = pexpect.spawn(
            sys.executable,
            ["-m", "aitelier", *args],
            cwd=str(cwd),
            env=env or spawn_env(),
            encoding="utf-8",
            timeout=timeout,
            dimensions=(40, 120),
        )
        return child

    return start


@pytest.fixture
def editor_script(tmp_path: Path) -> Callable[[str], str]:
    """An $EDITOR value running a small Python script that rewrites the file it is given.

    ``body`` is Python code with ``text`` (the file's content) in scope; whatever it leaves in ``text`` is saved.
    The script also records the argv it got, so tests can check how the editor was called.
    """
    counter = {"n": 0}

    def make(body: str) -> str:
        counter["n"] += 1
        script = tmp_path / f"editor{counter['n']}.py"
        log = tmp_path / f"editor{counter['n']}.log"
        script.write_text(
            "import sys, json\n"
            "path = sys.argv[-1]\n"
            f"open({str(log)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
            "text = open(path, encoding='utf-8').read()\n"
            + textwrap.dedent(body)
            + "\nopen(path, 'w', encoding='utf-8').write(text)\n"
        )
        return f"{sys.executable} {script}"

    return make
