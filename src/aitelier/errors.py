"""Typed errors and the exit-status contract.

Domain code raises these; the CLI boundary (``aitelier.cli.main``) turns each into one line on stderr and the
exit status carried by its class. The numbers are documented in the manual (docs/exit-statuses.md, generated from this enum) and each one is tested.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass
from enum import IntEnum


class ExitStatus(IntEnum):
    """Every status `ait` exits with. The manual's table and the `--help` epilog list each one (tests check)."""

    OK = 0
    ERROR = 1  # anything else that went wrong, including "no" at a question
    USAGE = 2  # bad flags or arguments, or a prompt that needs a terminal or a flag
    VALIDATION = 3  # malformed data files, an invalid config, provider rules broken, doctor found problems
    PROVIDER = 4  # the provider API refused or failed (after retries)
    JOB_FAILED = 5  # a watched fine-tuning job failed or was cancelled
    HANGUP = 129  # 128 + SIGHUP: the terminal was closed (`ait rate` saves everything first)
    INTERRUPTED = 130  # 128 + SIGINT: Ctrl-C
    TERMINATED = 143  # 128 + SIGTERM: asked to stop (`ait rate` saves everything first)


# What each status means, in a few words (`ait --help` lists them; the manual's table says more).
EXIT_MEANINGS = {
    ExitStatus.OK: "ok",
    ExitStatus.ERROR: "error",
    ExitStatus.USAGE: "usage",
    ExitStatus.VALIDATION: "validation problems",
    ExitStatus.PROVIDER: "provider error",
    ExitStatus.JOB_FAILED: "fine-tune failed or cancelled",
    ExitStatus.HANGUP: "terminal closed (SIGHUP)",
    ExitStatus.INTERRUPTED: "interrupted (Ctrl-C)",
    ExitStatus.TERMINATED: "terminated (SIGTERM)",
}


class AitelierError(Exception):
    """Base of every error the CLI knows how to present."""

    exit_status = ExitStatus.ERROR

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class UsageError(AitelierError):
    exit_status = ExitStatus.USAGE


class NeedsTerminal(UsageError):
    """An interactive prompt was needed but there is no terminal; the message names the flag to pass."""


class Declined(AitelierError):
    """The person answered "no" to a question; nothing was done. Shown as the message alone, not as an error."""


class ProblemsFound(AitelierError):
    """A command finished and reported the problems it found; the status tells scripts. Nothing more is shown
    unless ``message`` says something the report did not."""

    def __init__(self, message: str = "", *, status: ExitStatus = ExitStatus.VALIDATION) -> None:
        super().__init__(message)
        self.exit_status = status


class Interrupted(AitelierError):
    """Stopped by a signal after saving what was done: SIGINT (Ctrl-C), SIGHUP (terminal closed) or SIGTERM."""

    # by number: SIGHUP 1, SIGINT 2 and SIGTERM 15 are the same on every platform Python runs on
    _BY_SIGNAL = {1: ("the terminal was closed", ExitStatus.HANGUP), 15: ("SIGTERM", ExitStatus.TERMINATED)}

    def __init__(self, signum: int = 2) -> None:
        why, status = self._BY_SIGNAL.get(signum, ("Ctrl-C", ExitStatus.INTERRUPTED))
        super().__init__(f"interrupted ({why})")
        self.signum = signum
        self.exit_status = status


class ProjectNotFound(AitelierError):
    def __init__(self, start: str) -> None:
        super().__init__(
            f"no aitelier project found in {start} or any parent directory",
            hint="run `ait init` to create one",
        )


class ConfigError(AitelierError):
    exit_status = ExitStatus.VALIDATION


class ProjectExists(AitelierError):
    pass


class NotFound(AitelierError):
    pass


class LockTimeout(AitelierError):
    pass


class SymlinkRefused(AitelierError):
    """A file aitelier owns (lock, journal, temp file) is a symbolic link: following it could write elsewhere."""

    def __init__(self, path: object) -> None:
        super().__init__(
            f"{path} is a symbolic link; aitelier does not follow links for the files it owns",
            hint="remove the link; aitelier makes a plain file in its place when it needs one",
        )


@dataclass(slots=True)
class DataProblem:
    """One problem found in a data file, addressed by path and line (1-based) or example id."""

    path: str
    line: int | None
    message: str
    _: KW_ONLY
    fixable: bool = False
    example_id: int | None = None

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        if self.example_id is not None and self.line is None:
            where = f"{where} (example {self.example_id})"
        return f"{where}: {self.message}"


class DataError(AitelierError):
    """A data file cannot be read safely. Carries every problem found, not only the first."""

    exit_status = ExitStatus.VALIDATION

    def __init__(self, problems: list[DataProblem], *, hint: str | None = None) -> None:
        self.problems = problems
        first = str(problems[0]) if problems else "invalid data"
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        super().__init__(first + more, hint=hint or "run `ait doctor` to list every problem")


class ValidationFailed(AitelierError):
    """Provider or split rules are broken; nothing was written."""

    exit_status = ExitStatus.VALIDATION

    def __init__(self, message: str, problems: list[DataProblem] | None = None, *, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.problems = problems or []


class ProviderError(AitelierError):
    exit_status = ExitStatus.PROVIDER


class MissingDependency(AitelierError):
    def __init__(self, package: str, install: str) -> None:
        super().__init__(f"the `{package}` package is needed for this", hint=f"install it with `{install}`")


class JobFailed(AitelierError):
    exit_status = ExitStatus.JOB_FAILED


def describe_os_error(e: OSError) -> str:
    """One line for a failed file operation: which file, why, and what to do about it."""
    import errno

    hints = {
        errno.ENOSPC: "the disk is full; free some space and run the command again",
        errno.EDQUOT: "the disk quota is used up; free some space and run the command again",
        errno.EROFS: "nothing can be saved there",
        errno.EACCES: "check the permissions of the file and its directory",
        errno.EPERM: "check the permissions of the file and its directory",
        errno.EISDIR: "it should be a file",
        errno.ENOTDIR: "a file is where a directory should be",
    }
    where = f"{e.filename}: " if e.filename else ""
    why = e.strerror or str(e)
    hint = hints.get(e.errno or 0)
    return f"{where}{why}" + (f" ({hint})" if hint else "")
