"""Example projects shipped inside the package (``ait init --example NAME``).

Each is two package files under ``aitelier/examples/``: ``NAME.json`` (the project config) and ``NAME.jsonl``
(its examples, in the examples.jsonl layout). Creating a project from one copies both; ids, ratings and
timestamps are kept, so the demo behaves the same on every machine.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import ProjectExists, UsageError
from .fsutil import atomic_write_bytes
from .project import Project

NAMES = ("customer-support", "code-review")


def _resource(name: str, ext: str) -> bytes:
    from importlib import resources  # only when used: `ait add` imports this module for the names

    if name not in NAMES:
        raise UsageError(f"no bundled example called {name!r}", hint=f"choose one of: {', '.join(NAMES)}")
    return resources.files("aitelier").joinpath("examples").joinpath(f"{name}{ext}").read_bytes()


def example_config(name: str) -> dict[str, Any]:
    cfg = json.loads(_resource(name, ".json").decode("utf-8"))
    assert isinstance(cfg, dict)
    return cfg


def example_data(name: str) -> bytes:
    return _resource(name, ".jsonl")


def create_from_example(
    root: Path,
    name: str,
    *,
    project_name: str | None = None,
    provider: str | None = None,
    model: str | None = None,
    system_prompt: str | None = None,
    threshold: int | None = None,
) -> Project:
    """Create a project at ``root`` from bundled example ``name``; given values replace the example's.

    Refuses (like ``Project.create``) when a project or data files already exist there.
    """
    cfg = example_config(name)
    data = example_data(name)
    if provider is None or provider == cfg["provider"]:
        provider = str(cfg["provider"])
        model = model or cfg["model"]
    # else: the example's model belongs to its provider; without --model the new provider's default is used
    project = Project.create(
        root,
        name=project_name or cfg["name"],
        provider=provider,
        model=model,
        system_prompt=cfg.get("systemPrompt") if system_prompt is None else system_prompt,
        threshold=threshold if threshold is not None else int(cfg.get("qualityThreshold", 8)),
    )
    store = project.store
    with store.locked():
        if store.path.exists() and store.path.stat().st_size > 0:  # pragma: no cover - a racing writer
            raise ProjectExists(f"{store.path} is not empty; not overwriting it")
        atomic_write_bytes(store.path, data)
    return project
