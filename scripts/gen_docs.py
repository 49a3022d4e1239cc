"""Regenerate the parts of docs/ that come from the code. Run it as `python3 dev.py docs`.

A page marks a generated block like this (the text between the two lines is replaced on every run):

    <!-- BEGIN GENERATED: help init (python3 dev.py docs) -->
    <!-- END GENERATED -->

Kinds of block:
    help CMD [SUB]   `ait CMD [SUB] --help`, as the CLI prints it (100 columns)
    help-root        `ait --help`
    commands         every command with its one-line help and a link to the page that documents it
    exit-statuses    the ExitStatus enum: number, name, the words `ait --help` uses, and what it means
    rules            every validation rule (formats/rules.py) with each built-in provider's severity
    providers        the built-in providers' registrations (default model, variables, what each can do)
    status-words     each built-in provider's job status words and the status aitelier records for them
    rate-keys        the key help `ait rate` shows on `?`
    eval-keys        the key lines of `ait eval`'s scoring and comparison screens
    file PATH        a file of the repository (the shipped JSON Schemas), in a code block
    run EXAMPLE: CMD; CMD...
                     a fresh project from a bundled example, the commands run in it and what they printed

tests/docs/test_generated.py fails when a block is stale, when a command has no page, and when a command or an
option has no help text.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
COMMAND = "python3 dev.py docs"
BLOCK = re.compile(
    r"(<!-- BEGIN GENERATED: (?P<what>[^()]+?) \(python3 dev.py docs\) -->\n)(?P<body>.*?)(<!-- END GENERATED -->)",
    re.S,
)
WIDTH = 100

# What each exit status means, at length (the enum and its short words live in aitelier.errors).
EXIT_DETAILS = {
    "OK": "success",
    "ERROR": "an error not covered below: no project found, an example id that does not exist, a lock held "
    'too long, a file the disk refuses (named with the cause), or "no" to a question (the message says what '
    "was not done)",
    "USAGE": "an unknown flag or a bad argument, or a question that needs a terminal when there is none (the "
    "message names the flag to pass instead)",
    "VALIDATION": "malformed data files (each problem with `path:line`), an invalid config, provider rules "
    "broken (nothing was uploaded or written), or `ait doctor` found problems",
    "PROVIDER": "the provider's API refused or failed after retries, or it cannot serve the model asked for",
    "JOB_FAILED": "a watched fine-tuning job failed or was cancelled",
    "HANGUP": "stopped because the terminal was closed (SIGHUP); `ait rate` and `ait eval` save everything "
    "first",
    "INTERRUPTED": "interrupted with Ctrl-C; nothing half-written is left",
    "TERMINATED": "stopped by SIGTERM; `ait rate` and `ait eval` save everything first",
}


class Stale(Exception):
    """The docs cannot be generated as they stand (a block of an unknown kind, a status with no details)."""


def _root() -> click.Group:
    from aitelier.cli.main import cli

    return cli


def _context(cmd: click.Command, name: str, parent: click.Context | None) -> click.Context:
    # the settings `ait` gives its commands (-h as well as --help), as make_context would apply them
    settings = {**cmd.context_settings, "terminal_width": WIDTH, "max_content_width": WIDTH}
    return click.Context(cmd, info_name=name, parent=parent, **settings)


def walk() -> Iterator[tuple[tuple[str, ...], click.Command, click.Context]]:
    """Every command and subcommand, depth first, as (path, command, context)."""
    root = _root()
    top = _context(root, "ait", None)

    def visit(path: tuple[str, ...], cmd: click.Command, parent: click.Context) -> Iterator[Any]:
        ctx = _context(cmd, path[-1], parent)
        yield path, cmd, ctx
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                assert sub is not None, name
                yield from visit((*path, name), sub, ctx)

    for name in root.list_commands(top):
        cmd = root.get_command(top, name)
        assert cmd is not None, name
        yield from visit((name,), cmd, top)


def help_text(path: tuple[str, ...]) -> str:
    for p, cmd, ctx in walk():
        if p == path:
            return cmd.get_help(ctx)
    raise Stale(f"`ait {' '.join(path)}` is not a command")


def missing_help() -> list[str]:
    """Commands and options that would show no help text."""
    missing = []
    for path, cmd, ctx in walk():
        name = "ait " + " ".join(path)
        if not (cmd.help or cmd.short_help):
            missing.append(f"{name}: the command has no help text")
        for param in cmd.get_params(ctx):
            if isinstance(param, click.Option) and not param.hidden and not param.help:
                missing.append(f"{name} {param.opts[0]}: the option has no help text")
    return missing


# -- block renderers ------------------------------------------------------------------------------------------
def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render_help_root(args: list[str]) -> str:
    root = _root()
    return f"```text\n$ ait --help\n{root.get_help(_context(root, 'ait', None)).rstrip()}\n```\n"


def render_help(args: list[str]) -> str:
    path = tuple(args)
    return f"```text\n$ ait {' '.join(path)} --help\n{help_text(path).rstrip()}\n```\n"


def render_exit_statuses(args: list[str]) -> str:
    from aitelier.errors import EXIT_MEANINGS, ExitStatus

    rows = ["| Status | Name | `ait --help` says | Meaning |", "| --- | --- | --- | --- |"]
    for status in ExitStatus:
        if status.name not in EXIT_DETAILS:
            raise Stale(f"ExitStatus.{status.name} has no EXIT_DETAILS entry in scripts/gen_docs.py: add one")
        rows.append(
            f"| {int(status)} | `{status.name}` | {EXIT_MEANINGS[status]} | {_cell(EXIT_DETAILS[status.name])} |"
        )
    return "\n".join(rows) + "\n"


def _builtin_providers() -> list:
    from aitelier.providers import registry

    return [registry.get(n) for n in registry.names() if registry.is_builtin(n)]


def render_rules(args: list[str]) -> str:
    from aitelier.formats.rules import RULES

    providers = _builtin_providers()
    head = "| Rule | Default | " + " | ".join(p.name for p in providers) + " | Checks |"
    rows = [head, "|" + " --- |" * (len(providers) + 3)]
    for rule in RULES.values():
        default = rule.severity if rule.default_on else f"{rule.severity} where a provider turns it on"
        severities = " | ".join(p.severity(rule.name) for p in providers)
        rows.append(f"| `{rule.name}` | {default} | {severities} | {_cell(rule.summary)} |")
    return "\n".join(rows) + "\n"


def render_providers(args: list[str]) -> str:
    from aitelier.providers.registry import NO_KEY

    rows = [
        "| Provider | Default model | Key | Base URL | Can | Price from | Hyperparameters |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for p in _builtin_providers():
        key = "none" if p.key_var == NO_KEY else f"`{p.key_var}`"
        base = "-" if p.key_var == NO_KEY else f"`{p.base_url_var}`"
        can = ", ".join(sorted(p.capabilities))
        hyper = ", ".join(f"`{h.flag}`" for h in p.hyperparameters) or "-"
        rows.append(
            f"| `{p.name}` ({_cell(p.title)}) | `{p.default_model}` | {key} | {base} | {can} | {p.pricing} "
            f"| {hyper} |"
        )
    return "\n".join(rows) + "\n"


def render_status_words(args: list[str]) -> str:
    from aitelier.providers.base import JobStatus

    providers = _builtin_providers()
    rows = [
        "| aitelier | " + " | ".join(p.name for p in providers) + " |",
        "|" + " --- |" * (len(providers) + 1),
    ]
    for status in JobStatus:
        words = [
            ", ".join(f"`{w}`" for w, s in p.status_map.items() if s is status) or "-" for p in providers
        ]
        rows.append(f"| `{status.value}` | " + " | ".join(words) + " |")
    return "\n".join(rows) + "\n"


def render_rate_keys(args: list[str]) -> str:
    from aitelier.ui.rate_screen import HELP, KEYS_LINE

    return (
        f"The last line of the screen:\n\n```text\n{KEYS_LINE}\n```\n\n`?` shows:\n\n```text\n{HELP}\n```\n"
    )


def render_eval_keys(args: list[str]) -> str:
    from aitelier.ui.eval_screen import COMPARE_KEYS, SCORE_KEYS

    return (
        f"Scoring (`ait eval`):\n\n```text\n{SCORE_KEYS}\n```\n\n"
        f"Blind comparison (`ait eval --compare`):\n\n```text\n{COMPARE_KEYS}\n```\n"
    )


def render_run(spec: str) -> str:
    """`ait init --example NAME` in a temporary folder, then each `;`-separated command, with its output."""
    import shlex
    import subprocess
    import tempfile

    example, _, commands = spec.partition(":")
    example = example.strip()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AITELIER_")}
    env |= {"NO_COLOR": "1", "COLUMNS": str(WIDTH), "TERM": "dumb"}
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp) / example
        subprocess.run(
            [sys.executable, "-m", "aitelier", "init", "--example", example, str(where)],
            check=True,
            capture_output=True,
            env=env,
        )
        for command in commands.split(";"):
            args = shlex.split(command)
            r = subprocess.run(
                [sys.executable, "-m", "aitelier", *args], cwd=where, capture_output=True, text=True, env=env
            )
            if r.returncode != 0:
                raise Stale(
                    f"`ait {command.strip()}` in the {example} example exited {r.returncode}: {r.stderr}"
                )
            text = (r.stdout + r.stderr).replace(str(where), f"~/{example}").rstrip()
            out.append(f"$ ait {' '.join(args)}\n{text}")
    return "```text\n" + "\n\n".join(out) + "\n```\n"


def command_pages() -> dict[tuple[str, ...], Path]:
    """Which page documents each command: the page holding its `help` block."""
    pages: dict[tuple[str, ...], Path] = {}
    for page in sorted(DOCS.rglob("*.md")):
        for m in BLOCK.finditer(page.read_text(encoding="utf-8")):
            kind, *args = m["what"].split()
            if kind == "help":
                pages.setdefault(tuple(args), page)
    return pages


def render_commands(args: list[str], page: Path) -> str:
    pages = command_pages()
    rows = ["| Command | What it does | Page |", "| --- | --- | --- |"]
    for path, cmd, _ in walk():
        where = pages.get(path)
        if where is None:
            raise Stale(
                f"`ait {' '.join(path)}` has no page: put a `help {' '.join(path)}` block in the page under "
                "docs/commands/ that describes it"
            )
        link = os.path.relpath(where, page.parent).replace(os.sep, "/")
        anchor = "ait-" + "-".join(path)
        title = re.sub(r"\s*\{#.*\}$", "", where.read_text(encoding="utf-8").splitlines()[0].lstrip("# "))
        rows.append(
            f"| [`ait {' '.join(path)}`]({link}#{anchor}) | {_cell(cmd.get_short_help_str(120))} | {title} |"
        )
    return "\n".join(rows) + "\n"


RENDERERS: dict[str, Callable[[list[str]], str]] = {
    "help": render_help,
    "help-root": render_help_root,
    "exit-statuses": render_exit_statuses,
    "rules": render_rules,
    "providers": render_providers,
    "status-words": render_status_words,
    "rate-keys": render_rate_keys,
    "eval-keys": render_eval_keys,
}


def render(what: str, page: Path) -> str:
    kind, *args = what.split()
    if kind == "file":
        lang = Path(args[0]).suffix.lstrip(".")
        return f"```{lang}\n{(ROOT / args[0]).read_text(encoding='utf-8').rstrip()}\n```\n"
    if kind == "run":
        return render_run(what[len("run ") :])
    if kind == "commands":
        return render_commands(args, page)
    if kind not in RENDERERS:
        raise Stale(f"{page}: unknown generated block {what!r}")
    return RENDERERS[kind](args)


def regenerate(page: Path) -> str:
    """The page's text with every generated block brought up to date."""
    text = page.read_text(encoding="utf-8")
    return BLOCK.sub(lambda m: m[1] + render(m["what"], page) + m[4], text)


def expected() -> dict[Path, str]:
    """Every page under docs/ that holds a generated block, with its up-to-date text."""
    out = {}
    for page in sorted(DOCS.rglob("*.md")):
        if BLOCK.search(page.read_text(encoding="utf-8")):
            out[page] = regenerate(page)
    return out


def main() -> int:
    os.environ["NO_COLOR"] = "1"
    missing = missing_help()
    for line in missing:
        print(f"missing help: {line}", file=sys.stderr)
    changed = 0
    for page, text in expected().items():
        if page.read_text(encoding="utf-8") != text:
            page.write_text(text, encoding="utf-8")
            print(f"updated {page.relative_to(ROOT)}")
            changed += 1
    print(f"{changed} page(s) updated" if changed else "the generated docs were already current")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
