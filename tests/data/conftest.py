"""Fixtures for the split / format / validate / tokens tests.

Helpers are fixtures because test modules cannot import each other under ``--import-mode=importlib``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aitelier import Project

SYSTEM = "You are helpful."


def conversation(
    i: int | str, *, system: str | None = SYSTEM, turns: int = 1, answer: str = ""
) -> list[dict]:
    msgs: list[dict[str, Any]] = []
    if system is not None:
        msgs.append({"role": "system", "content": system})
    for t in range(turns):
        msgs.append({"role": "user", "content": f"question {i}.{t}"})
        msgs.append({"role": "assistant", "content": answer or f"answer {i}.{t}"})
    return msgs


def record(
    ident: int, *, rating: Any = 9, split: str | None = None, messages: Any = None, **extra: Any
) -> dict:
    rec: dict[str, Any] = {
        "id": ident,
        "messages": messages if messages is not None else conversation(ident),
        "rating": rating,
        "createdAt": "2026-01-01T00:00:00.000Z",
        "version": 1,
    }
    if split is not None:
        rec["split"] = split
    rec.update(extra)
    return rec


def write_records(project: Project, records: list[dict]) -> None:
    """Replace examples.jsonl with these records (compact JSON, one per line)."""
    text = "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records)
    project.examples_path.write_text(text, encoding="utf-8")


@pytest.fixture
def conv() -> Callable[..., list[dict]]:
    return conversation


@pytest.fixture
def rec() -> Callable[..., dict]:
    return record


@pytest.fixture
def write() -> Callable[[Project, list[dict]], None]:
    return write_records


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[..., Project]:
    """A project holding the given records: make_project(records, provider="together", **config)."""
    counter = {"n": 0}

    def make(records: list[dict] | None = None, *, provider: str = "together", **config: Any) -> Project:
        counter["n"] += 1
        p = Project.create(
            tmp_path / f"p{counter['n']}", name="t", provider=provider, system_prompt=SYSTEM, threshold=8
        )
        if config:
            p.update_config(lambda c: c.update(config))
        if records:
            write_records(p, records)
        return p

    return make


@pytest.fixture
def rated_project(make_project: Callable[..., Project]) -> Project:
    """100 examples rated 8-10 (spread over ratings) plus a few below the threshold and unrated."""
    records = [record(i, rating=(8, 9, 10, 9)[i % 4]) for i in range(1, 101)]
    records += [record(i, rating=5) for i in range(101, 106)]
    records += [record(i, rating=None) for i in range(106, 111)]
    return make_project(records)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def jsonl() -> Callable[[Path], list[dict]]:
    return read_jsonl
