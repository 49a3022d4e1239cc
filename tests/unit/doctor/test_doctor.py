"""`ait doctor`: every problem listed; --fix repairs only what is safe, after a backup."""

from __future__ import annotations

import io
import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from aitelier import Project
from aitelier.doctor import LEFTOVER_TEMP, diagnose, repair, repaired_lines
from aitelier.store.jsonl import BOM


def repair_bytes(data: bytes) -> bytes:
    return b"".join(repaired_lines(io.BytesIO(data)))


def backups(project: Project) -> list[Path]:
    return sorted(project.data_dir.glob("*.bak-*"))


def test_a_clean_project_is_ok(ait, filled10: Project) -> None:
    report = diagnose(filled10)
    assert (
        report.ok
        and report.examples == 10
        and report.warnings == []
        and report.checked == [str(filled10.examples_path)]
    )
    r = ait("doctor", cwd=filled10.root)
    assert r.exit_code == 0 and "ok: no problems found" in r.stdout and "valid examples: 10" in r.stdout


def test_every_problem_is_listed_and_nothing_changes(ait, project: Project, jline, write_lines) -> None:
    data = write_lines(
        project,
        BOM + jline(1),
        jline(2) + b"\r",
        b"",
        b"{not json",
        jline(3, rating=0),
        jline(2),
        jline(4),
        tail=b"",
    )
    report = diagnose(project)
    got = [(p.line, p.message, p.fixable) for p in report.problems]
    assert got == [
        (1, "file starts with a UTF-8 byte-order mark", True),
        (2, "CRLF line ending", True),
        (3, "blank line", True),
        (4, "invalid JSON: Expecting property name enclosed in double quotes (column 2)", False),
        (5, "`rating`: expected int >= 1, got 0", False),
        (6, "duplicate id 2 (first on line 2)", False),
        (7, "no newline at end of file", True),
    ]
    r = ait("doctor", cwd=project.root)
    assert r.exit_code == 3
    assert f"{project.examples_path}:4: invalid JSON" in r.stdout
    assert f"{project.examples_path}:2: CRLF line ending  [fixable]" in r.stdout
    assert "7 problems: 4 fixable with `ait doctor --fix` (it keeps a backup); 3 to fix by hand" in r.stdout
    assert project.examples_path.read_bytes() == data and backups(project) == []


def test_fix_repairs_only_safe_problems_and_keeps_a_backup(ait, project: Project, jline, write_lines) -> None:
    data = write_lines(
        project, BOM + jline(1) + b"\r", b"  ", b"{broken", jline(2) + b"\r", jline(3), tail=b""
    )
    r = ait("doctor", "--fix", cwd=project.root)
    assert r.exit_code == 3, r.output  # the broken line is left for the user
    assert (
        project.examples_path.read_bytes() == jline(1) + b"\n{broken\n" + jline(2) + b"\n" + jline(3) + b"\n"
    )
    [backup] = backups(project)
    assert backup.read_bytes() == data and backup.name.startswith("examples.jsonl.bak-")
    assert f"backup: {backup}" in r.stdout
    assert r.stdout.count("fixed: ") == 5
    assert f"{project.examples_path}:2: invalid JSON" in r.stdout  # renumbered after the blank line went
    assert "fixed 5, 1 problem left: 1 to fix by hand: edit the file at the line named" in r.stdout
    # running it again changes nothing more and makes no new backup
    again = ait("doctor", "--fix", cwd=project.root)
    assert again.exit_code == 3 and len(backups(project)) == 1
    assert "nothing needed fixing" not in again.stdout
    assert "nothing here is safe to fix automatically" in again.stdout
    assert "fixed 0, 1 problem left: 1 to fix by hand" in again.stdout


def test_fix_everything_fixable_exits_zero(ait, filled10: Project) -> None:
    lines = filled10.examples_path.read_bytes().split(b"\n")[:-1]
    filled10.examples_path.write_bytes(b"\r\n".join(lines))
    r = ait("doctor", "--fix", cwd=filled10.root)
    assert r.exit_code == 0, r.output
    assert filled10.examples_path.read_bytes() == b"\n".join(lines) + b"\n"
    assert "ok: no problems left" in r.stdout
    assert filled10.store.read().ids == list(range(1, 11))


def test_fix_cuts_a_torn_journal_tail_after_a_backup(filled10: Project) -> None:
    filled10.store.patch(1, {"rating": 5})
    torn = filled10.store.journal_path.read_bytes() + b'{"id":2,"se'
    filled10.store.journal_path.write_bytes(torn)
    report = diagnose(filled10)
    assert [(p.path, p.line, p.fixable) for p in report.problems] == [
        (str(filled10.store.journal_path), 2, True)
    ]
    assert report.pending_changes == 1
    fixed = repair(filled10)
    assert fixed.ok and len(fixed.fixed) == 1
    assert filled10.store.journal_path.read_bytes() == b'{"id":1,"set":{"rating":5}}\n'
    [backup] = [b for b in fixed.backups]
    assert backup.read_bytes() == torn and backup.name.startswith(".journal.jsonl.bak-")
    assert filled10.store.read().get(1).rating == 5


def test_leftover_temp_files_are_reported_and_removed(filled10: Project) -> None:
    tmp = filled10.data_dir / ".examples.jsonl.abc123.tmp"
    tmp.write_bytes(b"half a file")
    cfg_tmp = filled10.root / "..aitelier.json.xyz.tmp"
    cfg_tmp.write_text("{")
    report = diagnose(filled10)
    assert sorted((p.path, p.message) for p in report.problems) == sorted(
        [(str(tmp), LEFTOVER_TEMP), (str(cfg_tmp), LEFTOVER_TEMP)]
    )
    before = filled10.examples_path.read_bytes()
    assert repair(filled10).ok
    assert not tmp.exists() and not cfg_tmp.exists() and filled10.examples_path.read_bytes() == before
    assert backups(filled10) == []  # nothing of the user's data changed, so no backup was needed


