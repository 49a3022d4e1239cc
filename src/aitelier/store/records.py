"""The example record: parsing, validation and deterministic serialisation.

An :class:`Example` keeps the parsed object exactly as read (key order included) and the raw line bytes. A line
that no command changed is written back byte for byte, so rating one example is a one-line git diff even in a
file written by the npm tool or by hand. A new example is serialised compactly with the npm tool's key order (then
aitelier's additions); a changed one keeps its keys in the order they were read, a new key going at the end.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from .schema import encode, record_problem

ROLES = ("system", "user", "assistant")
SPLITS = ("train", "val")

# Which assistant turn (1 = the first) ``originalOutput`` belongs to; absent means the last, as the npm tool has it.
ORIGINAL_TURN = "originalOutputTurn"

# The npm tool's keys first (its order), then ours. Unknown keys follow in the order they were read.
KEY_ORDER = (
    "id",
    "messages",
    "rating",
    "originalOutput",
    "originalOutputTurn",
    "createdAt",
    "version",
    "split",
    "ratedAt",
    "updatedAt",
    "source",
    "tags",
)
_KEY_RANK = {k: i for i, k in enumerate(KEY_ORDER)}


def dumps(obj: Any) -> str:
    """Compact JSON the way JavaScript's JSON.stringify writes it (UTF-8, no spaces)."""
    try:
        return encode(obj).decode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: written escaped, as JSON.stringify writes it
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def canonical(data: dict[str, Any]) -> dict[str, Any]:
    known = sorted((k for k in data if k in _KEY_RANK), key=_KEY_RANK.__getitem__)
    rest = [k for k in data if k not in _KEY_RANK]
    return {k: data[k] for k in (*known, *rest)}


def normalise_messages(messages: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """role and content first, in that order, then any other keys as given."""
    out = []
    for m in messages:
        d = {"role": m["role"], "content": m["content"]}
        d.update((k, v) for k, v in m.items() if k not in d)
        out.append(d)
    return out


def validate_messages(messages: Any) -> list[str]:
    """Problems with a messages list, as short phrases (checked by the schema). Empty list means valid."""
    if not isinstance(messages, list):
        return ["`messages` must be a list"]
    if not messages:
        return ["`messages` is empty"]
    out = []
    for problem in validate_record({"id": 1, "messages": messages}):
        # "`messages[0].role`: ..." and "missing `content` in `messages[0]`" name the message by its number
        m = re.search(r"`messages\[(\d+)\]\.?(\w*)`", problem)
        if m is None:
            out.append(problem)
            continue
        n = int(m.group(1)) + 1
        if problem.startswith("missing `"):
            out.append(f"message {n} has no {problem.split()[1]}")
        else:
            field, rest = m.group(2), problem.split(": ", 1)[1]
            out.append(
                f"message {n} `{field}`: {rest}" if field and field not in rest else f"message {n}: {rest}"
            )
    return out


def validate_record(data: Any) -> list[str]:
    """Problems with one parsed examples.jsonl object (checked by the schema). Empty list means valid."""
    problem = record_problem(data)
    if problem is None:
        problem = _unencodable(data)
    return [] if problem is None else [problem]


def _unencodable(data: dict[str, Any]) -> str | None:
    """A lone surrogate (from an escaped ``\\ud800`` read by Python's json) cannot be stored as UTF-8."""
    try:
        dumps(data).encode("utf-8")
    except UnicodeEncodeError:
        return "a string holds an unpaired surrogate (like \\ud800), which is not text"
    return None


class Example:
    """One line of examples.jsonl. Treat as immutable: :meth:`updated` returns a changed copy."""

    __slots__ = ("data", "raw", "line")

    def __init__(self, data: dict[str, Any], raw: bytes | None = None, line: int | None = None) -> None:
        self.data = data
        self.raw = raw  # the exact bytes read (without newline); None once changed
        self.line = line

    # -- fields ---------------------------------------------------------------------------------------------
    @property
    def id(self) -> int:
        return int(self.data["id"])

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.data["messages"])

    @property
    def rating(self) -> int | None:
        return self.data.get("rating")

    @property
    def split(self) -> str | None:
        return self.data.get("split")

    @property
    def version(self) -> int:
        return int(self.data.get("version") or 1)

    @property
    def original_output(self) -> str | None:
        return self.data.get("originalOutput")

    @property
    def last_user(self) -> str:
        for m in reversed(self.data["messages"]):
            if m["role"] == "user":
                return str(m["content"])
        return ""

    @property
    def output(self) -> str:
        """The last assistant message's text (the one that is rated)."""
        for m in reversed(self.data["messages"]):
            if m["role"] == "assistant":
                return str(m["content"])
        return ""

    def assistant_indexes(self) -> list[int]:
        return [i for i, m in enumerate(self.data["messages"]) if m["role"] == "assistant"]

    # -- change and serialise -------------------------------------------------------------------------------
    def updated(self, **fields: Any) -> Example:
        """A copy with ``fields`` set; a value of :data:`UNSET` removes the key."""
        data = dict(self.data)
        for k, v in fields.items():
            if v is UNSET:
                data.pop(k, None)
            else:
                data[k] = v
        return Example(data, None, self.line)

    def __repr__(self) -> str:
        return f"Example(id={self.data.get('id')!r}, rating={self.rating!r})"


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


def new_record(
    ident: int,
    messages: list[dict[str, Any]],
    *,
    rating: int | None,
    created_at: str,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": ident,
        "messages": normalise_messages(messages),
        "rating": rating,
        "createdAt": created_at,
        "version": 1,
    }
    if rating is not None:
        data["ratedAt"] = created_at
    if extra:
        data.update(extra)
    return canonical(data)
