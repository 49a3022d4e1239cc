"""Everything a command may know about the world it runs in, injected so tests can hand in a fake one.

Streams, whether they are terminals, colour, the terminal's size, the environment variables, the project
directory chosen with ``-C``, and the only two ways to ask a person something: :meth:`Env.prompt` and
:meth:`Env.confirm`. Command code writes, reads and asks through an :class:`Env`, never through ``sys`` or
click's prompts, so ``main(argv, Env(stdin=io.StringIO(...), stdout=..., stdin_isatty=True, ...))`` runs any
command in-process exactly as a terminal would, prompts included.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from ..errors import Declined, NeedsTerminal


@dataclass(frozen=True)
class NoTerminal:
    """What to say when a question cannot be asked: what the command asks, and the flag that does without.

    ``NoTerminal("ait cancel asks before cancelling", "--yes", "cancel")`` reads "ait cancel asks before
    cancelling, which needs a terminal; pass --yes to cancel without one".
    """

    asks: str
    flag: str
    action: str


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
        terminal_size: tuple[int, int] | None = None,
        environ: Mapping[str, str] | None = None,
        project_dir: str | None = None,
    ) -> None:
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.stdin_isatty = _isatty(self.stdin) if stdin_isatty is None else stdin_isatty
        self.stdout_isatty = _isatty(self.stdout) if stdout_isatty is None else stdout_isatty
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        if color is None:
            color = (
                self.stdout_isatty and "NO_COLOR" not in self.environ and self.environ.get("TERM") != "dumb"
            )
        self.color = color
        self._terminal_size = terminal_size
        # -C DIR, else AITELIER_PROJECT, else the current directory and its parents (see Project.find)
        self.project_dir = project_dir or self.environ.get("AITELIER_PROJECT") or None
        self.traceback = self.environ.get("AITELIER_TRACEBACK", "") not in ("", "0")
        self._console: Any = None
        self.kept: list[object] = []  # see keep()

    def keep(self, *results: object) -> None:
        """Hold large results a command is done with for as long as this Env: ``ait`` exits holding it, so they
        are never freed object by object (the system takes the memory back whole; after formatting 100,000
        examples, 0.02 s saved)."""
        self.kept += results

    @property
    def interactive(self) -> bool:
        return self.stdin_isatty and self.stdout_isatty

    @property
    def terminal_size(self) -> tuple[int, int]:
        """(columns, lines) of the terminal; without one, $COLUMNS / $LINES or 80 x 24."""
        if self._terminal_size is not None:
            return self._terminal_size
        if self.stdout_isatty:
            try:
                size = os.get_terminal_size(self.stdout.fileno())
                return size.columns, size.lines
            except (OSError, ValueError, AttributeError):
                pass
        return _int(self.environ.get("COLUMNS"), 80), _int(self.environ.get("LINES"), 24)

    def width(self, fallback: int) -> int:
        """The terminal's columns; ``fallback`` when the output goes to a file or a pipe."""
        return self.terminal_size[0] if self.stdout_isatty else fallback

    # -- asking a person ------------------------------------------------------------------------------------
    def require_terminal(self, without: NoTerminal) -> None:
        """Raise NeedsTerminal naming the flag to pass, unless a person can answer on a terminal."""
        if not self.interactive:
            raise NeedsTerminal(
                f"{without.asks}, which needs a terminal; pass {without.flag} to {without.action} without one"
            )

    def prompt(
        self,
        text: str,
        without: NoTerminal,
        *,
        default: str | None = None,
        choices: Sequence[str] | None = None,
        show_default: bool = True,
    ) -> str:
        """Ask for one line; Enter takes ``default``; an answer outside ``choices`` asks again."""
        self.require_terminal(without)
        label = text + (f" ({', '.join(choices)})" if choices else "")
        if default and show_default:
            label += f" [{default}]"
        while True:
            answer = self._ask(label + ": ")
            if not answer and default is not None:
                return default
            if choices and answer not in choices:
                self.out(f"Error: {answer!r} is not one of {', '.join(map(repr, choices))}.")
            elif answer:
                return answer

    def confirm(
        self, question: str, without: NoTerminal, *, yes: bool = False, default: bool = False
    ) -> bool:
        """A yes/no question; ``yes`` (the flag was given) answers it without asking."""
        if yes:
            return True
        self.require_terminal(without)
        while True:
            answer = self._ask(question + (" [Y/n]: " if default else " [y/N]: ")).lower()
            if not answer:
                return default
            if answer in ("y", "yes"):
                return True
            if answer in ("n", "no"):
                return False
            self.out("Error: answer y or n.")

    def read_block(self) -> tuple[str, bool]:
        """Lines typed up to one holding only '.': their text, and whether the input ended instead."""
        lines: list[str] = []
        while True:
            line = self.stdin.readline()
            if line == "" or line.rstrip("\r\n") == ".":
                return "".join(lines), line == ""
            lines.append(line)

    def _ask(self, label: str) -> str:
        self.stdout.write(label)
        self.stdout.flush()
        line = self.stdin.readline()
        if not line:  # end of input: nobody is there to answer
            self.out("")
            raise Declined("no answer (the input ended); nothing was changed")
        return line.rstrip("\r\n").strip()

    # -- writing --------------------------------------------------------------------------------------------
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

            follow = self.stdout_isatty and self._terminal_size is None  # follow a real terminal's resizes
            self._console = Console(
                file=self.stdout,
                force_terminal=self.color,
                no_color=not self.color,
                highlight=False,
                soft_wrap=False,
                width=None if follow else self.width(100),
                height=None if follow else self.terminal_size[1],
            )
        return self._console


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _int(value: str | None, fallback: int) -> int:
    try:
        return int(value) if value else fallback
    except ValueError:
        return fallback