def test_duplicates_and_train_val_leaks_are_warnings(ait, project: Project, store_conv) -> None:
    project.store.append([store_conv(1), store_conv(2), store_conv(1), store_conv(2)])
    project.store.patch(2, {"split": "train"})
    project.store.patch(4, {"split": "val"})
    report = diagnose(project)
    assert report.ok
    assert [w.message for w in report.warnings] == [
        "examples 1 and 3 are exact duplicates",
        "examples 2 (train) and 4 (val) are the same conversation: "
        "the validation score would count an example the model trained on",
    ]
    r = ait("doctor", cwd=project.root)
    assert r.exit_code == 0 and "warning: " in r.stdout and "(2 warnings)" in r.stdout


def test_broken_formatted_files_are_reported_not_repaired(ait, filled10: Project) -> None:
    filled10.train_path.write_bytes(b'{"messages":[]}\r\n[1]\n')
    filled10.val_path.write_bytes(b"{nope\n")
    report = diagnose(filled10)
    got = [(Path(p.path).name, p.line, p.fixable) for p in report.problems]
    assert got == [("train.jsonl", 1, False), ("train.jsonl", 2, False), ("val.jsonl", 1, False)]
    r = ait("doctor", "--fix", cwd=filled10.root)
    assert r.exit_code == 3 and "run it again to regenerate them" in r.stdout
    assert filled10.train_path.read_bytes() == b'{"messages":[]}\r\n[1]\n'


def test_every_line_of_a_formatted_file_that_a_reader_would_stop_at_is_named(filled10: Project) -> None:
    filled10.train_path.write_bytes(
        BOM + b'{"a":1}\n\n  \r\n{"b":\xff}\n[[[\n"x"\n{"c":2}'
    )  # no final newline
    filled10.val_path.write_bytes(BOM)
    got = [(Path(p.path).name, p.line, p.message) for p in diagnose(filled10).problems]
    assert got == [
        ("train.jsonl", 1, "file starts with a UTF-8 byte-order mark"),
        ("train.jsonl", 2, "blank line"),
        ("train.jsonl", 3, "CRLF line ending"),
        ("train.jsonl", 3, "blank line"),
        ("train.jsonl", 4, "invalid UTF-8 at byte 6"),
        ("train.jsonl", 5, "invalid JSON: Expecting value (column 4)"),
        ("train.jsonl", 6, "expected a JSON object, got str"),
        ("val.jsonl", 1, "file starts with a UTF-8 byte-order mark"),
    ]


def test_doctor_json(ait, project: Project, jline, write_lines) -> None:
    write_lines(project, jline(1), b"[]")
    r = ait("doctor", "--json", cwd=project.root)
    assert r.exit_code == 3
    out = json.loads(r.stdout)
    assert out["ok"] is False and out["examples"] == 1 and out["fixed"] == [] and out["backups"] == []
    assert out["problems"] == [
        {
            "path": str(project.examples_path),
            "line": 2,
            "message": "expected a JSON object, got array",
            "fixable": False,
            "example_id": None,
        }
    ]


def test_doctor_on_a_project_without_examples_file(ait, project: Project) -> None:
    project.examples_path.unlink()
    r = ait("doctor", cwd=project.root)
    assert r.exit_code == 0 and "no data files yet" in r.stdout


# -- the repair itself --------------------------------------------------------------------------------------------------
def test_repaired_lines_examples() -> None:
    assert repair_bytes(BOM + b"a\r\n\r\n \nb\r\r\nc") == b"a\nb\nc\n"
    assert repair_bytes(b"") == b""
    assert repair_bytes(b"x\ry\n") == b"x\ry\n"  # a carriage return inside a line is data
    assert list(repaired_lines(io.BytesIO(b"a\n\nb"))) == [b"a\n", b"b\n"]


@settings(max_examples=400)
@given(st.lists(st.sampled_from([b"\n", b"\r", b" ", b"{}", b"x", BOM, b"\xff", b"\r\n"]), max_size=25))
def test_repair_is_safe_and_idempotent(parts: list[bytes]) -> None:
    data = b"".join(parts)
    fixed = repair_bytes(data)
    after = fixed.split(b"\n")[:-1]
    # nothing fixable is left: no byte-order mark in front, no carriage return before a newline, no blank line
    assert not fixed.startswith(BOM) and b"\r\n" not in fixed and all(line.strip() for line in after)
    # the content of every non-blank line is kept in order (a byte-order mark that dropping blank lines brings
    # to the front is dropped too)
    kept = [line.rstrip(b"\r") for line in data.removeprefix(BOM).split(b"\n")]
    kept = [line for line in kept if line.strip()]
    while kept and (kept[0].startswith(BOM) or not kept[0].strip()):
        while kept[0].startswith(BOM):
            kept[0] = kept[0][len(BOM) :]
        if not kept[0].strip():
            kept.pop(0)
    assert kept == after
    assert repair_bytes(fixed) == fixed
    assert fixed == b"" or fixed.endswith(b"\n")


def test_a_leftover_cache_temp_file_is_cleaned(filled10: Project) -> None:
    tmp = filled10.store.cache_path.with_name(".cache.json.4242.tmp")
    tmp.write_text("{")
    assert [p.path for p in diagnose(filled10).problems] == [str(tmp)]
    assert repair(filled10).ok and not tmp.exists()
