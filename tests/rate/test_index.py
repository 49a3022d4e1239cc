"""The light example index must agree with Store.scan() on every example, field and problem."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aitelier import Project
from aitelier.errors import DataError
from aitelier.store.index import read_index, scan_index
from aitelier.store.jsonl import is_blocking

# Strings that look like the structure the index searches for, so the property test aims at its edge cases.
TRICKY = ['}],"', '}],"rating":5}', '"rating":9', "\\", '"', "]}", "},{", "\n", "é", "\u2028", "{", "}"]
text = st.one_of(
    st.text(max_size=12), st.sampled_from(TRICKY), st.lists(st.sampled_from(TRICKY)).map("".join)
)
scalar = st.one_of(st.none(), st.booleans(), st.integers(-5, 12), text)
nested = st.recursive(
    scalar, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3), max_leaves=6
)


@st.composite
def message(draw: Any, valid: bool) -> dict[str, Any]:
    roles = ["system", "user", "assistant"] + ([] if valid else ["tool"])
    content = text if valid else st.one_of(text, st.none())
    m: dict[str, Any] = {"role": draw(st.sampled_from(roles)), "content": draw(content)}
    if draw(st.booleans()):
        # nested arrays of objects inside a message put a `}],"` before the end of the messages array
        m[draw(st.sampled_from(["tool_calls", "rating", "meta"]))] = draw(
            st.lists(st.dictionaries(text, scalar, max_size=2), max_size=2)
        )
    if draw(st.booleans()):
        m = dict(reversed(list(m.items())))
    return m


@st.composite
def record_line(draw: Any, ident: int, valid_conversation: bool) -> bytes:
    messages = st.lists(message(valid_conversation), min_size=1 if valid_conversation else 0, max_size=3)
    rec: dict[str, Any] = {"id": ident, "messages": draw(messages)}
    rating = draw(st.one_of(st.none(), st.integers(1, 10), st.sampled_from([0, 11, "8", True, 2.5])))
    if draw(st.booleans()) or rating is not None:
        rec["rating"] = rating
    for key, values in (
        ("originalOutput", st.one_of(st.none(), text, st.just(3))),
        ("createdAt", st.one_of(st.just("2026-01-01T00:00:00.000Z"), st.just(5))),
        ("version", st.one_of(st.integers(0, 3), st.just("2"))),
        ("split", st.sampled_from(["train", "val", "test", None])),
        ("tags", st.one_of(st.lists(text, max_size=2), st.just([1]))),
        ("history", st.lists(st.dictionaries(text, nested, max_size=2), max_size=2)),
        ("extra", nested),
    ):
        if draw(st.integers(0, 3)) == 0:
            rec[key] = draw(values)
    if draw(st.integers(0, 5)) == 0:  # a hand-written line: id not first
        rec = dict(reversed(list(rec.items())))
    if draw(st.integers(0, 8)) == 0:  # a repeated key: the last one wins in JSON parsers
        body = json.dumps(rec, separators=(",", ":"))
        return (body[:-1] + ',"rating":7}').encode() if len(rec) > 1 else body.encode()
    spaced = draw(st.integers(0, 6)) == 0
    ascii_only = draw(st.booleans())
    sep = (", ", ": ") if spaced else (",", ":")
    return json.dumps(rec, separators=sep, ensure_ascii=ascii_only).encode("utf-8")


@st.composite
def file_lines(draw: Any, valid_conversations: bool) -> list[bytes]:
    n = draw(st.integers(0, 8))
    ids = draw(st.lists(st.integers(1, 6), min_size=n, max_size=n))  # repeats make duplicate ids
    lines = [draw(record_line(i, valid_conversations)) for i in ids]
    for _ in range(draw(st.integers(0, 2))):
        odd = draw(
            st.sampled_from(
                [
                    b"",
                    b"not json",
                    b"[1,2]",
                    b'{"id":3,"messages":[{"role":"user","content":"x"}],"rating":',
                    b"\xff\xfe",
                ]
            )
        )
        lines.insert(draw(st.integers(0, len(lines))), odd)
    return lines


def _compare(project: Project) -> None:
    expected = project.store.scan()
    index, problems = scan_index(project.store)
    entries = index.entries()
    assert [str(p) for p in problems] == [str(p) for p in expected.problems]
    assert [e.id for e in entries] == [ex.id for ex in expected.examples]
    for entry, ex in zip(entries, expected.examples, strict=True):
        assert entry.line == ex.line
        assert entry.fields == {k: v for k, v in ex.data.items() if k not in ("id", "messages")}
        assert (entry.rating, entry.created_at) == (ex.rating, ex.created_at)
        if ex.raw is not None:  # unchanged by the journal: the exact bytes of the line
            assert entry.raw == ex.raw
        assert entry.load().data == ex.data


def _write(project: Project, lines: list[bytes], crlf: bool, final_newline: bool, bom: bool) -> None:
    end = b"\r\n" if crlf else b"\n"
    data = end.join(lines) + (end if final_newline and lines else b"")
    Path(project.examples_path).write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    Path(project.store.journal_path).unlink(missing_ok=True)


SETTINGS = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(lines=file_lines(True), crlf=st.booleans(), final_newline=st.booleans(), bom=st.booleans())
def test_index_agrees_with_a_full_read(project, lines, crlf, final_newline, bom):
    """Every example, field and problem, in order, when the conversations themselves are well formed."""
    _write(project, lines, crlf, final_newline, bom)
    _compare(project)


@SETTINGS
@given(lines=file_lines(False), crlf=st.booleans(), final_newline=st.booleans(), bom=st.booleans())
def test_index_never_accepts_what_a_full_read_refuses(project, lines, crlf, final_newline, bom):
    """The index does not look inside conversations, but loading one does: nothing bad gets through both."""
    _write(project, lines, crlf, final_newline, bom)
    expected = [p for p in project.store.scan().problems if is_blocking(p)]
    index, problems = scan_index(project.store)
    found = [p for p in problems if is_blocking(p)]
    for entry in index.entries():
        try:
            entry.load()
        except DataError as e:
            found.extend(e.problems)
    assert bool(found) == bool(expected)
    if not expected:
        _compare(project)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    patches=st.lists(
        st.tuples(
            st.integers(1, 5),
            st.dictionaries(
                st.sampled_from(["rating", "ratedAt", "split", "note"]),
                st.one_of(st.none(), st.integers(1, 11), st.just("val")),
                max_size=2,
            ),
            st.lists(st.sampled_from(["rating", "ratedAt", "createdAt", "note"]), max_size=2),
        ),
        max_size=6,
    )
)
def test_index_applies_the_journal_like_a_full_read(project, patches):
    lines = [
        json.dumps(
            {"id": i, "messages": [{"role": "user", "content": f"q{i}"}], "rating": None, "createdAt": "c"},
            separators=(",", ":"),
        ).encode()
        for i in range(1, 5)
    ]
    Path(project.examples_path).write_bytes(b"\n".join(lines) + b"\n")
    journal = Path(project.store.journal_path)
    journal.unlink(missing_ok=True)
    for ident, set_fields, unset in patches:
        project.store.patch(ident, set_fields, unset)
    _compare(project)


def test_a_rewrite_in_the_journal_reaches_the_loaded_conversation(project):
    project.store.append(
        [{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}]
    )
    new = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "better"}]
    project.store.patch(1, {"messages": new, "version": 2})
    (entry,) = read_index(project.store).entries()
    assert entry.fields["version"] == 2 and "messages" not in entry.fields
    assert entry.load().data["messages"] == new


def test_read_index_is_strict(project):
    Path(project.examples_path).write_bytes(
        b'{"id":1,"messages":[{"role":"user","content":"x"}],"rating":42}\n'
    )
    with pytest.raises(DataError, match=r"examples.jsonl:1: `rating` must be"):
        read_index(project.store)


def test_missing_final_newline_is_not_blocking(project):
    Path(project.examples_path).write_bytes(b'{"id":1,"messages":[{"role":"user","content":"x"}],"rating":3}')
    (entry,) = read_index(project.store).entries()
    assert entry.rating == 3


def test_no_examples_file(project):
    Path(project.examples_path).unlink()
    assert len(read_index(project.store)) == 0


MSGS = '[{"role":"user","content":"q ]}],\\"x\\" [1]"},{"role":"assistant","content":"a"}]'
TIER_LINES = [  # "@" stands for MSGS
    # (line, tier): 1 = the fields regex, 2 = the fields parsed as JSON, 3 = the whole line parsed
    ('{"id":1,"messages":@,"rating":7,"createdAt":"2026-01-01T00:00:00Z","version":1}', 1),
    (
        '{"id":2,"messages":@,"rating":null,"originalOutput":null,"createdAt":"c","version":1,"split":"val"}',
        1,
    ),
    (
        '{"id":3,"messages":@,"rating":10,"createdAt":"c","version":2,"ratedAt":"r","tags":["a","b"]}',
        1,
    ),
    ('{"id":4,"messages":@,"rating":null,"originalOutput":"say \\"hi\\"\\n","createdAt":"c"}', 2),
    ('{"id":5,"messages":@,"rating":7,"rating":null}', 2),  # a repeated key: the last one wins
    ('{"id":6,"messages":@,"createdAt":"caf\u00e9","rating":3}', 2),
    ('{"id":7,"messages":@,"rating":100}', 2),  # invalid: reported like a full read reports it
    # the first }]," closes an array inside a message: the rest is not one object, so the line is parsed whole
    ('{"id":8,"messages":[{"role":"user","content":"q","calls":[{"a":1}],"rating":5}],"rating":null}', 3),
    ('{"messages":@,"id":9,"rating":4}', 3),
    ('{"id":010,"messages":@,"rating":4}', 3),  # a leading zero is not JSON
    ('{"id":11,"messages":@}', 3),
]


def test_each_line_takes_the_fastest_exact_way(project, monkeypatch):
    from aitelier.store import index as index_module

    text = "\n".join(line.replace("@", MSGS) for line, _ in TIER_LINES) + "\n"
    Path(project.examples_path).write_bytes(text.encode())
    calls: list[str] = []
    tail_fields, decode_line = index_module._tail_fields, index_module.decode_line

    def spy_tail(data, start, end):
        calls.append("tail")
        return tail_fields(data, start, end)

    def spy_decode(path, n, raw):
        calls.append(f"line {n}")
        return decode_line(path, n, raw)

    monkeypatch.setattr(index_module, "_tail_fields", spy_tail)
    monkeypatch.setattr(index_module, "decode_line", spy_decode)
    index, problems = scan_index(project.store)
    tiers = {n: tier for n, (_, tier) in enumerate(TIER_LINES, 1)}
    parsed_whole = {int(c.split()[1]) for c in calls if c.startswith("line")}
    assert parsed_whole == {n for n, t in tiers.items() if t == 3}
    assert calls.count("tail") == 5  # lines 4-7, and 8 whose rest is not one object (9-11 never get there)
    monkeypatch.undo()
    _compare(project)
    by_id = {e.id: e for e in index.entries()}
    assert (by_id[1].rating, by_id[1].created_at) == (7, "2026-01-01T00:00:00Z")
    assert by_id[5].rating is None and by_id[8].rating is None and by_id[6].created_at == "café"
    assert [str(p).split(": ", 1)[1] for p in problems] == [
        "`rating` must be an integer 1-10 or null, got 100",
        "invalid JSON: Expecting ',' delimiter (column 8)",
    ]
