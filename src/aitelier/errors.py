"""Typed errors and the exit-status contract.

Domain code raises these; the CLI boundary (``aitelier.cli.main``) turns each into one line on stderr and the
exit status carried by its class. The numbers are documented in the README and each one is tested.
"""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    OK = 0
    ERROR = 1  # anything else that went wrong
    USAGE = 2  # bad flags or arguments, or a prompt that needs a terminal or a flag
    VALIDATION = 3  # malformed data files or provider rules broken
    PROVIDER = 4  # the provider API refused or failed (after retries)
    JOB_FAILED = 5  # a watched fine-tuning job failed or was cancelled
    INTERRUPTED = 130  # Ctrl-C


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


class DataProblem:
    """One problem found in a data file, addressed by path and line (1-based) or example id."""

    __slots__ = ("path", "line", "message", "fixable", "example_id")

    def __init__(
        self,
        path: str,
        line: int | None,
        message: str,
        *,
        fixable: bool = False,
        example_id: int | None = None,
    ) -> None:
        self.path = path
        self.line = line
        self.message = message
        self.fixable = fixable
        self.example_id = example_id

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        if self.example_id is not None and self.line is None:
            where = f"{where} (example {self.example_id})"
        return f"{where}: {self.message}"

    def __repr__(self) -> str:
        return f"DataProblem({str(self)!r})"


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
