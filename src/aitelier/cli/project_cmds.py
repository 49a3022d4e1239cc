"""``ait init``, ``add``, ``import``, ``list``, ``show``, ``edit`` and ``rm``: parse flags, call the library, render.

The logic lives in :mod:`aitelier.curation`, :mod:`aitelier.importers` and :mod:`aitelier.bundled`. Nothing
heavy is imported at module level (``ait add`` on a 100k-example project is measured); rich is only loaded for
the table that ``ait list`` draws on a terminal.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..bundled import NAMES as EXAMPLE_NAMES
from ..errors import Declined, NeedsTerminal, UsageError, ValidationFailed
from ..project import DEFAULT_THRESHOLD, refuse_existing
from .common import echo_json, get_env, one_line, open_project, read_text
from .env import Env, NoTerminal
from .options import PROVIDER

if TYPE_CHECKING:
    from ..project import Project
    from ..store import Example
    from ..store.schema import Head

# What each command asks a person, and the flags that do without a terminal.
_INIT = NoTerminal("ait init asks for the project's settings", "--name NAME --yes", "take the defaults")
_ADD = NoTerminal(
    "ait add asks for the example's text", "--input FILE --output FILE (or --messages FILE)", "add one"
)
_EDIT = NoTerminal("ait edit opens $EDITOR", "--from FILE", "edit")
_RM = NoTerminal("ait rm asks before removing", "--yes", "remove")


# -- small helpers ------------------------------------------------------------------------------------------------
def _style(env: Env, text: str, **kw: Any) -> str:
    return click.style(text, **kw) if env.color else text


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _read_stdin_bytes(env: Env) -> bytes:
    buffer = getattr(env.stdin, "buffer", None)
    if buffer is not None:
        return bytes(buffer.read())
    return env.stdin.read().encode("utf-8")


# -- init ---------------------------------------------------------------------------------------------------------
@click.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@click.option("--name", help="Project name (default: the directory's name).")
@click.option("--provider", type=PROVIDER, help="Where it trains (default: together).")
@click.option("--model", help="Base model to fine-tune (default: a sensible one per provider).")
@click.option("--system-prompt", help="System message put first in every example ('' for none).")
@click.option(
    "--threshold",
    type=click.IntRange(1, 10),
    help=f"Quality threshold: examples rated at or above it are trained on (default {DEFAULT_THRESHOLD}).",
)
@click.option(
    "--example",
    type=click.Choice(EXAMPLE_NAMES),
    help="Create the project from a bundled example (config and rated examples).",
)
@click.option("--yes", "-y", is_flag=True, help="Ask nothing: use the defaults for whatever is not given.")
def init(
    directory: str | None,
    name: str | None,
    provider: str | None,
    model: str | None,
    system_prompt: str | None,
    threshold: int | None,
    example: str | None,
    yes: bool,
) -> None:
    """Create a project in DIRECTORY (default: the current directory).

    Asks for the name, provider, base model and system prompt on a terminal; each has a flag, and with
    --name and --yes nothing is asked. Refuses to overwrite an existing project or data files.

    \b
    Examples:
      ait init
      ait init --name support-bot --provider together --yes
      ait init --example customer-support demo
    """
    from ..providers import registry

    env = get_env()
    root = Path(directory or env.project_dir or os.getcwd()).resolve()
    refuse_existing(root)  # before asking anything

    if example:
        from ..bundled import create_from_example

        project = create_from_example(
            root,
            example,
            project_name=name,
            provider=provider,
            model=model,
            system_prompt=system_prompt,
            threshold=threshold,
        )
        n = len(project.store.read())
        env.out(
            f"Created project {project.name!r} in {root} from the bundled {example} example ({n} examples)."
        )
        env.out("Next: `ait stats` to see where it stands, `ait list` to browse, `ait rate` to rate.")
        return

    given = {"name": name, "provider": provider, "model": model, "system prompt": system_prompt}
    missing = [label for label, value in given.items() if value is None]
    if missing and not yes:
        if not env.interactive:
            raise NeedsTerminal(
                f"`ait init` needs a terminal to ask for the {_and(missing)}",
                hint="pass --name NAME --yes to take the defaults for the rest; "
                "--provider, --model and --system-prompt set them",
            )
        if name is None:
            name = env.prompt("Project name", _INIT, default=root.name)
        if provider is None:
            provider = env.prompt("Provider", _INIT, choices=registry.names(), default=registry.DEFAULT)
        if model is None:
            model = env.prompt("Base model", _INIT, default=registry.get(provider).default_model)
        if system_prompt is None:
            system_prompt = env.prompt(
                "System prompt (put first in every example; Enter for none)",
                _INIT,
                default="",
                show_default=False,
            )
    provider = provider or registry.DEFAULT

    from ..project import Project

    project = Project.create(
        root,
        name=(name or root.name).strip() or root.name,
        provider=provider,
        model=model,
        system_prompt=(system_prompt or "").strip() or None,
        threshold=threshold or DEFAULT_THRESHOLD,
    )
    env.out(f"Created project {project.name!r} in {root} ({project.provider}, {project.model}).")
    notice = registry.get(provider).notice
    if notice:
        env.warn(notice)
    env.out("Next: `ait add` to write an example, or `ait import FILE` to bring many in.")


# -- add ----------------------------------------------------------------------------------------------------------
USER_MARK = "##### USER: the input (write it below this line; keep this line) #####"
ASSISTANT_MARK = "##### ASSISTANT: the ideal reply (write it below this line; keep this line) #####"


@click.command()
@click.option(
    "--input",
    "input_file",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="File holding the user's input ('-' = stdin).",
)
@click.option(
    "--output",
    "output_file",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="File holding the ideal assistant reply ('-' = stdin).",
)
@click.option(
    "--messages",
    "messages_file",
    type=click.Path(dir_okay=False, allow_dash=True),
    help='A multi-turn conversation: a JSON list of {"role", "content"} messages (\'-\' = stdin).',
)
@click.option("--rating", type=click.IntRange(1, 10), help="Rate it at once (1-10).")
@click.option(
    "--system",
    help="Use this system message instead of the project's system prompt ('' for none).",
)
def add(
    input_file: str | None,
    output_file: str | None,
    messages_file: str | None,
    rating: int | None,
    system: str | None,
) -> None:
    """Add one example and print its id.

    On a terminal with no flags, asks for the input and the ideal output, pasted or written in $EDITOR, one
    turn or several. The project's system prompt goes first unless --system replaces it or the conversation
    has its own. An exact duplicate of an existing example is added with a warning.

    \b
    Examples:
      ait add
      ait add --input question.txt --output answer.txt --rating 9
      ait add --messages conversation.json
      echo "What are your hours?" | ait add --input - --output answer.txt
    """
    from ..curation import (
        add_example,
        check_conversation,
        clean_text,
        from_turns,
        parse_messages_json,
        system_for,
        with_system,
    )

    env = get_env()
    if messages_file and (input_file or output_file):
        raise UsageError("--messages cannot be combined with --input/--output")
    if bool(input_file) != bool(output_file):
        raise UsageError("--input and --output go together", hint="or use --messages for a conversation")
    if input_file == "-" and output_file == "-":
        raise UsageError("only one of --input and --output can read stdin")
    project = open_project()
    sys_prompt = system_for(project.system_prompt, system)
    if messages_file:
        where = "<stdin>" if messages_file == "-" else messages_file
        messages = parse_messages_json(read_text(env, messages_file, "the conversation"), where)
        has_own = bool(messages) and isinstance(messages[0], dict) and messages[0].get("role") == "system"
        if has_own and system is not None:
            raise UsageError(f"{where} has its own system message; drop --system or remove it from the file")
        check_conversation(messages, where)
        messages = with_system(messages, sys_prompt)
    elif input_file and output_file:
        user = clean_text(read_text(env, input_file, "the input"))
        assistant = clean_text(read_text(env, output_file, "the output"))
        messages = from_turns([(user, assistant)], sys_prompt)
        check_conversation(messages, f"{input_file} + {output_file}")
    else:
        env.require_terminal(_ADD)
        messages = from_turns(_ask_turns(env, project, sys_prompt), sys_prompt)
        if rating is None:
            rating = _ask_rating(env)

    added = add_example(project, messages, rating=rating)
    env.out(f"Added example {added.id}" + (f" (rated {rating})" if rating is not None else ""))
    if added.malformed:
        lines = ", ".join(map(str, added.malformed[:5])) + (", ..." if len(added.malformed) > 5 else "")
        env.warn(
            f"{project.examples_path} has lines that are not valid examples (line {lines}); "
            "`ait doctor` lists them"
        )
    if added.duplicate_of is not None:
        env.warn(
            f"example {added.id} is an exact duplicate of example {added.duplicate_of} "
            f"(kept; `ait rm {added.id}` removes it)"
        )


def _ask_turns(env: Env, project: Project, system: str | None) -> list[tuple[str, str]]:
    from ..editor import has_editor

    env.out(f"Adding an example to {project.name!r}.")
    if system:
        env.out(f"System prompt: {one_line(system, 90)}")
    use_editor = (
        env.prompt(
            "Paste the text here (p) or write it in your editor (e)?", _ADD, choices=["p", "e"], default="p"
        )
        == "e"
    )
    if use_editor and not has_editor(env.environ):
        env.warn("no editor is set ($VISUAL or $EDITOR); paste the text here instead")
        use_editor = False
    turns: list[tuple[str, str]] = []
    while True:
        label = f" (turn {len(turns) + 1})" if turns else ""
        if use_editor:
            turns.append(_editor_turn(env, label))
        else:
            user = _read_paste(env, f"User input{label}")
            assistant = _read_paste(env, f"Ideal assistant reply{label}")
            turns.append((user, assistant))
        if not env.confirm("Add another turn?", _ADD):
            return turns


def _read_paste(env: Env, label: str) -> str:
    """Multi-line text ending with a line holding only '.' (or end of input)."""
    from ..curation import clean_text

    env.out(f"{label}: paste or type it, then a line with only '.' (or Ctrl-D)")
    while True:
        block, eof = env.read_block()
        text = clean_text(block)
        if text:
            return text
        if eof:
            raise UsageError("no text was entered; nothing was added")
        env.out(f"{label} is empty; type it, then a line with only '.'")


def parse_editor_turn(text: str) -> tuple[str, str]:
    """(user, assistant) from the add template. Raises ValidationFailed when a part is missing or empty."""
    from ..curation import clean_text

    lines = text.replace("\r\n", "\n").split("\n")
    starts = [i for i, ln in enumerate(lines) if ln.strip().startswith("##### USER")]
    ends = [i for i, ln in enumerate(lines) if ln.strip().startswith("##### ASSISTANT")]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise ValidationFailed(
            "the '##### USER' and '##### ASSISTANT' marker lines must each appear once, USER first"
        )
    user = clean_text("\n".join(lines[starts[0] + 1 : ends[0]]))
    assistant = clean_text("\n".join(lines[ends[0] + 1 :]))
    empty = [name for name, part in (("input", user), ("reply", assistant)) if not part]
    if empty:
        raise ValidationFailed(f"the {' and the '.join(empty)} {'is' if len(empty) == 1 else 'are'} empty")
    return user, assistant


def _editor_turn(env: Env, label: str) -> tuple[str, str]:
    from ..editor import edit_text

    text = f"{USER_MARK}\n\n{ASSISTANT_MARK}\n\n"
    while True:
        env.out(f"Opening your editor{label}; save and close it to continue.")
        text = edit_text(text, suffix=".md", prefix="ait-add-", environ=env.environ)
        try:
            return parse_editor_turn(text)
        except ValidationFailed as e:
            env.err(f"ait: {e}")
            if not env.confirm("Open the editor again?", _ADD, default=True):
                raise Declined("Nothing was added.") from e


def _ask_rating(env: Env) -> int | None:
    while True:
        answer = env.prompt("Rating 1-10 (Enter to leave it unrated)", _ADD, default="", show_default=False)
        if not answer:
            return None
        if answer.isdigit() and 1 <= int(answer) <= 10:
            return int(answer)
        env.out("Type a whole number from 1 to 10, or press Enter.")


# -- import -------------------------------------------------------------------------------------------------------
@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv"]),
    help="Input format (default: from the extension: .jsonl/.json/.ndjson or .csv/.tsv).",
)
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Add the valid lines even when some are rejected (default: all or nothing).",
)
@click.option("--dry-run", is_flag=True, help="Check and count only; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def import_(file: str, fmt: str | None, skip_invalid: bool, dry_run: bool, as_json: bool) -> None:
    """Bulk-add examples from a JSONL or CSV FILE ('-' = stdin, with --format).

    JSONL lines may be chat lines ({"messages": [...]}, as OpenAI and Together take them), prompt/completion or
    input/output pairs, or example lines from another aitelier project. CSV needs input and output columns; a
    rating column is optional. A rating (1-10) on any line is kept. Exact duplicates are skipped. If any line is
    rejected nothing is written (exit 3) unless --skip-invalid is given.
    """
    from ..importers import import_file

    env = get_env()
    project = open_project()
    data = _read_stdin_bytes(env) if file == "-" else None
    report = import_file(project, file, fmt=fmt, data=data, skip_invalid=skip_invalid, dry_run=dry_run)
    blocked = bool(report.rejected) and not skip_invalid

    if as_json:
        echo_json(env, report.to_json())
    else:
        where = report.path
        if report.written:
            first, last = report.added[0], report.added[-1]
            span = f"id {first}" if first == last else f"ids {first}-{last}"
            env.out(f"Added {len(report.added)} example(s) from {where} ({span}).")
        elif dry_run and not blocked:
            env.out(
                f"Dry run: {report.would_add} example(s) from {where} would be added; nothing was written."
            )
        elif not blocked:
            env.out(f"Nothing new to add from {where}.")
        if report.duplicates:
            env.out(f"Skipped {len(report.duplicates)} exact duplicate(s):")
            for d in report.duplicates[:20]:
                of = f"example {d.of_id}" if d.of_id is not None else f"line {d.of_line}"
                env.out(f"  {where}:{d.line}: same conversation as {of}")
            if len(report.duplicates) > 20:
                env.out(f"  ... and {len(report.duplicates) - 20} more (--json lists all)")
        for note in report.notes:
            env.out(f"Note: {note}")
        if report.rejected and not blocked:
            env.warn(f"rejected {len(report.rejected)} line(s), which were not added:")
            for p in report.problems()[:50]:
                env.err(f"  {p}")
            if len(report.rejected) > 50:
                env.err(f"  ... and {len(report.rejected) - 50} more (--json lists all)")
    if blocked:
        raise ValidationFailed(
            f"{len(report.rejected)} line(s) of {report.path} cannot be imported, so nothing was added "
            f"({report.would_add} other line(s) are fine): {report.problems()[0]}",
            report.problems(),
            hint="fix them, or pass --skip-invalid to add the valid lines",
        )


# -- list ---------------------------------------------------------------------------------------------------------
@click.command("list")
@click.option("--rated", is_flag=True, help="Only rated examples.")
@click.option("--unrated", is_flag=True, help="Only unrated examples.")
@click.option("--min", "min_", type=click.IntRange(1, 10), help="Only examples rated N or more.")
@click.option("--max", "max_", type=click.IntRange(1, 10), help="Only examples rated N or less.")
@click.option(
    "--split",
    type=click.Choice(["train", "val", "none"]),
    help="Only examples in this split ('none': not assigned yet).",
)
@click.option("--limit", type=click.IntRange(min=1), help="Show at most N examples.")
@click.option("--json", "as_json", is_flag=True, help="Print the full records as a JSON array.")
@click.option(
    "--no-interactive",
    "no_interactive",
    is_flag=True,
    hidden=True,
    help="Accepted for the npm tool's scripts.",
)
def list_(
    rated: bool,
    unrated: bool,
    min_: int | None,
    max_: int | None,
    split: str | None,
    limit: int | None,
    as_json: bool,
    no_interactive: bool,
) -> None:
    """List examples by id: id, rating, split, turns, input and output, one per line.

    \b
    Examples:
      ait list --unrated
      ait list --min 8 --split train
      ait list --json | jq '.[].id'
    """
    env = get_env()
    if rated and unrated:
        raise UsageError("--rated and --unrated cannot be combined")
    if unrated and (min_ is not None or max_ is not None):
        raise UsageError("--min/--max select rated examples; they cannot be combined with --unrated")
    if min_ is not None and max_ is not None and min_ > max_:
        raise UsageError(f"--min {min_} is above --max {max_}; nothing could match")
    project = open_project()
    snap = project.store.read(full=True)
    total = len(snap)
    rows = [row for row, head in enumerate(snap.heads) if _matches(head, rated, unrated, min_, max_, split)]
    matched = len(rows)
    # by id: the file is in the order examples were written, which a merge can change
    rows.sort(key=lambda row: snap.heads[row].id)
    shown = [snap.example(row) for row in (rows if limit is None else rows[:limit])]

    if as_json:
        from ..store import dumps

        env.stdout.write("[\n" + ",\n".join(dumps(ex.data) for ex in shown) + ("\n]\n" if shown else "]\n"))
        env.stdout.flush()
        return
    if not shown:
        msg = (
            "No examples yet; `ait add` or `ait import FILE` adds some."
            if not total
            else "No examples match."
        )
        env.err(msg)
        return
    if env.stdout_isatty:
        _rich_table(env, project, shown)
        env.console.print(_count_line(len(shown), matched, total), style="dim", highlight=False)
    else:
        _plain_table(env, shown)


def _count_line(shown: int, matched: int, total: int) -> str:
    if shown == matched == total:
        return f"{total} example(s)."
    if matched == total:
        return f"{shown} of {total} example(s) shown."
    if shown == matched:
        return f"{matched} of {total} example(s) match."
    return f"{shown} shown of {matched} matching ({total} in total)."


def _matches(
    ex: Head, rated: bool, unrated: bool, min_: int | None, max_: int | None, split: str | None
) -> bool:
    r = ex.rating
    if rated and r is None or unrated and r is not None:
        return False
    if min_ is not None and (r is None or r < min_):
        return False
    if max_ is not None and (r is None or r > max_):
        return False
    return split is None or ex.split == (None if split == "none" else split)


def _row(ex: Example) -> tuple[str, str, str, str, str, str]:
    msgs = ex.data["messages"]
    first_user = next((str(m["content"]) for m in msgs if m["role"] == "user"), "")
    turns = sum(1 for m in msgs if m["role"] == "user")
    return (
        str(ex.id),
        "-" if ex.rating is None else str(ex.rating),
        ex.split or "-",
        str(turns),
        first_user,
        ex.output,
    )


def _plain_table(env: Env, examples: list[Example]) -> None:
    rows = [_row(ex) for ex in examples]
    idw = max(2, *(len(r[0]) for r in rows))
    header = f"{'ID':>{idw}}  RATING  SPLIT  TURNS  {'INPUT':<40}  OUTPUT"
    out = [header]
    for ident, rating, split, turns, user, output in rows:
        out.append(
            f"{ident:>{idw}}  {rating:>6}  {split:<5}  {turns:>5}  {one_line(user, 40):<40}  {one_line(output, 40)}"
        )
    env.stdout.write("\n".join(out) + "\n")
    env.stdout.flush()


def _rich_table(env: Env, project: Project, examples: list[Example]) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=True)
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("rating", justify="right", no_wrap=True)
    table.add_column("split", no_wrap=True)
    table.add_column("turns", justify="right", no_wrap=True)
    table.add_column("input", no_wrap=True, overflow="ellipsis", ratio=1)
    table.add_column("output", no_wrap=True, overflow="ellipsis", ratio=1)
    threshold = project.threshold
    for ex in examples:
        ident, rating, split, turns, user, output = _row(ex)
        if ex.rating is None:
            style = "dim"
        else:
            style = "green" if ex.rating >= threshold else "red"
        table.add_row(
            ident,
            Text(rating, style=style),
            split,
            turns,
            Text(" ".join(user.split())),
            Text(" ".join(output.split())),
        )
    env.console.print(table)


# -- show ---------------------------------------------------------------------------------------------------------
@click.command()
@click.argument("ident", type=int, metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print the stored record as JSON.")
def show(ident: int, as_json: bool) -> None:
    """Show example ID in full: its fields, then every message."""
    from ..ui.conversation import ROLE_STYLE

    env = get_env()
    ex = open_project().store.read(full=True).get(ident)
    if as_json:
        echo_json(env, ex.data)
        return
    d = ex.data
    env.out(_style(env, f"Example {ex.id}", bold=True))
    rating = "unrated" if ex.rating is None else str(ex.rating)
    if ex.rating is not None and d.get("ratedAt"):
        rating += f" (rated {d['ratedAt']})"
    fields = [("rating", rating), ("split", ex.split or "not assigned"), ("version", str(ex.version))]
    for key, label in (("createdAt", "created"), ("updatedAt", "updated"), ("source", "source")):
        if d.get(key):
            fields.append((label, str(d[key])))
    if d.get("tags"):
        fields.append(("tags", ", ".join(d["tags"])))
    for label, value in fields:
        env.out(f"  {label:<8} {value}")
    for m in d["messages"]:
        env.out("")
        env.out(_style(env, f"[{m['role']}]", fg=ROLE_STYLE.get(m["role"]), bold=True))
        env.out(str(m["content"]))
    oo = ex.original_output
    if oo is not None and oo != ex.output:
        env.out("")
        env.out(_style(env, "[original output, before the rewrite]", fg="yellow", bold=True))
        env.out(oo)


# -- edit ---------------------------------------------------------------------------------------------------------
@click.command()
@click.argument("ident", type=int, metavar="ID")
@click.option(
    "--from",
    "from_file",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Take the edited record (JSON, as `ait show ID --json` prints it) from FILE instead of $EDITOR.",
)
def edit(ident: int, from_file: str | None) -> None:
    """Edit example ID in $EDITOR (as JSON); on save it is checked, its version bumped.

    If the assistant reply changes, the old reply is kept as originalOutput (unless one is already kept). The
    id and the split cannot be changed here. If the example changed on disk while the editor was open, nothing
    is written and your edit is kept in a file for `ait edit ID --from FILE`.

    \b
    Examples:
      ait edit 12
      ait show 12 --json > ex.json && $EDITOR ex.json && ait edit 12 --from ex.json
    """
    from ..curation import EditConflict, apply_edit, edit_document, save_edit

    env = get_env()
    project = open_project()
    original = project.store.read(full=True).get(ident)
    if from_file:
        edited = apply_edit(original, read_text(env, from_file, "the edited record"))
    else:
        env.require_terminal(_EDIT)
        from ..editor import edit_text

        text = edit_document(original)
        while True:
            text = edit_text(text, suffix=".json", prefix=f"ait-example-{ident}-", environ=env.environ)
            try:
                edited = apply_edit(original, text)
                break
            except ValidationFailed as e:
                env.err(f"ait: {e}")
                if not env.confirm("Open the editor again?", _EDIT, default=True):
                    _keep_edit(ident, text, e)
    if edited is None:
        env.out(f"No changes; example {ident} is as it was.")
        return
    try:
        save_edit(project, original, edited)
    except EditConflict as e:
        if from_file:
            raise
        _keep_edit(ident, text, e)
    env.out(f"Saved example {ident} (version {edited.version}).")


def _keep_edit(ident: int, text: str, error: Exception) -> None:
    """Never lose what the user typed: keep it in a file and say how to apply it."""
    import tempfile

    fd, name = tempfile.mkstemp(prefix=f"ait-edit-{ident}-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    message = getattr(error, "message", str(error))
    raise ValidationFailed(
        f"{message}; nothing was written, your edit is kept in {name}",
        hint=f"fix it and run `ait edit {ident} --from {name}`",
    ) from error


# -- rm -----------------------------------------------------------------------------------------------------------
@click.command()
@click.argument("ident", type=int, metavar="ID")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def rm(ident: int, yes: bool) -> None:
    """Remove example ID (asks first). Its id is never given to another example."""
    from ..curation import remove_example

    env = get_env()
    project = open_project()
    if not yes:
        ex = project.store.read().get(ident)
        rating = "unrated" if ex.rating is None else f"rated {ex.rating}"
        question = f"Remove example {ident} ({rating}: {one_line(ex.last_user, 50)!r})?"
        if not env.confirm(question, _RM):
            raise Declined("Nothing removed.")
    remove_example(project, ident)
    env.out(f"Removed example {ident}.")
