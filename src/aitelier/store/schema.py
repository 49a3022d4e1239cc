"""The schema of one line of ``data/examples.jsonl``: one typed definition, two views, and its JSON Schema.

:class:`ExampleHead` is the light view (id, rating, split, createdAt, originalOutput): decoding a line into it skips the
conversation without building it, which is what commands that only count or choose examples need.
:class:`ExampleLine` is the full view: the head plus the conversation and every other known field. Both are
decoded and validated by ``msgspec`` in C. Unknown fields are allowed (and kept: the store keeps each line's
bytes, and a changed line is re-encoded from the decoded object, unknown keys included). :class:`Head` holds
the light view's fields unchecked, for rows ait passes on itself.

The JSON Schema generated from :class:`ExampleLine` ships beside this module as ``example.schema.json`` (a test
keeps the two equal; ``python -c "from aitelier.store.schema import write_schema; write_schema()"`` refreshes it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

# ISO 8601 as JavaScript's toISOString writes it, and the common variants (no fraction, an offset, a date)
ISO_8601 = (
    r"^\d{4}-\d{2}-\d{2}"
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?$"
)
Timestamp = Annotated[str, msgspec.Meta(pattern=ISO_8601, description="ISO 8601 date and time (UTC: ...Z)")]
Rating = Annotated[int, msgspec.Meta(ge=1, le=10)]
Positive = Annotated[int, msgspec.Meta(ge=1)]
Role = Literal["system", "user", "assistant"]
Split = Literal["train", "val"]


class Message(msgspec.Struct, gc=False):
    """One turn. Other keys (``name``, ``weight``, ...) are allowed and kept."""

    role: Role
    content: str


class Head(msgspec.Struct, kw_only=True, gc=False):
    """A row as ait passes it on between its own processes and through its read cache: the light view's fields,
    not checked again (they were checked as :class:`ExampleHead` when the line was read, and checking each
    timestamp against its pattern once more would cost a worker's rows a few hundredths of a second).

    ``gc=False`` (for every view): decoded rows never form reference cycles, so the cyclic garbage collector need
    not walk the 100,000 of them again and again while a command works on them."""

    id: int
    rating: int | None = None
    # the line's "split" (UNSET: the line has no such key, which a writer may add without rewriting the line); a
    # Literal decodes to the one "train" or "val" string, not a new one per row (a read from the cache: 4% faster)
    stored_split: Split | None | msgspec.UnsetType = msgspec.field(default=msgspec.UNSET, name="split")
    createdAt: str | None = None
    originalOutput: str | None = None  # the reply before the first rewrite: its example makes a DPO pair

    @property
    def split(self) -> str | None:
        split = self.stored_split
        return None if split is msgspec.UNSET else split


class ExampleHead(Head, kw_only=True):
    """The light view, as read from a line: what choosing, counting, splitting and finding rewrites (DPO pairs)
    need; the same fields as :class:`Head`, checked."""

    id: Positive
    rating: Rating | None = None
    stored_split: Split | None | msgspec.UnsetType = msgspec.field(default=msgspec.UNSET, name="split")
    createdAt: Timestamp | None = None
    originalOutput: str | None = None


class ExampleLine(ExampleHead, kw_only=True):
    """The full view: one example as a line of examples.jsonl (the npm tool's fields, then aitelier's)."""

    messages: Annotated[list[Message], msgspec.Meta(min_length=1)]
    originalOutputTurn: Positive | None = None  # which assistant turn originalOutput was (one turn: absent)
    version: Positive | None = None
    ratedAt: Timestamp | None = None
    updatedAt: Timestamp | None = None
    source: Any = None
    tags: list[str] | None = None


HEAD = msgspec.json.Decoder(ExampleHead)
LINE = msgspec.json.Decoder(ExampleLine)
ANY = msgspec.json.Decoder()
encode = msgspec.json.Encoder().encode


def problem_of(error: msgspec.ValidationError, obj: Any = None) -> str:
    """A schema violation in the words the rest of aitelier uses: "`rating`: expected int <= 10, got 11"."""
    text = str(error)
    message, _, where = text.rpartition(" - at `")
    if not message:
        message, where = text, ""
    path = where.rstrip("`").removeprefix("$").lstrip(".")
    message = message.replace("`", "")
    if message.startswith("Invalid enum value "):
        value = message.removeprefix("Invalid enum value ")
        known = {"role": "system, user, assistant", "split": "train, val"}.get(path.rsplit(".", 1)[-1])
        return f"`{path}`: {path.rsplit('.', 1)[-1]} {value} is not one of {known}" if known else text
    if message.startswith("Object missing required field "):
        return f"missing `{message.rsplit(' ', 1)[-1]}`" + (f" in `{path}`" if path else "")
    if "matching regex" in message:
        message = "expected an ISO 8601 date and time like 2026-01-31T12:00:00.000Z"
    message = message[0].lower() + message[1:]
    if isinstance(obj, dict) and path in obj and ", got " not in message:
        message += f", got {json.dumps(obj[path], ensure_ascii=False)}"
    return f"`{path}`: {message}" if path else message


def record_problem(obj: Any, view: type[ExampleHead] = ExampleLine) -> str | None:
    """Why a decoded object is not a valid example (None: it is one); ``view`` ExampleHead checks the light
    view's fields only."""
    if type(obj) is not dict:
        return f"expected a JSON object, got {_json_type(obj)}"
    try:
        msgspec.convert(obj, view)
    except msgspec.ValidationError as e:
        return problem_of(e, obj)
    return None


def head_problem(obj: Any) -> str | None:
    return record_problem(obj, ExampleHead)


def _json_type(obj: Any) -> str:
    names = {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}
    return "null" if obj is None else names.get(type(obj), type(obj).__name__)


def decode_problem(raw: bytes, error: msgspec.DecodeError) -> str:
    """Why a line is not JSON we can store, worded for a person (with the column where it can be told)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return f"invalid UTF-8 at byte {e.start + 1}"
    try:
        json.loads(text)
    except json.JSONDecodeError as e:
        return f"invalid JSON: {e.msg} (column {e.colno})"
    except RecursionError:
        return "invalid JSON: nested too deeply"
    # valid to Python's json but not to a strict decoder: NaN/Infinity, or an escaped lone surrogate
    if "\\ud" in text.lower():
        return "invalid JSON: a string holds an unpaired surrogate escape (like \\ud800), which is not text"
    return f"invalid JSON: {error}"


def json_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of one line of examples.jsonl, generated from :class:`ExampleLine`."""
    schema = msgspec.json.schema(ExampleLine)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "aitelier example (one line of data/examples.jsonl)"
    return schema


SCHEMA_PATH = Path(__file__).with_name("example.schema.json")


def write_schema() -> None:  # pragma: no cover - the maintainer's way to refresh the shipped file
    SCHEMA_PATH.write_text(json.dumps(json_schema(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
