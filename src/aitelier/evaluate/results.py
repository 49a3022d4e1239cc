"""Eval files: one JSON document per eval in ``data/evals/``, plus the journal of the scores not folded in yet.

A new eval gets a new file, created without ever replacing another (hard-link of a fsynced temp file, which fails
when the name is taken). Each score or choice a person gives is one fsynced append to ``NAME.journal.jsonl``
before the screen moves on, the guarantee ``ait rate`` gives; reading an eval applies its journal, and
:meth:`Eval.fold` writes the scores into the document (atomic replace of that eval's own file) and then
removes the journal. The file contract is documented by ``eval.schema.json`` beside this module.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import AitelierError, DataError, DataProblem, NotFound
from ..fsutil import atomic_write_bytes, durable_append, fsync_dir, now_iso

SCHEMA_VERSION = 1
SCORE, COMPARE = "score", "compare"
CHOICES = ("a", "b", "tie")
SCHEMA_PATH = Path(__file__).with_name("eval.schema.json")


def evals_dir(project_root: Path) -> Path:
    return Path(project_root) / "data" / "evals"


def winner_of(item: dict[str, Any], choice: str | None) -> str | None:
    if choice is None or choice == "tie":
        return choice
    return str(item[f"{choice}_model"])


class Eval:
    """One eval document (``data``) and where it lives; the journal's entries already applied."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = Path(path)
        self.data = data

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def kind(self) -> str:
        return str(self.data["kind"])

    @property
    def items(self) -> list[dict[str, Any]]:
        return list(self.data["items"])

    @property
    def journal_path(self) -> Path:
        return self.path.with_name(self.path.stem + ".journal.jsonl")

    @property
    def answer_field(self) -> str:
        return "score" if self.kind == SCORE else "choice"

    @property
    def finished(self) -> bool:
        """Every item has a human score (or choice), or was skipped."""
        field = self.answer_field
        return all(it.get(field) is not None or it.get("skipped") for it in self.data["items"])

    def item(self, ident: int) -> dict[str, Any]:
        for it in self.data["items"]:
            if it["id"] == ident:
                return dict(it)
        raise NotFound(f"{self.name} has no item for example {ident}")

    # -- answers ----------------------------------------------------------------------------------------------
    def record(self, ident: int, value: Any, *, skipped: bool = False) -> None:
        """Save a person's score (1-5) or choice ("a", "b", "tie"), or None to clear it: durable on return."""
        entry = {"id": ident, self.answer_field: value, "skipped": skipped}
        self._apply(entry)  # checks the value before anything is written
        with self._locked():  # a fold in another process must not drop this line
            durable_append(self.journal_path, (json.dumps(entry) + "\n").encode("utf-8"))

    def _locked(self) -> Any:
        """The evals folder's lock: held for one append or one fold, never while waiting for a person."""
        from ..store.lock import project_lock

        return project_lock(self.path.parent / ".lock")

    def _apply(self, entry: dict[str, Any]) -> None:
        field = self.answer_field
        value = entry.get(field)
        if self.kind == SCORE:
            if value is not None and (isinstance(value, bool) or value not in (1, 2, 3, 4, 5)):
                raise ValueError(f"a score is 1 to 5, got {value!r}")
        elif value is not None and value not in CHOICES:
            raise ValueError(f"a choice is a, b or tie, got {value!r}")
        for it in self.data["items"]:
            if it["id"] == entry["id"]:
                it[field] = value
                it["skipped"] = bool(entry.get("skipped"))
                if self.kind == COMPARE:
                    it["winner"] = winner_of(it, value)
                return
        raise ValueError(f"no item for example {entry['id']!r}")

    def apply_journal(self) -> None:
        """Apply the journal's entries (last one per item wins); DataError lists the lines that do not apply."""
        problems: list[DataProblem] = []
        try:
            raw = self.journal_path.read_bytes()
        except FileNotFoundError:
            return
        for n, line in enumerate(raw.splitlines(), 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                if not isinstance(entry, dict):
                    raise ValueError("not an object")
                self._apply(entry)
            except (ValueError, KeyError, TypeError) as e:
                problems.append(DataProblem(str(self.journal_path), n, f"entry not applied: {e}"))
        if problems:
            raise DataError(
                problems, hint=f"the journal {self.journal_path.name} holds entries that do not apply"
            )

    def fold(self, history: Sequence[Eval] = ()) -> None:
        """Write the document with every answer in its journal and its summary (``history``: the project's
        other evals, for the change against the previous one), then drop the journal."""
        from .summary import summarize

        with self._locked():
            # answers another session appended since this one was read (applying a line twice is harmless)
            self.apply_journal()
            self.data["summary"] = summarize(self, history)
            self.data["finished"] = self.finished
            self.data["updated"] = now_iso()
            atomic_write_bytes(self.path, _encode(self.data))
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.journal_path)


