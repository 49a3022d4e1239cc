"""Entry point and the one error boundary.

Commands are registered by name with their one-line help, and their modules are imported only when run, so
`ait --help` and `ait --version` import click and nothing heavy (start-up time is a feature).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

import click

from .. import __version__
from ..errors import (
    EXIT_MEANINGS,
    AitelierError,
    Declined,
    ExitStatus,
    Interrupted,
    ProblemsFound,
    describe_os_error,
)
from .env import Env

SHOWN_PROBLEMS = 50  # a DataError lists this many problems, then "... and N more"

# name -> (module under aitelier.cli, function, one-line help). The order is the order `ait --help` shows.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "init": ("project_cmds", "init", "Create a project (interactive, or with flags)."),
    "add": ("project_cmds", "add", "Add one example (interactive, from files, or multi-turn)."),
    "import": ("project_cmds", "import_", "Bulk-add examples from JSONL or CSV."),
    "list": ("project_cmds", "list_", "List examples, with filters."),
    "show": ("project_cmds", "show", "Show one example in full."),
    "edit": ("project_cmds", "edit", "Edit one example in $EDITOR."),
    "rm": ("project_cmds", "rm", "Remove one example (its id is never reused)."),
    "stats": ("health_cmds", "stats", "Counts, rating histogram and what to do next."),
    "doctor": ("health_cmds", "doctor", "Check the data files; --fix repairs what is safe."),
    "rate": ("rate_cmd", "rate", "Rate and rewrite examples, one key press each."),
    "split": ("data_cmds", "split", "Assign train/val splits (the val set stays locked)."),
    "format": ("data_cmds", "format_", "Validate and write data/train.jsonl and data/val.jsonl."),
    "pairs": ("data_cmds", "pairs", "List the preference pairs (DPO) your rewrites and ratings make."),
    "validate": ("data_cmds", "validate", "Check examples or any JSONL file against provider rules."),
    "train": ("train_cmds", "train", "Upload the formatted files and start a fine-tune."),
    "status": ("train_cmds", "status", "Show fine-tuning runs; --watch follows one."),
    "cancel": ("train_cmds", "cancel", "Cancel a running fine-tune."),
    "pull": ("local_cmds", "pull", "Download a finished run's adapter (or merged model) to this machine."),
    "export": ("local_cmds", "export", "Write a local adapter merged into its base model (--merged DIR)."),
    "eval": ("eval_cmds", "eval_", "Score a model's outputs on the val set, compare two blind, or judge."),
    "evals": ("eval_cmds", "evals", "List past evals; `evals show NAME` prints one."),
    "config": ("config_cmd", "config", "Read or change settings: threshold, model, prompt, provider."),
}


class ReaderGone(Exception):
    """Whoever read our output went away (`ait list | head -1`). Raised instead of BrokenPipeError, which click
    would turn into exit status 1."""


class LazyGroup(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except BrokenPipeError as e:
            raise ReaderGone() from e

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module = importlib.import_module(f"{__package__}.{entry[0]}")
        cmd = getattr(module, entry[1])
        assert isinstance(cmd, click.Command)
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_) for name, (_, _, help_) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


EPILOG = (
    "Exit status: "
    + ", ".join(f"{int(status)} {meaning}" for status, meaning in EXIT_MEANINGS.items())
    + ". Manual: README.md and the docs/ folder"
)


@click.group(cls=LazyGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="aitelier")
@click.option(
    "-C",
    "--project",
    "project_dir",
    type=click.Path(file_okay=False),
    help="Project directory (default: $AITELIER_PROJECT, else the current directory or the nearest parent "
    "with .aitelier.json).",
)
@click.option(
    "--traceback",
    is_flag=True,
    help="Show the full Python traceback of an error (or AITELIER_TRACEBACK=1); the exit status stays the same.",
)
@click.pass_context
def cli(ctx: click.Context, project_dir: str | None, traceback: bool) -> None:
    """aitelier: collect, rate, split, format, train and evaluate a LoRA fine-tune for one narrow task."""
    env = ctx.ensure_object(Env)  # main() hands one in
    if project_dir:
        env.project_dir = project_dir
    if traceback:
        env.traceback = True


def run() -> NoReturn:
    """The console scripts and `python -m aitelier`: the one place where the process exits. After the exit
    handlers and a flush of the streams it leaves without freeing every object one by one (0.03 s after a large
    `ait format`), what the command left to its Env (:meth:`Env.keep`) included, unless a non-daemon thread runs or
    a stream cannot be flushed: then Python's exit does it all."""
    import atexit
    import threading

    env = Env()  # held to the end: see Env.keep
    status = int(main(None, env))
    if any(not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(status)
    atexit._run_exitfuncs()  # the handlers Python's own exit runs after joining threads (a private CPython call)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        sys.exit(status)
    os._exit(status)


def main(argv: Sequence[str] | None = None, env: Env | None = None) -> ExitStatus:
    """Run `ait ARGV` in ``env`` (the real terminal by default) and return its exit status; never exits.

    This is the one error boundary: every outcome, from success to an unexpected exception, becomes an
    :class:`ExitStatus` here, with at most one line on stderr (plus the traceback when asked for).
    """
    env = Env() if env is None else env
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        # click writes help, --version and its usage errors to sys.stdout/sys.stderr: point those at env
        with contextlib.redirect_stdout(env.stdout), contextlib.redirect_stderr(env.stderr):
            # with standalone_mode=False click returns (rather than raises) the code given to ctx.exit()
            rv = cli.main(args=args, prog_name="ait", standalone_mode=False, obj=env)
        return _status(rv if isinstance(rv, int) else 0)
    except click.exceptions.Exit as e:
        return _status(e.exit_code)
    except click.ClickException as e:
        with contextlib.suppress(OSError):
            e.show(file=env.stderr)
        return ExitStatus.USAGE if isinstance(e, click.UsageError) else ExitStatus.ERROR
    except (BrokenPipeError, ReaderGone):
        # the reader went away (`ait list | head`): not an error. Later writes (and Python's final flush of
        # stdout) go to /dev/null instead of failing again.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, env.stdout.fileno())
        return ExitStatus.OK
    except BaseException as e:  # noqa: B036 - the boundary: every outcome becomes a status
        status, message = _outcome(e)
        with contextlib.suppress(OSError):  # stderr may be gone too (a closed terminal)
            if env.traceback and not isinstance(e, SystemExit):
                import traceback

                traceback.print_exception(type(e), e, e.__traceback__, file=env.stderr)
            if message:
                env.stderr.write(message)
                env.stderr.flush()
        return status


def _outcome(e: BaseException) -> tuple[ExitStatus, str]:
    """The exit status and the stderr text for an exception that reached the boundary."""
    if isinstance(e, (KeyboardInterrupt, click.Abort)):  # click turns Ctrl-C inside a command into Abort
        return ExitStatus.INTERRUPTED, "ait: interrupted (Ctrl-C)\n"
    if isinstance(e, SystemExit):  # a library called sys.exit(); keep its status
        return _status(e.code if isinstance(e.code, int) else (0 if e.code is None else 1)), ""
    if isinstance(e, Declined):  # the answer to the person's "no": no "ait: error" in front
        return e.exit_status, f"{e}\n"
    if isinstance(e, (ProblemsFound, Interrupted)):  # an outcome already reported, not a failure
        return e.exit_status, f"ait: {e}\n" if e.message else ""
    if isinstance(e, AitelierError):
        lines = [f"ait: error: {e}"]
        problems = getattr(e, "problems", None) or []
        lines += [f"  {p}" for p in problems[1:SHOWN_PROBLEMS]]
        if len(problems) > SHOWN_PROBLEMS:
            lines.append(f"  ... and {len(problems) - SHOWN_PROBLEMS} more")
        return e.exit_status, "\n".join(lines) + "\n"
    if isinstance(e, OSError):  # the disk, not the code: full, read-only, a directory where a file should be
        return ExitStatus.ERROR, f"ait: error: {describe_os_error(e)}\n"
    return (
        ExitStatus.ERROR,
        f"ait: internal error: {type(e).__name__}: {e} (rerun with --traceback for details)\n",
    )


def _status(code: int) -> ExitStatus:
    try:
        return ExitStatus(code)
    except ValueError:
        return ExitStatus.ERROR
