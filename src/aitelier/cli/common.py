"""Helpers shared by command modules: the Env a command runs in, and opening its project."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from ..errors import UsageError, ValidationFailed
from ..project import CONFIG_NAME, Project
from .env import Env


def get_env() -> Env:
    """The Env the command runs in (main() hands one in; a command run on its own gets the real terminal)."""
    return click.get_current_context().ensure_object(Env)


def open_project() -> Project:
    """The project of -C DIR or $AITELIER_PROJECT (as the Env says), else of the working directory, with a
    warning for each credential-like field in its config (a file git may track)."""
    env = get_env()
    project = Project.find(env.project_dir or os.getcwd())
    for key in project.secret_keys():
        env.warn(
            f"{CONFIG_NAME} holds `{key}`, which looks like a credential, in a file git may track: move it to "
            "the environment or .env (and rotate it if it was ever committed)"
        )
    return project


def read_text(env: Env, path: str, what: str) -> str:
    """A text file's content ('-' = stdin), as UTF-8; ``what`` names it in the error ("the input")."""
    if path == "-":
        return env.stdin.read()
    try:
        return Path(path).read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValidationFailed(f"{path}: {what} is not UTF-8 text (invalid byte at {e.start + 1})") from e
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror or e}") from e


def one_line(text: str, width: int) -> str:
    """``text`` on one line (whitespace runs become one space), cut to ``width`` with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: max(0, width - 1)] + "…"


def echo_json(env: Env, obj: Any) -> None:
    import json

    env.out(json.dumps(obj, indent=2, ensure_ascii=False))
