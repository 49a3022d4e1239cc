"""Helpers every test module can import (``from helpers import record, line``).

One copy of each builder: an example record and its examples.jsonl line as the npm tool writes it, a
conversation, and writing a project's examples file. ``tests`` is on ``sys.path`` through pytest's
``pythonpath`` setting, so this package imports under ``--import-mode=importlib`` too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SYSTEM = "You are helpful."
CREATED = "2026-01-01T00:00:00.000Z"


def conversation(
    i: int | str, *, system: str | None = SYSTEM, turns: int = 1, answer: str = ""
) -> list[dict[str, Any]]:
    """A conversation distinct per ``i``: an optional system message, then ``turns`` user/assistant pairs."""
    msgs: list[dict[str, Any]] = []
    if system is not None:
        msgs.append({"role": "system", "content": system})
    for t in range(turns):
        msgs.append({"role": "user", "content": f"question {i}.{t}"})
        msgs.append({"role": "assistant", "content": answer or f"answer {i}.{t}"})
    return msgs


def record(
    ident: Any,
    *,
    rating: Any = None,
    split: str | None = None,
    messages: Any = None,
    original_output: bool = True,
    **extra: Any,
) -> dict[str, Any]:
    """One example record with the npm tool's keys in its order (``split`` only when given)."""
    rec: dict[str, Any] = {
        "id": ident,
        "messages": messages if messages is not None else conversation(ident),
        "rating": rating,
    }
    if original_output:
        rec["originalOutput"] = None
    rec["createdAt"] = CREATED
    rec["version"] = 1
    if split is not None:
        rec["split"] = split
    rec.update(extra)
    return rec


def dumps(rec: Any) -> bytes:
    """Compact JSON as the npm tool writes a line (no newline)."""
    return json.dumps(rec, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def line(ident: Any, **kw: Any) -> bytes:
    """One examples.jsonl line (no newline): ``record(ident, **kw)`` as compact JSON."""
    return dumps(record(ident, **kw))


def write_lines(path: Path | str, lines: list[bytes], *, tail: bytes = b"\n") -> bytes:
    """Replace a JSONL file with these lines (newline-joined, then ``tail``); returns the bytes written."""
    data = b"\n".join(lines) + tail if lines else b""
    Path(path).write_bytes(data)
    return data


def write_records(path: Path | str, records: list[dict[str, Any]]) -> bytes:
    """Replace a JSONL file with these records, one compact JSON object per line."""
    return write_lines(path, [dumps(r) for r in records])


def read_jsonl(path: Path | str) -> list[Any]:
    return [json.loads(x) for x in Path(path).read_text(encoding="utf-8").splitlines()]


def rewritten_records(n_train: int = 12, n_val: int = 3, *, rating: int = 9) -> list[dict[str, Any]]:
    """Examples rewritten in `ait rate` (each keeps the model's first reply in ``originalOutput``) with a locked
    split: ``n_train`` in train, then ``n_val`` in val. Every other one is a two-turn conversation whose first
    reply was rewritten (``originalOutputTurn`` 1). Each makes one preference pair."""
    out = []
    for i in range(1, n_train + n_val + 1):
        turns = 2 if i % 2 == 0 else 1
        rec = record(i, rating=rating, messages=conversation(i, turns=turns), original_output=False)
        rec["originalOutput"] = f"first draft {i}"
        if turns == 2:
            rec["originalOutputTurn"] = 1
        rec["version"] = 2
        rec["split"] = "train" if i <= n_train else "val"
        out.append(rec)
    return out


def store_of(tmp_path: Path, lines: list[bytes]) -> Any:
    """A Store whose data/examples.jsonl (under ``tmp_path``) holds these lines."""
    from aitelier.store import Store

    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    write_lines(data / "examples.jsonl", lines)
    return Store(data)


def snapshot_facts(store: Any, *, full: bool = False) -> tuple[Any, ...]:
    """What a lenient read of ``store`` gives, as plain values to compare: ids, ratings, splits, createdAt,
    line numbers, each row's bytes, and the problems as (line, message)."""
    snap = store.read(full=full, strict=False)
    return (
        snap.ids,
        snap.ratings,
        snap.splits,
        snap.created,
        list(snap.lines),
        [snap.raw(r) for r in range(len(snap))],
        [(p.line, p.message) for p in snap.problems],
    )
