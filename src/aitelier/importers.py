"""Bulk import of examples from JSONL or CSV: every line is either accepted or rejected with its line number.

Accepted line shapes (JSONL, one JSON object per line):

* chat lines as OpenAI and Together take them: ``{"messages": [{"role": ..., "content": ...}, ...]}``;
* ``{"prompt": ..., "completion": ...}`` and ``{"input": ..., "output": ...}`` (one turn each);
* example lines from an aitelier project (npm or Python): ``id`` and ``split`` are dropped (new ids are
  assigned; splits belong to the project that made them), ``rating``, ``originalOutput``, the timestamps,
  ``version``, ``tags`` and any other fields are kept.

CSV needs ``input`` and ``output`` columns (any case, any order); ``rating`` and ``system`` are optional, other
columns are ignored and named in the report. Multi-line cells, a UTF-8 byte-order mark (Excel) and ``;`` or tab
separators are fine.

A ``rating`` (an integer 1-10, or empty/null) is kept on any line. A line without a system message gets the
project's system prompt first. Duplicates (the same conversation as an existing example or an earlier line) are
skipped and counted. By default the import is all or nothing: one rejected line and nothing is written.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .curation import conversation_problems, with_system
from .errors import DataError, DataProblem, UsageError
from .store import validate_record
from .store.store import content_key

if TYPE_CHECKING:
    from .project import Project
    from .store import Store

FORMATS = ("jsonl", "csv")
_EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".tsv": "csv"}
# example-line fields that are not carried over
_DROPPED = ("id", "split")


@dataclass
class Candidate:
    line: int
    record: dict[str, Any]  # messages, rating and extras, ready for Store.append

    @property
    def key(self) -> bytes:
        return content_key(self.record["messages"])


@dataclass
class Rejected:
    line: int
    reason: str


@dataclass
class Duplicate:
    line: int
    of_id: int | None = None  # an existing example
    of_line: int | None = None  # an earlier line of the same file


@dataclass
class Parsed:
    path: str
    format: str
    candidates: list[Candidate] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    path: str
    format: str
    added: list[int] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    written: bool = False
    dry_run: bool = False
    would_add: int = 0

    def problems(self) -> list[DataProblem]:
        return [DataProblem(self.path, r.line, r.reason) for r in self.rejected]

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.path,
            "format": self.format,
            "written": self.written,
            "dry_run": self.dry_run,
            "added": len(self.added),
            "would_add": self.would_add,
            "ids": self.added,
            "duplicates": [
                {"line": d.line, "duplicate_of_id": d.of_id, "duplicate_of_line": d.of_line}
                for d in self.duplicates
            ],
            "rejected": [{"line": r.line, "reason": r.reason} for r in self.rejected],
            "notes": self.notes,
        }


# -- detecting ------------------------------------------------------------------------------------------------
def detect_format(path: str) -> str:
    ext = Path(path).suffix.lower()
    fmt = _EXTENSIONS.get(ext)
    if fmt is None:
        raise UsageError(
            f"cannot tell the format of {path} from its name", hint="pass --format jsonl or --format csv"
        )
    return fmt


# -- one record -------------------------------------------------------------------------------------------------
def _rating(value: Any) -> tuple[int | None, str | None]:
    if value is None:
        return None, None
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 10:
        return value, None
    return None, f"`rating` must be an integer 1-10 or null, got {json.dumps(value, ensure_ascii=False)}"


def _build(
    messages: Any, rating: Any, extras: dict[str, Any], system: str | None
) -> tuple[dict[str, Any] | None, list[str]]:
    """A record for Store.append, or the reasons the line cannot be one."""
    problems = conversation_problems(messages)
    value, rating_problem = _rating(rating)
    if rating_problem:
        problems.append(rating_problem)
    if problems:
        return None, problems
    record: dict[str, Any] = {"messages": with_system(messages, system), "rating": value, **extras}
    # the same field rules as a stored example (timestamps, version, tags, originalOutput)
    problems = [p for p in validate_record({"id": 1, **record}) if "`id`" not in p]
    return (None, problems) if problems else (record, [])


def _from_object(obj: Any, system: str | None, source: str) -> tuple[dict[str, Any] | None, list[str], bool]:
    """(record, problems, had a split) for one parsed JSONL value."""
    if not isinstance(obj, dict):
        return None, [f"expected a JSON object, got {type(obj).__name__}"], False
    had_split = obj.get("split") is not None
    if "messages" in obj:
        messages = obj["messages"]
        consumed: tuple[str, ...] = ("messages", "rating", *_DROPPED)
    elif "prompt" in obj or "completion" in obj:
        messages, consumed = _one_turn(obj, "prompt", "completion")
    elif "input" in obj or "output" in obj:
        messages, consumed = _one_turn(obj, "input", "output")
    else:
        return None, ["no `messages`, `prompt`/`completion` or `input`/`output` fields"], had_split
    if isinstance(messages, str):
        return None, [messages], had_split
    extras = {k: v for k, v in obj.items() if k not in consumed}
    extras.setdefault("source", source)
    record, problems = _build(messages, obj.get("rating"), extras, system)
    return record, problems, had_split


def _one_turn(obj: dict[str, Any], ask: str, answer: str) -> tuple[Any, tuple[str, ...]]:
    user, assistant = obj.get(ask), obj.get(answer)
    if not isinstance(user, str) or not isinstance(assistant, str):
        return f"`{ask}` and `{answer}` must both be strings", ()
    empty = _empty_fields(((ask, user), (answer, assistant)))
    if empty:
        return empty, ()
    messages: list[dict[str, Any]] = []
    own_system = obj.get("system")
    if isinstance(own_system, str) and own_system:
        messages.append({"role": "system", "content": own_system})
    messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    return messages, (ask, answer, "system", "rating", *_DROPPED)


def _empty_fields(fields: tuple[tuple[str, str], ...]) -> str:
    empty = [f"`{name}`" for name, value in fields if not value.strip()]
    if not empty:
        return ""
    return f"{' and '.join(empty)} {'is' if len(empty) == 1 else 'are'} empty"


# -- files ----------------------------------------------------------------------------------------------------
def parse_jsonl(data: bytes, path: str, *, system: str | None = None) -> Parsed:
    """Parse JSONL bytes. A BOM, CRLF endings and blank lines are tolerated in a file being imported."""
    parsed = Parsed(path, "jsonl")
    source = f"import:{Path(path).name}"
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    splits = 0
    for n, raw in enumerate(data.split(b"\n"), 1):
        raw = raw.rstrip(b"\r")
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            parsed.rejected.append(Rejected(n, f"invalid UTF-8 at byte {e.start + 1}"))
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            parsed.rejected.append(Rejected(n, f"invalid JSON: {e.msg} (column {e.colno})"))
            continue
        record, problems, had_split = _from_object(obj, system, source)
        if record is None:
            parsed.rejected.append(Rejected(n, "; ".join(problems)))
            continue
        splits += had_split
        parsed.candidates.append(Candidate(n, record))
    if splits:
        parsed.notes.append(
            f"{splits} line(s) had a `split`; it was not imported (assign splits here with `ait split`)"
        )
    return parsed


def _sniff_delimiter(text: str) -> str:
    header = text.split("\n", 1)[0]
    if "," not in header:
        for d in ("\t", ";"):
            if d in header:
                return d
    return ","


def parse_csv(data: bytes, path: str, *, system: str | None = None) -> Parsed:
    """Parse CSV bytes with a header row holding ``input`` and ``output`` (and optionally ``rating``, ``system``)."""
    parsed = Parsed(path, "csv")
    source = f"import:{Path(path).name}"
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise DataError(
            [DataProblem(path, line, f"invalid UTF-8 at byte {e.start + 1} of the file")],
            hint="save the CSV as UTF-8 (in Excel: CSV UTF-8)",
        ) from e
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(text))
    try:
        header = next(reader)
    except StopIteration:
        return parsed
    except csv.Error as e:
        raise DataError([DataProblem(path, 1, f"cannot read the CSV header: {e}")]) from e
    columns = [h.strip().lower() for h in header]
    missing = [c for c in ("input", "output") if c not in columns]
    if missing:
        raise DataError(
            [DataProblem(path, 1, f"the header has no {' or '.join(f'`{c}`' for c in missing)} column")],
            hint="the first row must name the columns: input,output[,rating][,system]",
        )
    index = {c: columns.index(c) for c in ("input", "output", "rating", "system") if c in columns}
    ignored = [h for h, c in zip(header, columns, strict=True) if c not in index and c]
    if ignored:
        parsed.notes.append(f"ignored column(s): {', '.join(ignored)}")
    end = reader.line_num
    while True:
        start = end + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            parsed.rejected.append(Rejected(start, f"cannot parse this CSV row: {e}"))
            break  # the reader cannot resynchronise after a broken quote
        end = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < len(header):
            row = row + [""] * (len(header) - len(row))
        if len(row) > len(header):
            parsed.rejected.append(
                Rejected(start, f"the row has {len(row)} cells but the header has {len(header)}")
            )
            continue
        obj: dict[str, Any] = {c: row[i] for c, i in index.items()}
        obj["rating"] = obj.get("rating", "").strip() or None
        with contextlib.suppress(TypeError, ValueError):  # text that is not a number is rejected as it is
            obj["rating"] = int(obj["rating"])
        if not obj.get("system", "").strip():
            obj.pop("system", None)
        record, problems, _ = _from_object(obj, system, source)
        if record is None:
            parsed.rejected.append(Rejected(start, "; ".join(problems)))
        else:
            parsed.candidates.append(Candidate(start, record))
    return parsed


def parse_file(
    path: str, *, fmt: str | None = None, system: str | None = None, data: bytes | None = None
) -> Parsed:
    if fmt is None:
        if path == "-":
            raise UsageError("reading from stdin needs a format", hint="pass --format jsonl or --format csv")
        fmt = detect_format(path)
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}", hint="use jsonl or csv")
    if data is None and path == "-":  # the command line reads its standard input (through its Env)
        raise UsageError("'-' (standard input) needs the bytes passed as data=")
    if data is None:
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise UsageError(f"cannot read {path}: {e.strerror or e}") from e
    where = "<stdin>" if path == "-" else path
    if fmt == "csv":
        return parse_csv(data, where, system=system)
    return parse_jsonl(data, where, system=system)


# -- duplicates and writing -----------------------------------------------------------------------------------
def _dedupe(store: Store, candidates: list[Candidate]) -> tuple[list[Candidate], list[Duplicate]]:
    """The candidates to add, and the lines that repeat an existing example or an earlier line."""
    existing = store.known_conversations()  # strict: a malformed store stops the import with file:line
    first_line: dict[bytes, int] = {}
    keep: list[Candidate] = []
    dups: list[Duplicate] = []
    for c in candidates:
        key = c.key
        if key in existing:
            dups.append(Duplicate(c.line, of_id=existing[key]))
        elif key in first_line:
            dups.append(Duplicate(c.line, of_line=first_line[key]))
        else:
            first_line[key] = c.line
            keep.append(c)
    return keep, dups


def import_parsed(
    project: Project, parsed: Parsed, *, skip_invalid: bool = False, dry_run: bool = False
) -> ImportReport:
    """Deduplicate and append ``parsed`` in one durable write under the project lock.

    Nothing is written when a line was rejected (unless ``skip_invalid``) or when ``dry_run``; the report says
    what would have happened either way.
    """
    report = ImportReport(
        parsed.path, parsed.format, rejected=parsed.rejected, notes=list(parsed.notes), dry_run=dry_run
    )
    store = project.store
    write = not dry_run and (skip_invalid or not parsed.rejected)
    # when writing, duplicates are decided and ids assigned under the same lock as the append
    with store.locked() if write else contextlib.nullcontext():
        keep, report.duplicates = _dedupe(store, parsed.candidates)
        report.would_add = len(keep)
        if write and keep:
            report.added = store.append([c.record for c in keep], check_duplicates=False).ids
    report.written = bool(report.added)
    return report


def import_file(
    project: Project,
    path: str,
    *,
    fmt: str | None = None,
    data: bytes | None = None,
    skip_invalid: bool = False,
    dry_run: bool = False,
) -> ImportReport:
    """`ait import`: parse ``path`` (or ``data``, the bytes of '-') and add its new examples."""
    parsed = parse_file(path, fmt=fmt, system=project.system_prompt, data=data)
    return import_parsed(project, parsed, skip_invalid=skip_invalid, dry_run=dry_run)
