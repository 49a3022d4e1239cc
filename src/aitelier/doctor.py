"""Find every problem in a project's data files, and repair the ones that are safe to repair.

Safe means no data can change meaning: a byte-order mark, CRLF line endings, blank lines and a missing final
newline in ``data/examples.jsonl``; an incomplete last line of the journal (a change whose write never
finished, so it was never acknowledged and is already ignored); temp files left by an interrupted atomic write
(the real file is intact). Before a data file is changed, its exact bytes are copied to
``<name>.bak-<UTC timestamp>`` beside it. Every other line stays byte-identical; a line that is not valid is never
touched, only reported, so the user decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import msgspec

from .errors import DataProblem
from .fsutil import atomic_write_bytes
from .project import CONFIG_NAME, Project
from .store.jsonl import BOM
from .store.schema import ANY, decode_problem
from .store.store import content_key

LEFTOVER_TEMP = "leftover temp file from an interrupted write (the real file is intact)"


@dataclass
class Report:
    problems: list[DataProblem]  # wrong: blocking, or fixable by `ait doctor --fix`
    warnings: list[DataProblem]  # not wrong, but worth knowing (exact duplicates, train/val leaks)
    checked: list[str]  # the files that were read
    examples: int  # valid examples (journal applied)
    pending_changes: int = 0  # journal patches not yet folded into examples.jsonl
    fixed: list[DataProblem] = field(default_factory=list)
    backups: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def fixable(self) -> list[DataProblem]:
        return [p for p in self.problems if p.fixable]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "examples": self.examples,
            "pending_changes": self.pending_changes,
            "checked": self.checked,
            "problems": [asdict(p) for p in self.problems],
            "warnings": [asdict(p) for p in self.warnings],
            "fixed": [asdict(p) for p in self.fixed],
            "backups": [str(p) for p in self.backups],
        }


# -- finding --------------------------------------------------------------------------------------------------
def _temp_files(project: Project) -> list[Path]:
    """Temp files of writes that never finished (the real file is intact): every ``.*.tmp`` in ``data/`` (the
    atomic writes of examples.jsonl, train.jsonl, val.jsonl, backups and caches; all made under the project
    lock, which :func:`repair` holds) and the config's beside ``.aitelier.json``."""
    found = [*project.data_dir.glob(".*.tmp"), *project.root.glob(f".{CONFIG_NAME}.*.tmp")]
    return sorted(p for p in found if p.is_file() and not p.is_symlink())


def diagnose(project: Project) -> Report:
    """Every problem in the project's data files, without changing anything."""
    store = project.store
    problems: list[DataProblem] = []
    warnings: list[DataProblem] = []
    checked = [str(store.path)] if store.path.exists() else []
    if store.journal_path.exists():
        checked.append(str(store.journal_path))
    where = str(store.path)

    snap = store.read(full=True, strict=False)
    problems.extend(snap.problems)
    count = len(snap)
    seen: dict[bytes, tuple[int, str | None]] = {}  # the conversation's key -> (first id, its split)
    for row in range(count):
        record = snap.record(row)
        ident, split = record["id"], record.get("split")
        if not any(m["role"] == "user" for m in record["messages"]):  # add, import, edit and format refuse it
            problems.append(
                DataProblem(where, snap.lines[row], f"example {ident} has no user message", example_id=ident)
            )
        key = content_key(record["messages"])
        first = seen.setdefault(key, (ident, split))
        if first[0] != ident:
            if {first[1], split} == {"train", "val"}:
                message = (
                    f"examples {first[0]} ({first[1]}) and {ident} ({split}) are the same conversation: "
                    f"the validation score would count an example the model trained on"
                )
            else:
                message = f"examples {first[0]} and {ident} are exact duplicates"
            warnings.append(DataProblem(where, None, message, example_id=ident))

    for tmp in _temp_files(project):
        problems.append(DataProblem(str(tmp), None, LEFTOVER_TEMP, fixable=True))

    for out in (project.train_path, project.val_path):
        if out.exists():
            checked.append(str(out))
            problems.extend(_unreadable_lines(out))

    pending = _count_lines(store.journal_path)
    return Report(problems, warnings, checked, count, pending)


