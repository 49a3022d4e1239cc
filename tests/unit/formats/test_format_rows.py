"""What `ait format` writes for each example comes from the example as every command sees it: the journal's
pending changes applied, every message key accounted for, whichever way the line is read."""

from __future__ import annotations

from pathlib import Path

import pytest

from aitelier import Project, formats
from aitelier.errors import DataError
from helpers import read_jsonl, record, write_lines, write_records

EDITED = [
    {"role": "user", "content": "an edited question"},
    {"role": "assistant", "content": "an edited answer"},
]


def _project(tmp_path: Path, records: list[dict]) -> Project:
    project = Project.create(tmp_path / "p", name="t", provider="together", threshold=8)
    write_records(project.examples_path, records)
    return project


def test_a_pending_journal_change_of_the_messages_is_what_is_written(tmp_path: Path) -> None:
    project = _project(tmp_path, [record(i, rating=9, split="train") for i in range(1, 11)])
    project.store.patch(4, {"messages": EDITED})  # in the journal, not yet in examples.jsonl
    result = formats.build(project)
    formats.write(project, result)
    lines = read_jsonl(project.train_path)
    assert lines[3] == {"messages": EDITED}
    assert lines[2] == {"messages": record(3)["messages"]}
    assert result.train.ids == list(range(1, 11))


def test_message_keys_beyond_role_and_content_are_kept_or_reported(tmp_path: Path) -> None:
    weighted = [
        {"content": "q", "role": "user"},  # content first: written role first
        {"role": "assistant", "content": "a", "weight": 1},
    ]
    named = [{"role": "user", "content": "q2", "name": "bob"}, {"role": "assistant", "content": "a2"}]
    records = [record(i, rating=9, split="train") for i in range(1, 6)]
    records += [record(6, rating=9, split="train", messages=weighted)]
    records += [record(7, rating=9, split="val", messages=named)]
    project = _project(tmp_path, records)
    result = formats.build(project)
    formats.write(project, result)
    assert read_jsonl(project.train_path)[5] == {"messages": [{"role": "user", "content": "q"}, weighted[1]]}
    assert read_jsonl(project.val_path) == [{"messages": [{"role": "user", "content": "q2"}, named[1]]}]
    dropped = [
        (p.rule, p.example_id, p.split, p.message) for p in result.warnings if p.rule == "dropped-keys"
    ]
    assert dropped == [("dropped-keys", 7, "val", "message key `name` is not written for together")]


def test_a_line_that_breaks_the_schema_stops_the_build_with_its_line(tmp_path: Path) -> None:
    project = _project(tmp_path, [record(i, rating=9, split="train") for i in range(1, 4)])
    bad = b'{"id":4,"messages":[{"role":"user","content":7}],"rating":9,"split":"train"}'
    with project.examples_path.open("ab") as f:
        f.write(bad + b"\n")
    with pytest.raises(DataError) as e:
        formats.build(project)
    assert [(p.line, "content" in p.message) for p in e.value.problems] == [(4, True)]


def test_written_lines_do_not_depend_on_the_key_order_of_the_stored_messages(tmp_path: Path) -> None:
    msgs = [{"role": "user", "content": "same"}, {"role": "assistant", "content": "same answer"}]
    swapped = [{"content": m["content"], "role": m["role"]} for m in msgs]
    project = _project(tmp_path, [])
    write_lines(
        project.examples_path,
        [
            b'{"id":1,"messages":%s,"rating":9,"split":"train"}' % _json(msgs),
            b'{"id":2,"messages":%s,"rating":9,"split":"train"}' % _json(swapped),
        ],
    )
    result = formats.build(project)
    assert result.train.encoded[0] == result.train.encoded[1]
    assert [(p.rule, p.example_id) for p in result.warnings if p.rule == "duplicate"] == [("duplicate", 2)]


def _json(value: object) -> bytes:
    import json

    return json.dumps(value, separators=(",", ":")).encode()


@pytest.mark.parametrize(
    "field",
    [b'"version":0', b'"ratedAt":"yesterday"', b'"updatedAt":5', b'"tags":[1]', b'"originalOutputTurn":0'],
)
def test_a_field_the_light_view_skips_that_breaks_the_schema_stops_the_build(
    tmp_path: Path, field: bytes
) -> None:
    # the read that chooses the examples checks only the light view (id, rating, split, createdAt,
    # originalOutput): every other field of a chosen line is checked when it is formatted
    project = _project(tmp_path, [record(i, rating=9, split="train") for i in range(1, 4)])
    bad = b'{"id":4,"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}],'
    bad += b'"rating":9,"split":"train",' + field + b"}"
    with project.examples_path.open("ab") as f:
        f.write(bad + b"\n")
    with pytest.raises(DataError) as e:
        formats.build(project)
    assert [p.line for p in e.value.problems] == [4]
