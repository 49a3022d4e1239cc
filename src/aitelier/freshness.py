"""Whether data/train.jsonl and data/val.jsonl still match what `ait format` would write now.

`ait format` records what it read in ``data/.format.json`` beside the files it wrote: the provider and model
it formatted for, the quality threshold and token limit it applied, the state (size, modification time, inode)
of ``examples.jsonl`` and of the journal when it started reading, and the state of each file it wrote. The
files are stale when any of that differs now: an example, rating or split changed (examples.jsonl or the journal
changed), ``qualityThreshold``, ``model`` or ``maxTokens`` changed in the config, the files were written by
something else, or a format was killed half way (the record is marked pending before the first file is
replaced). Without a record (files written by the npm tool, or before this version) the files are stale when
they are older than the examples, as before. The system prompt is not an input of `ait format`: each example
carries its own system message, so changing it affects only examples added later.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .fsutil import atomic_write_text

if TYPE_CHECKING:
    from .project import Project

STAMP = ".format.json"
METHODS = ("sft", "dpo")  # sft: data/train.jsonl, val.jsonl; dpo: data/train.dpo.jsonl, val.dpo.jsonl


def files(project: Project, method: str = "sft") -> tuple[Path, Path]:
    """The train and val files `ait format --method METHOD` writes."""
    if method == "sft":
        return project.train_path, project.val_path
    if method not in METHODS:
        from .errors import UsageError

        raise UsageError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    return project.data_dir / f"train.{method}.jsonl", project.data_dir / f"val.{method}.jsonl"


@dataclass
class Freshness:
    state: str  # "missing" (no train.jsonl), "stale" or "current"
    reasons: list[str] = field(default_factory=list)


def _signature(path: Path) -> list[int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def _journal_signature(project: Project) -> list[int] | None:
    sig = _signature(project.store.journal_path)
    return None if sig is None or sig[0] == 0 else sig


def _inputs(project: Project) -> dict[str, Any]:
    cfg = project.config
    return {
        "qualityThreshold": project.threshold,
        "model": project.model,
        "maxTokens": cfg.get("maxTokens"),
    }


def snapshot(project: Project) -> dict[str, Any]:
    """What `ait format` is about to read: take it before reading the examples."""
    return {
        "config": _inputs(project),
        "examples": _signature(project.examples_path),
        "journal": _journal_signature(project),
    }


def stamp_path(project: Project, method: str = "sft") -> Path:
    return project.data_dir / (STAMP if method == "sft" else f".format.{method}.json")


def begin(project: Project, method: str = "sft") -> None:
    """Mark the record pending before the files are replaced (hold the project lock)."""
    atomic_write_text(stamp_path(project, method), json.dumps({"pending": True}) + "\n")


def record(
    project: Project, source: dict[str, Any], *, provider: str, weight: str, method: str = "sft"
) -> None:
    """Record the inputs of a format whose files were just written (hold the project lock)."""
    train, val = files(project, method)
    stamp = {
        **source,
        "provider": provider,
        "weight": weight,
        "files": {"train": _signature(train), "val": _signature(val)},
    }
    atomic_write_text(stamp_path(project, method), json.dumps(stamp) + "\n")


def _show(value: Any) -> str:
    return "unset" if value is None else json.dumps(value, ensure_ascii=False)


def check(project: Project, provider: str | None = None, method: str = "sft") -> Freshness:
    """Whether the formatted files (of ``method``) are current for ``provider`` (default: the project's)."""
    train, val = files(project, method)
    if not train.exists():
        return Freshness("missing")
    provider = provider or project.provider
    try:
        stamp = json.loads(stamp_path(project, method).read_bytes())
        if not isinstance(stamp, dict):
            stamp = None
    except (OSError, ValueError):
        stamp = None
    if stamp is None:
        return _by_time(project, train)
    if stamp.get("pending"):
        return Freshness("stale", ["the last `ait format` did not finish"])
    reasons: list[str] = []
    written = stamp.get("files") or {}
    for name, path in (("train", train), ("val", val)):
        if _signature(path) != written.get(name):
            reasons.append(f"data/{path.name} changed after `ait format` wrote it")
    if stamp.get("provider") != provider:
        reasons.append(f"the files are formatted for {stamp.get('provider')}, not {provider}")
    recorded = stamp.get("config") or {}
    for key, now in _inputs(project).items():
        if recorded.get(key) != now:
            reasons.append(f"`{key}` changed from {_show(recorded.get(key))} to {_show(now)}")
    if stamp.get("examples") != _signature(project.examples_path):
        reasons.append("the examples changed since `ait format`")
    elif stamp.get("journal") != _journal_signature(project):
        reasons.append("ratings or edits were saved since `ait format`")
    return Freshness("stale" if reasons else "current", reasons)


def _by_time(project: Project, train: Path) -> Freshness:
    """No record of the last format: stale when the examples are newer than train.jsonl."""
    newest = max(
        (p.stat().st_mtime for p in (project.examples_path, project.store.journal_path) if p.exists()),
        default=0.0,
    )
    if train.stat().st_mtime >= newest:
        return Freshness("current")
    return Freshness("stale", ["the examples changed since `ait format`"])


__all__ = ["METHODS", "Freshness", "begin", "check", "files", "record", "snapshot"]
