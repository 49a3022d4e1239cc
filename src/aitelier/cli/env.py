"""The terminal environment a command talks to (streams, TTY flags, colour), injected so tests can fake it.

Command code writes through an :class:`Env` instead of touching ``sys.stdout`` directly.
"""

from __future__ import annotations

import os
import sys
from typing import IO, Any

from ..errors import NeedsTerminal


class Env:
    def __init__(
        self,
        stdin: IO[str] | None = None,
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
        *,
        stdin_isatty: bool | None = None,
        stdout_isatty: bool | None = None,
        color: bool | None = None,
    ) -> None:
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.stdin_isatty = _isatty(self.stdin) if stdin_isatty is None else stdin_isatty
        self.stdout_isatty = _isatty(self.stdout) if stdout_isatty is None else stdout_isatty
        if color is None:
            color = self.stdout_isatty and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"
        self.color = color
        self._console: Any = None
        self._err_console: Any = None

    @property
    def interactive(self) -> bool:
        return self.stdin_isatty and self.stdout_isatty

    def require_terminal(self, what: str, alternative: str) -> None:
        """Raise a usage error naming the flag to pass when a prompt is needed but there is no terminal."""
        if not self.interactive:
            raise NeedsTerminal(f"{what} needs a terminal", hint=f"pass {alternative} to run without one")

    def out(self, text: str = "") -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def err(self, text: str) -> None:
        self.stderr.write(text + "\n")
        self.stderr.flush()

    def warn(self, text: str) -> None:
        self.err(f"warning: {text}")

    @property
    def console(self) -> Any:
        """A rich Console on stdout; plain (no colour, no boxes) when not a terminal or NO_COLOR is set."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(
                file=self.stdout,
                force_terminal=self.color,
                no_color=not self.color,
                highlight=False,
                soft_wrap=False,
                width=None if self.stdout_isatty else 100,
            )
        return self._console


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
