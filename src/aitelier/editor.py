"""Open the user's editor (``$VISUAL``, then ``$EDITOR``) on some text and return what they saved.

The variable may hold arguments (``code --wait``, ``emacsclient -t``, ``"/opt/My Editor/bin/ed" -n``): it is split
like a shell would split it, unless the whole value names an existing program (a path with spaces, unquoted).
The temp file lives outside the project, so an abandoned edit never lands in the user's git tree. No lock is held
by anything here: callers read first, edit, then write under the lock.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from .errors import AitelierError, UsageError

EDITOR_VARS = ("VISUAL", "EDITOR")


class NoEditor(UsageError):
    """Neither $VISUAL nor $EDITOR is set."""


class EditorFailed(AitelierError):
    """The editor could not be started or exited with an error; nothing was changed."""


def editor_command(environ: Mapping[str, str] | None = None) -> list[str] | None:
    """The editor's argv (without the file), or None when no editor is configured."""
    environ = os.environ if environ is None else environ
    for var in EDITOR_VARS:
        value = (environ.get(var) or "").strip()
        if not value:
            continue
        if shutil.which(value) or Path(value).is_file():
            return [value]  # an unquoted path with spaces, e.g. /Applications/Sublime Text.app/...
        try:
            argv = shlex.split(value)
        except ValueError as e:
            raise EditorFailed(f"cannot parse ${var}={value!r}: {e}", hint="check its quotes") from e
        if argv:
            return argv
    return None


def has_editor(environ: Mapping[str, str] | None = None) -> bool:
    try:
        return editor_command(environ) is not None
    except EditorFailed:
        return True  # set, but broken: let edit_text() explain why


def edit_text(
    text: str,
    *,
    suffix: str = ".txt",
    prefix: str = "ait-",
    environ: Mapping[str, str] | None = None,
) -> str:
    """Write ``text`` to a temp file, run the editor on it, wait, and return the saved text.

    Raises :class:`NoEditor` when no editor is set and :class:`EditorFailed` when it cannot start or exits with
    a non-zero status (the usual way to say "abandon this edit", e.g. ``:cq`` in vim).
    """
    argv = editor_command(environ)
    if argv is None:
        raise NoEditor(
            "no editor is set",
            hint="set $EDITOR (for example `export EDITOR=nano`, or `EDITOR='code --wait'`)",
        )
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix)
    path = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        try:
            proc = subprocess.run([*argv, str(path)], check=False)
        except OSError as e:
            raise EditorFailed(
                f"could not start the editor {argv[0]!r}: {e.strerror or e}",
                hint="check $VISUAL / $EDITOR",
            ) from e
        if proc.returncode != 0:
            raise EditorFailed(
                f"the editor exited with status {proc.returncode}; nothing was changed",
            )
        try:
            return path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise EditorFailed(f"the editor saved text that is not UTF-8 ({e.reason})") from e
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
