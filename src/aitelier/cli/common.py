"""Helpers shared by command modules: opening the project, prompts that respect --yes and TTYs."""

from __future__ import annotations

from typing import Any

import click

from ..project import Project
from .env import Env


def get_env(ctx: click.Context | None = None) -> Env:
    ctx = ctx or click.get_current_context()
    obj = ctx.find_object(Env)
    if obj is None:  # called outside `cli` (e.g. a command invoked directly in a test)
        obj = Env()
        obj.project_dir = None  # type: ignore[attr-defined]
        ctx.obj = obj
    return obj


def open_project(ctx: click.Context | None = None) -> Project:
    env = get_env(ctx)
    return Project.find(getattr(env, "project_dir", None))


def confirm(env: Env, question: str, *, yes: bool, flag: str = "--yes", default: bool = False) -> bool:
    """Ask a yes/no question on a terminal; `yes` answers it; without a terminal, name the flag."""
    if yes:
        return True
    env.require_terminal(f"confirming ({question})", flag)
    return bool(click.confirm(question, default=default))


def echo_json(env: Env, obj: Any) -> None:
    import json

    env.out(json.dumps(obj, indent=2, ensure_ascii=False))
