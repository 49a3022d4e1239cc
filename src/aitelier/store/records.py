"""The example record: parsing, validation and deterministic serialisation.

An :class:`Example` keeps the parsed object exactly as read (key order included) and the raw line bytes. A line
that no command changed is written back byte for byte, so rating one example is a one-line git diff even in a
file written by the npm tool or by hand. A changed example is serialised compactly with a canonical key order
(the npm tool's, then aitelier's additions, then any other keys in the order they were read).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

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
    """Problems with a messages list, as short phrases. Empty list means valid."""
    if not isinstance(messages, list):
        return ["`messages` must be a list"]
    if not messages:
        return ["`messages` is empty"]
    problems = []
    for i, m in enumerate(messages, 1):
        if not isinstance(m, dict):
            problems.append(f"message {i} is not an object")
            continue
        role = m.get("role")
        if role not in ROLES:
            problems.append(f"message {i} has role {role!r} (expected one of {', '.join(ROLES)})")
        content = m.get("content")
        if not isinstance(content, str):
            problems.append(f"message {i} has no string `content`")
    return problems


def looks_valid(data: Any) -> bool:
    """A quick yes for the common case (every line of a read goes through here); False means "look closer".

    It must never say yes where :func:`validate_record` would find a problem (a property test checks that).
    ``type(x) is int`` also rules out bool, as the full check does.
    """
    if type(data) is not dict:
        return False
    ident = data.get("id")
    msgs = data.get("messages")
    if type(ident) is not int or ident < 1 or type(msgs) is not list or not msgs:
        return False
    for m in msgs:
        if type(m) is not dict or type(m.get("content")) is not str or m.get("role") not in ROLES:
            return False
    rating = data.get("rating")
    if rating is not None and (type(rating) is not int or not 1 <= rating <= 10):
        return False
    version = data.get("version")
    if version is not None and (type(version) is not int or version < 1):
        return False
    for key in ("createdAt", "ratedAt", "updatedAt", "originalOutput"):
        v = data.get(key)
        if v is not None and type(v) is not str:
            return False
    turn = data.get(ORIGINAL_TURN)
    if turn is not None and (type(turn) is not int or turn < 1):
        return False
    split = data.get("split")
    return (split is None or split in SPLITS) and data.get("tags") is None


def validate_record(data: Any) -> list[str]:
    """Problems with one parsed examples.jsonl object. Empty list means valid."""
    if looks_valid(data):
        return []
    if not isinstance(data, dict):
        return [f"expected a JSON object, got {type(data).__name__}"]
    problems: list[str] = []
    ident = data.get("id")
    if "id" not in data:
        problems.append("missing `id`")
    elif not isinstance(ident, int) or isinstance(ident, bool) or ident < 1:
        problems.append(f"`id` must be a positive integer, got {ident!r}")
    if "messages" not in data:
        problems.append("missing `messages`")
    else:
        problems.extend(validate_messages(data["messages"]))
    rating = data.get("rating")
    if rating is not None and (
        not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 10
    ):
        problems.append(f"`rating` must be an integer 1-10 or null, got {rating!r}")
    split = data.get("split")
    if split is not None and split not in SPLITS:
        problems.append(f"`split` must be 'train', 'val' or null, got {split!r}")
    for key in ("createdAt", "ratedAt", "updatedAt"):
        if key in data and data[key] is not None and not isinstance(data[key], str):
            problems.append(f"`{key}` must be an ISO 8601 string")
    version = data.get("version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool) or version < 1):
        problems.append(f"`version` must be a positive integer, got {version!r}")
    oo = data.get("originalOutput")
    if oo is not None and not isinstance(oo, str):
        problems.append("`originalOutput` must be a string or null")
    turn = data.get(ORIGINAL_TURN)
    if turn is not None and (not isinstance(turn, int) or isinstance(turn, bool) or turn < 1):
        problems.append(f"`{ORIGINAL_TURN}` must be a positive integer or null, got {turn!r}")
    tags = data.get("tags")
    if tags is not None and not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
        problems.append("`tags` must be a list of strings")
    return problems


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
    def created_at(self) -> str | None:
        return self.data.get("createdAt")

    @property
    def system_prompt(self) -> str | None:
        msgs = self.data["messages"]
        return msgs[0]["content"] if msgs and msgs[0]["role"] == "system" else None

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

    def to_line(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return dumps(canonical(self.data)).encode("utf-8")

    def content_key(self) -> str:
        """What makes two examples exact duplicates: the same conversation."""
        return dumps(self.data["messages"])

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
