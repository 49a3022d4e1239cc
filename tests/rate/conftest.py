"""Fixtures for the `ait rate` tests: projects with examples, and reading back what is on disk.

Helpers are handed out as fixtures because test modules cannot import each other under
``--import-mode=importlib``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aitelier import Project


def conversation(i: int, *, turns: int = 1, system: bool = True) -> list[dict[str, Any]]:
    msgs: list[dict[str, Any]] = [{"role": "system", "content": "You are helpful."}] if system else []
    for t in range(1, turns + 1):
        msgs.append({"role": "user", "content": f"question {i}.{t}"})
        msgs.append({"role": "assistant", "content": f"answer {i}.{t}"})
    return msgs


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[..., Project]:
    """A together project with ``n`` examples: unrated unless ``ratings`` (a list, None = unrated) says."""

    def make(
        n: int = 5,
        *,
        ratings: list[int | None] | None = None,
        multi_turn: tuple[int, ...] = (),
        name: str = "proj",
    ) -> Project:
        project = Project.create(tmp_path / name, name="test", provider="together", system_prompt="S")
        convs = []
        for i in range(1, n + 1):
            conv: dict[str, Any] = {"messages": conversation(i, turns=2 if i in multi_turn else 1)}
            if ratings is not None and ratings[i - 1] is not None:
                conv["rating"] = ratings[i - 1]
            convs.append(conv)
        if convs:
            project.store.append(convs)
        return project

    return make


@pytest.fixture
def records() -> Callable[[Project], dict[int, dict[str, Any]]]:
    """What examples.jsonl holds right now (no journal applied), by id."""

    def read(project: Project) -> dict[int, dict[str, Any]]:
        out = {}
        for line in Path(project.examples_path).read_text(encoding="utf-8").splitlines():
            obj = json.loads(line)
            out[obj["id"]] = obj
        return out

    return read


@pytest.fixture
def current() -> Callable[[Project], dict[int, dict[str, Any]]]:
    """What every command sees now: examples.jsonl with the journal applied, by id."""

    def read(project: Project) -> dict[int, dict[str, Any]]:
        return {ex.id: ex.data for ex in project.store.read()}

    return read


@pytest.fixture
def spawn_env() -> dict[str, str]:
    """Environment for a real `python -m aitelier` under a pseudo-terminal (pexpect)."""
    env = dict(os.environ)
    env.update({"NO_COLOR": "1", "TERM": "xterm", "COLUMNS": "100", "LINES": "40", "PYTHONUNBUFFERED": "1"})
    env.pop("EDITOR", None)
    env.pop("VISUAL", None)
    return env


@pytest.fixture
def spawn(spawn_env: dict[str, str]) -> Iterator[Callable[..., Any]]:
    """Start `python -m aitelier ARGS` in a 100x40 pseudo-terminal; every child is killed at the end."""
    pexpect = pytest.importorskip("pexpect")

    children: list[Any] = []

    def start(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 30) -> Any:
        child = pexpect.spawn(
            sys.executable,
            ["-m", "aitelier", *args],
            cwd=str(cwd),
            env={**spawn_env, **(env or {})},
            encoding="utf-8",
            timeout=timeout,
            dimensions=(40, 100),
        )
        children.append(child)
        return child

    yield start
    for child in children:
        if child.isalive():
            child.kill(9)
        child.close(force=True)
