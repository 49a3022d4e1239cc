"""A second `ait format` with nothing changed reuses the files it wrote; token counts are cached per line."""

from __future__ import annotations

import json
import os
from pathlib import Path

from aitelier import Project, formats
from helpers import conversation, record, write_records


def _project(tmp_path: Path) -> Project:
    project = Project.create(tmp_path / "p", name="t", provider="together", threshold=8)
    write_records(
        project.examples_path,
        [record(i, rating=9, split="val" if i % 4 == 0 else "train") for i in range(1, 41)],
    )
    return project


def _stamps(project: Project) -> list[int]:
    return [os.stat(p).st_mtime_ns for p in (project.train_path, project.val_path)]


def test_a_second_format_with_nothing_changed_reuses_the_files(ait, tmp_path: Path) -> None:
    project = _project(tmp_path)
    first = ait("format", "--json", cwd=project.root)
    assert first.exit_code == 0, first.output
    files = (project.train_path.read_bytes(), project.val_path.read_bytes())
    stamps = _stamps(project)
    again = formats.build(Project.find(project.root))
    assert again.reused and again.counted == 0
    assert again.train.encoded == project.train_path.read_bytes().splitlines(keepends=True)
    second = ait("format", "--json", cwd=project.root)
    assert json.loads(second.stdout) == json.loads(first.stdout)  # the same report
    assert (
        _stamps(project) == stamps
        and (project.train_path.read_bytes(), project.val_path.read_bytes()) == files
    )


def test_any_change_of_an_input_builds_again(ait, tmp_path: Path) -> None:
    project = _project(tmp_path)
    assert ait("format", cwd=project.root).exit_code == 0
    project.store.patch(3, {"rating": 2})  # a rating (in the journal)
    result = formats.build(Project.find(project.root))
    assert not result.reused and 3 not in result.train.ids
    assert ait("format", cwd=project.root).exit_code == 0
    assert ait("config", "set", "qualityThreshold", "10", cwd=project.root).exit_code == 0
    assert not formats.build(Project.find(project.root)).reused
    assert ait("config", "set", "qualityThreshold", "8", cwd=project.root).exit_code == 0
    assert ait("format", cwd=project.root).exit_code == 0
    project.train_path.write_bytes(b"hand edited\n")  # an output changed by hand
    result = formats.build(Project.find(project.root))
    assert not result.reused
    formats.write(project, result)
    assert project.train_path.read_bytes() != b"hand edited\n"


def test_token_counts_come_from_the_cache_and_a_broken_cache_only_costs_time(ait, tmp_path: Path) -> None:
    project = _project(tmp_path)
    first = formats.build(project)
    assert first.counted == first.train.count + first.val.count  # counted once
    formats.write(project, first)
    (project.data_dir / ".format.memo").unlink()
    again = formats.build(Project.find(project.root))
    assert again.counted == 0 and again.train.token_totals == first.train.token_totals
    cache = project.data_dir / ".tokens.cache"
    for junk in (b"", b"\x00garbage", b"\x81\xa7version\x01"):
        cache.write_bytes(junk)
        broken = formats.build(Project.find(project.root))
        assert broken.train.token_totals == first.train.token_totals
        assert broken.val.token_trained == first.val.token_trained
    # a changed conversation is counted again, the others are not
    write_records(
        project.examples_path,
        [record(1, rating=9, split="train", messages=conversation(1, answer="a much longer answer " * 5))]
        + [record(i, rating=9, split="val" if i % 4 == 0 else "train") for i in range(2, 41)],
    )
    changed = formats.build(Project.find(project.root))
    assert changed.counted == 1 and changed.train.token_totals[0] > first.train.token_totals[0]
    # what the cache held and what was just counted were saved together
    again = formats.build(Project.find(project.root))
    assert again.counted == 0 and again.train.token_totals == changed.train.token_totals


def test_lines_written_any_way_format_to_the_same_files(tmp_path: Path) -> None:
    """Spacing, escapes and key order in examples.jsonl (a hand edit, another tool) change nothing in the
    provider files: every line is decoded, not matched as bytes."""
    records = [record(i, rating=9, split="val" if i % 4 == 0 else "train") for i in range(1, 21)]
    records[2]["messages"][1]["content"] = 'café ✓ "quoted" \\ back'
    compact = _project(tmp_path / "a")
    write_records(compact.examples_path, records)
    odd = _project(tmp_path / "b")
    lines = []
    for i, rec in enumerate(records):
        if i % 2:
            rec = dict(reversed(list(rec.items())))
        lines.append(json.dumps(rec, ensure_ascii=bool(i % 3), separators=(", ", ": ")))
    odd.examples_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for project in (compact, odd):
        formats.write(project, formats.build(project))
    assert odd.train_path.read_bytes() == compact.train_path.read_bytes()
    assert odd.val_path.read_bytes() == compact.val_path.read_bytes()


def test_validate_takes_the_counts_of_lines_format_wrote_from_the_cache(tmp_path: Path) -> None:
    project = _project(tmp_path)
    built = formats.build(project)
    formats.write(project, built)
    cached = formats.validate_file(project.train_path, "together", cache_dir=project.data_dir)
    fresh = formats.validate_file(project.train_path, "together")
    assert cached.stats["train"] == fresh.stats["train"] == built.train.stats()
    assert [str(p) for p in cached.problems] == [str(p) for p in fresh.problems]