def _unreadable_lines(path: Path) -> Iterator[DataProblem]:
    """Where a JSONL reader would stop in a file `ait format` wrote (regenerated, never repaired): a byte-order
    mark, CRLF endings, blank lines and lines that are not a JSON object. A missing final newline is fine."""
    where = str(path)
    with open(path, "rb") as f:
        for n, line in enumerate(f, 1):
            if n == 1 and line.startswith(BOM):
                yield DataProblem(where, 1, "file starts with a UTF-8 byte-order mark")
                line = line[len(BOM) :]
                if not line:
                    return
            line = line.removesuffix(b"\n")
            if line.endswith(b"\r"):
                yield DataProblem(where, n, "CRLF line ending")
                line = line[:-1]
            if not line.strip():
                yield DataProblem(where, n, "blank line")
                continue
            try:  # the decoder and the wording of `ait validate FILE`
                obj = ANY.decode(line)
            except msgspec.DecodeError as e:
                yield DataProblem(where, n, decode_problem(line, e))
                continue
            if not isinstance(obj, dict):
                yield DataProblem(where, n, f"expected a JSON object, got {type(obj).__name__}")


def _count_lines(path: Path) -> int:
    if not path.exists():
        return 0
    with open(path, "rb") as f:
        return sum(1 for line in f if line.endswith(b"\n"))


# -- repairing ------------------------------------------------------------------------------------------------
def repaired_lines(lines: Iterable[bytes]) -> Iterator[bytes]:
    """The lines of a JSONL file with only safe repairs made, each ending in a single ``\\n``.

    Drops a byte-order mark at the start of the file, carriage returns before the line end and blank lines; adds a missing final
    newline. Every other byte is kept, including lines that are not valid JSON.
    """
    first = True
    for line in lines:
        body = line[:-1] if line.endswith(b"\n") else line
        body = body.rstrip(b"\r")
        while first and body.startswith(BOM):  # also one that dropping blank lines brought to the front
            body = body[len(BOM) :]
        if not body.strip():
            continue
        first = False
        yield body + b"\n"


def _backup(path: Path, stamp: str) -> Path:
    """Copy ``path`` byte for byte to a new backup file beside it (atomically), and return the backup's path."""
    backup, n = path.with_name(f"{path.name}.bak-{stamp}"), 2
    while backup.exists():
        backup = path.with_name(f"{path.name}.bak-{stamp}-{n}")
        n += 1
    with open(path, "rb") as f:
        atomic_write_bytes(backup, iter(lambda: f.read(1 << 20), b""))
    return backup


REJECTS = "examples.rejects.jsonl"


def repair(project: Project, *, reject: bool = False) -> Report:
    """Fix what is safe (after a backup), under the project lock, and report what is left.

    With ``reject``, lines of examples.jsonl that are not valid examples (bad JSON, a field of the wrong type,
    a duplicate id) are moved, byte for byte, to ``data/examples.rejects.jsonl`` (after the backup), so one bad
    line no longer blocks every command. The returned report is a fresh diagnosis after the repairs, with
    ``fixed`` and ``backups`` filled in.
    """
    store = project.store
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    fixed: list[DataProblem] = []
    backups: list[Path] = []
    with store.locked():
        before = diagnose(project)
        mine = [p for p in before.fixable if p.path == str(store.path)]
        bad = [
            p
            for p in before.problems
            if reject and p.path == str(store.path) and p.line and not p.fixable and p.example_id is None
        ]
        if mine or bad:
            backups.append(_backup(store.path, stamp))
            with open(store.path, "rb") as f:
                lines = f.read().split(b"\n")
            drop = {p.line for p in bad if p.line is not None}
            rejected = [lines[n - 1] + b"\n" for n in sorted(drop)]
            if rejected:
                rejects = store.data_dir / REJECTS
                old = rejects.read_bytes() if rejects.exists() else b""
                atomic_write_bytes(rejects, old + b"".join(rejected))
            kept = (line + b"\n" for n, line in enumerate(lines, 1) if n not in drop)
            atomic_write_bytes(store.path, repaired_lines(kept))
            fixed.extend(mine)
            fixed.extend(DataProblem(p.path, p.line, f"{p.message} (moved to {REJECTS})") for p in bad)
        torn = [p for p in before.fixable if p.path == str(store.journal_path)]
        if torn:
            backups.append(_backup(store.journal_path, stamp))
            store.drop_torn_journal_tail()
            fixed.extend(torn)
        for p in before.fixable:
            if p.message == LEFTOVER_TEMP:
                Path(p.path).unlink(missing_ok=True)
                fixed.append(p)
        after = diagnose(project)
    after.fixed = fixed
    after.backups = backups
    return after


__all__ = ["LEFTOVER_TEMP", "REJECTS", "Report", "diagnose", "repair", "repaired_lines"]