def _encode(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def slug(model: str, limit: int = 64) -> str:
    """A file-name-safe short form of a model name (the part after its last "/")."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", model.rsplit("/", 1)[-1]).strip("-.")
    return s[:limit].rstrip("-.") or "model"


def create(directory: Path, stem: str, data: dict[str, Any]) -> Eval:
    """Write a new eval file named ``stem`` (``-2``, ``-3`` ... added when taken); never replaces a file."""
    import tempfile

    directory.mkdir(parents=True, exist_ok=True)
    data = {"schemaVersion": SCHEMA_VERSION, **data, "finished": False}
    fd, tmp = tempfile.mkstemp(prefix=".new-eval.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(_encode(data))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        for n in range(1, 1000):
            path = directory / (f"{stem}.json" if n == 1 else f"{stem}-{n}.json")
            try:
                os.link(tmp, path)  # fails if the name exists: no eval is ever replaced by another
            except FileExistsError:
                continue
            fsync_dir(directory)
            return Eval(path, data)
        raise AitelierError(f"could not find a free file name for {stem} in {directory}")
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def load(path: Path) -> Eval:
    """An eval file with its journal applied; a file that is not an eval raises :class:`DataError`."""
    path = Path(path)
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise NotFound(f"no eval file {path}", hint="`ait evals` lists them") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise DataError([DataProblem(str(path), None, f"not valid JSON ({e})")]) from None
    problem = _shape_problem(data)
    if problem:
        raise DataError(
            [DataProblem(str(path), None, problem)], hint="it is not an eval file aitelier can read"
        )
    ev = Eval(path, data)
    ev.apply_journal()
    return ev


def _shape_problem(data: Any) -> str | None:
    if not isinstance(data, dict):
        return "not a JSON object"
    version = data.get("schemaVersion")
    if not isinstance(version, int):
        return "no schemaVersion"
    if version > SCHEMA_VERSION:
        return f"written by a newer aitelier (schema {version}; this one reads {SCHEMA_VERSION}); upgrade aitelier"
    if data.get("kind") not in (SCORE, COMPARE):
        return f"unknown kind {data.get('kind')!r}"
    items = data.get("items")
    if not isinstance(items, list) or not all(
        isinstance(i, dict) and isinstance(i.get("id"), int) for i in items
    ):
        return "items must be a list of objects with an integer id"
    return None


def paths(directory: Path) -> list[Path]:
    """Eval files, by name."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob("*.json") if not p.name.startswith("."))


def load_all(directory: Path) -> tuple[list[Eval], list[DataProblem]]:
    """Every readable eval, oldest first, and a problem for each file that could not be read."""
    out: list[Eval] = []
    problems: list[DataProblem] = []
    for p in paths(directory):
        try:
            out.append(load(p))
        except DataError as e:
            problems.extend(e.problems)
    out.sort(key=lambda ev: (str(ev.data.get("created", "")), ev.name))  # oldest first
    return out, problems


def find(directory: Path, ref: str) -> Eval:
    """An eval by file name, name without ``.json``, a unique prefix, or ``latest``."""
    names = [p.stem for p in paths(directory)]
    if ref == "latest":
        evals, _ = load_all(directory)
        if not evals:
            raise NotFound("no evals yet in data/evals", hint="`ait eval` runs one")
        return evals[-1]
    ref = ref[:-5] if ref.endswith(".json") else ref
    if ref in names:
        return load(directory / f"{ref}.json")
    matches = [n for n in names if n.startswith(ref)]
    if len(matches) == 1:
        return load(directory / f"{matches[0]}.json")
    if matches:
        raise NotFound(
            f"{ref!r} matches {len(matches)} evals: {', '.join(matches[:5])}", hint="give more of the name"
        )
    raise NotFound(f"no eval named {ref!r} in data/evals", hint="`ait evals` lists them")
