"""Entry point and the one error boundary.

Commands are registered by name with their one-line help, and their modules are imported only when run, so
`ait --help` and `ait --version` import click and nothing heavy (start-up time is a feature).
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from .. import __version__
from ..errors import AitelierError, ExitStatus

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
    "validate": ("data_cmds", "validate", "Check examples or any JSONL file against provider rules."),
    "train": ("train_cmds", "train", "Upload the formatted files and start a fine-tune."),
    "status": ("train_cmds", "status", "Show fine-tuning runs; --watch follows one."),
    "cancel": ("train_cmds", "cancel", "Cancel a running fine-tune."),
    "config": ("config_cmd", "config", "Read or change settings: threshold, model, prompt, provider."),
}


class LazyGroup(click.Group):
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
    "Exit status: 0 ok, 1 error, 2 usage, 3 validation problems, 4 provider error, "
    "5 fine-tune failed or cancelled, 130 interrupted. Docs: README.md"
)


@click.group(cls=LazyGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="aitelier")
@click.option(
    "-C",
    "--project",
    "project_dir",
    type=click.Path(file_okay=False),
    envvar="AITELIER_PROJECT",
    help="Project directory (default: the current directory or the nearest parent with .aitelier.json).",
)
@click.option(
    "--traceback", is_flag=True, help="Show the full Python traceback on errors (or AITELIER_TRACEBACK=1)."
)
@click.pass_context
def cli(ctx: click.Context, project_dir: str | None, traceback: bool) -> None:
    """aitelier: collect, rate, split, format, train and evaluate a LoRA fine-tune for one narrow task."""
    from .env import Env

    env = Env()
    ctx.obj = env
    env.project_dir = project_dir  # type: ignore[attr-defined]
    if traceback:
        os.environ["AITELIER_TRACEBACK"] = "1"


def _traceback_wanted(argv: list[str]) -> bool:
    return "--traceback" in argv or os.environ.get("AITELIER_TRACEBACK", "") not in ("", "0")


def main(argv: list[str] | None = None) -> Any:
    """Run the CLI and map every outcome to an exit status. Returns only in tests (via SystemExit)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        # with standalone_mode=False click returns (rather than raises) the code a command passed to ctx.exit()
        rv = cli.main(args=args, prog_name="ait", standalone_mode=False)
        if isinstance(rv, int) and rv != 0:
            sys.exit(rv)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        e.show()
        sys.exit(ExitStatus.USAGE if isinstance(e, click.UsageError) else ExitStatus.ERROR)
    except (KeyboardInterrupt, click.Abort):
        if _traceback_wanted(args):
            raise
        sys.stderr.write("\nait: interrupted\n")
        sys.exit(ExitStatus.INTERRUPTED)
    except AitelierError as e:
        if _traceback_wanted(args):
            raise
        sys.stderr.write(f"ait: error: {e}\n")
        problems = getattr(e, "problems", None) or []
        for p in problems[1:50]:
            sys.stderr.write(f"  {p}\n")
        if len(problems) > 50:
            sys.stderr.write(f"  ... and {len(problems) - 50} more\n")
        sys.exit(e.exit_status)
    except BrokenPipeError:
        # the reader went away (e.g. `ait list | head`); not an error worth a trace
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(ExitStatus.OK)
    except Exception as e:  # the boundary: anything unexpected becomes one line unless asked for the trace
        if _traceback_wanted(args):
            raise
        sys.stderr.write(
            f"ait: internal error: {type(e).__name__}: {e} (rerun with --traceback for details)\n"
        )
        sys.exit(ExitStatus.ERROR)
    sys.exit(ExitStatus.OK)
