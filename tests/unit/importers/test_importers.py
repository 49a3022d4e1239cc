"""Import parsing: accepted shapes, rejected lines with their numbers, CSV quirks, duplicates, all-or-nothing."""

from __future__ import annotations

import csv
import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aitelier.errors import DataError, UsageError
from aitelier.importers import detect_format, import_file, import_parsed, parse_csv, parse_file, parse_jsonl

SYS = "You are helpful."


def jsonl(*objs) -> bytes:
    return b"".join((o if isinstance(o, bytes) else json.dumps(o).encode()) + b"\n" for o in objs)


def test_chat_prompt_completion_and_input_output_lines():
    parsed = parse_jsonl(
        jsonl(
            {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]},
            {"prompt": "c", "completion": "d", "rating": 7},
            {"input": "e", "output": "f", "rating": None},
        ),
        "in.jsonl",
        system=SYS,
    )
    assert parsed.rejected == []
    recs = [c.record for c in parsed.candidates]
    assert [c.line for c in parsed.candidates] == [1, 2, 3]
    for rec in recs:
        assert rec["messages"][0] == {"role": "system", "content": SYS}
        assert rec["source"] == "import:in.jsonl"
    assert [r["rating"] for r in recs] == [None, 7, None]
    assert [r["messages"][-1]["content"] for r in recs] == ["b", "d", "f"]


def test_a_lines_own_system_message_is_kept():
    parsed = parse_jsonl(
        jsonl(
            {
                "messages": [
                    {"role": "system", "content": "own"},
                    {"role": "user", "content": "a"},
                    {"role": "assistant", "content": "b"},
                ]
            },
            {"prompt": "c", "completion": "d", "system": "own too"},
        ),
        "x.jsonl",
        system=SYS,
    )
    assert [c.record["messages"][0]["content"] for c in parsed.candidates] == ["own", "own too"]


def test_npm_example_lines_keep_fields_but_not_id_or_split():
    line = {
        "id": 12,
        "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "better"}],
        "rating": 9,
        "originalOutput": "draft",
        "createdAt": "2025-05-05T00:00:00.000Z",
        "version": 2,
        "split": "val",
        "tags": ["billing"],
    }
    parsed = parse_jsonl(jsonl(line), "old.jsonl")
    rec = parsed.candidates[0].record
    assert "id" not in rec and "split" not in rec
    assert rec["rating"] == 9 and rec["originalOutput"] == "draft" and rec["version"] == 2
    assert rec["createdAt"] == "2025-05-05T00:00:00.000Z" and rec["tags"] == ["billing"]
    assert any("split" in n for n in parsed.notes)


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b"not json", "invalid JSON"),
        (b"[1, 2]", "expected a JSON object, got list"),
        (b'{"text": "hello"}', "no `messages`"),
        (b'{"prompt": "a"}', "must both be strings"),
        (b'{"prompt": "a", "completion": "  "}', "`completion` is empty"),
        (b'{"prompt": "a", "completion": "b", "rating": 0}', "`rating` must be an integer 1-10"),
        (b'{"prompt": "a", "completion": "b", "rating": "9"}', "`rating` must be an integer 1-10"),
        (b'{"prompt": "a", "completion": "b", "rating": true}', "`rating` must be an integer 1-10"),
        (b'{"messages": [{"role": "user", "content": "a"}]}', "last message must be"),
        (b'{"messages": [{"role": "tool", "content": "a"}]}', "role 'tool'"),
        (
            b'{"messages": [{"role":"user","content":"a"},{"role":"assistant","content":"b"}], "version": 0}',
            "`version`: expected int >= 1",
        ),
        (b'{"prompt": "caf\xe9", "completion": "b"}', "invalid UTF-8"),
    ],
)
def test_rejected_lines_carry_line_number_and_reason(raw, needle):
    good = {"prompt": "ok", "completion": "fine"}
    parsed = parse_jsonl(jsonl(good, raw, good), "in.jsonl")
    assert len(parsed.rejected) == 1
    assert parsed.rejected[0].line == 2
    assert needle in parsed.rejected[0].reason
    assert [c.line for c in parsed.candidates] == [1, 3]


def test_bom_crlf_and_blank_lines_are_tolerated_in_an_import():
    data = b"\xef\xbb\xbf" + b'{"prompt":"a","completion":"b"}\r\n\r\n\n{"prompt":"c","completion":"d"}'
    parsed = parse_jsonl(data, "win.jsonl")
    assert parsed.rejected == []
    assert [c.line for c in parsed.candidates] == [1, 4]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.just("good"), st.just("bad"), st.just("blank"), st.just("dup")), max_size=30))
def test_every_non_blank_line_is_accepted_or_rejected_with_its_number(kinds):
    lines, expect_ok, expect_bad = [], [], []
    for n, kind in enumerate(kinds, 1):
        if kind == "good":
            lines.append(json.dumps({"prompt": f"q{n}", "completion": "a"}).encode())
            expect_ok.append(n)
        elif kind == "dup":
            lines.append(b'{"prompt": "same", "completion": "same"}')
            expect_ok.append(n)
        elif kind == "bad":
            lines.append(b'{"prompt": ')
            expect_bad.append(n)
        else:
            lines.append(b"   ")
    parsed = parse_jsonl(b"\n".join(lines), "p.jsonl")
    assert [c.line for c in parsed.candidates] == expect_ok
    assert [r.line for r in parsed.rejected] == expect_bad


# -- CSV --------------------------------------------------------------------------------------------------------
def to_csv(rows, header=("input", "output", "rating"), delimiter=",") -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode("utf-8")


def test_csv_basic_with_ratings_and_ignored_columns():
    data = to_csv(
        [("q1", "a1", "9", "x"), ("q2", "a2", "", "y")], header=("Input", " OUTPUT ", "rating", "note")
    )
    parsed = parse_csv(data, "in.csv", system=SYS)
    assert parsed.rejected == []
    assert [c.record["rating"] for c in parsed.candidates] == [9, None]
    assert parsed.candidates[0].record["messages"] == [
        {"role": "system", "content": SYS},
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1"},
    ]
    assert parsed.notes == ["ignored column(s): note"]


def test_csv_rows_report_the_line_where_they_start():
    data = to_csv(
        [("multi\nline\ninput", "a", "8"), ("q", "", ""), ("q3", "a3", "eleven"), ("q4", "a4", "12")]
    )
    parsed = parse_csv(data, "in.csv")
    assert [c.line for c in parsed.candidates] == [2]
    assert [(r.line, r.reason) for r in parsed.rejected] == [
        (5, "`output` is empty"),
        (6, '`rating` must be an integer 1-10 or null, got "eleven"'),
        (7, "`rating` must be an integer 1-10 or null, got 12"),
    ]


def test_csv_semicolon_tab_and_excel_bom():
    parsed = parse_csv(b"\xef\xbb\xbf" + to_csv([("q", "a", "7")], delimiter=";"), "eu.csv")
    assert [c.record["rating"] for c in parsed.candidates] == [7]
    parsed = parse_csv(to_csv([("q", "a", "7")], delimiter="\t"), "t.tsv")
    assert [c.record["rating"] for c in parsed.candidates] == [7]


def test_csv_system_column():
    parsed = parse_csv(to_csv([("q", "a", "own")], header=("input", "output", "system")), "s.csv", system=SYS)
    assert parsed.candidates[0].record["messages"][0] == {"role": "system", "content": "own"}


def test_csv_without_required_columns_is_a_data_error():
    with pytest.raises(DataError, match="no `output` column"):
        parse_csv(b"input,answer\nq,a\n", "bad.csv")


def test_csv_that_is_not_utf8_is_a_data_error_with_the_line():
    with pytest.raises(DataError, match=r"bad.csv:2: invalid UTF-8"):
        parse_csv(b"input,output\ncaf\xe9,a\n", "bad.csv")


def test_csv_row_with_too_many_cells():
    parsed = parse_csv(b"input,output\nq,a,extra\n", "x.csv")
    assert parsed.rejected[0].line == 2 and "3 cells" in parsed.rejected[0].reason


cell = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1
).filter(lambda s: s.strip())


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(cell, cell, st.one_of(st.none(), st.integers(1, 10))), min_size=1, max_size=8))
def test_csv_round_trip_keeps_cell_text(rows):
    data = to_csv([(i, o, "" if r is None else str(r)) for i, o, r in rows])
    parsed = parse_csv(data, "p.csv")
    assert parsed.rejected == []
    assert len(parsed.candidates) == len(rows)
    for cand, (i, o, r) in zip(parsed.candidates, rows, strict=True):
        msgs = cand.record["messages"]
        # csv turns \r\n and lone \r inside quoted cells into what was written; compare exactly
        assert msgs[0]["content"] == i and msgs[1]["content"] == o
        assert cand.record["rating"] == r


# -- format detection and files -----------------------------------------------------------------------------------
def test_detect_format():
    assert detect_format("a.jsonl") == "jsonl"
    assert detect_format("a.JSON") == "jsonl"
    assert detect_format("a.csv") == "csv"
    assert detect_format("a.tsv") == "csv"
    with pytest.raises(UsageError, match="--format"):
        detect_format("a.txt")


def test_parse_file_errors(tmp_path):
    with pytest.raises(UsageError, match="cannot read"):
        parse_file(str(tmp_path / "missing.jsonl"))
    with pytest.raises(UsageError, match="needs a format"):
        parse_file("-")


# -- writing ------------------------------------------------------------------------------------------------------
def test_import_is_all_or_nothing(project, tmp_path):
    f = tmp_path / "in.jsonl"
    f.write_bytes(jsonl({"prompt": "a", "completion": "b"}, b"oops"))
    report = import_file(project, str(f))
    assert not report.written and report.added == [] and report.would_add == 1
    assert [r.line for r in report.rejected] == [2]
    assert project.examples_path.read_bytes() == b""


def test_skip_invalid_adds_the_valid_lines(project, tmp_path):
    f = tmp_path / "in.jsonl"
    f.write_bytes(jsonl({"prompt": "a", "completion": "b"}, b"oops", {"prompt": "c", "completion": "d"}))
    report = import_file(project, str(f), skip_invalid=True)
    assert report.written and report.added == [1, 2]
    assert [ex.last_user for ex in project.store.read()] == ["a", "c"]


def test_duplicates_of_existing_examples_and_earlier_lines_are_skipped(project, tmp_path):
    f = tmp_path / "in.jsonl"
    f.write_bytes(jsonl({"prompt": "a", "completion": "b"}))
    assert import_file(project, str(f)).added == [1]
    f.write_bytes(
        jsonl(
            {"prompt": "a", "completion": "b"},
            {"prompt": "c", "completion": "d"},
            {"input": "c", "output": "d"},
        )
    )
    report = import_file(project, str(f))
    assert report.added == [2]
    assert [(d.line, d.of_id, d.of_line) for d in report.duplicates] == [(1, 1, None), (3, None, 2)]


def test_duplicate_lookup_by_full_read_for_big_imports(project, tmp_path):
    """Past the byte-search limit, duplicates come from a parsed copy of the store; same answers."""
    f = tmp_path / "in.jsonl"
    f.write_bytes(jsonl(*({"prompt": f"q{i}", "completion": "a"} for i in range(10))))
    import_file(project, str(f))
    f.write_bytes(jsonl(*({"prompt": f"q{i}", "completion": "a"} for i in range(60))))
    report = import_file(project, str(f))
    assert len(report.added) == 50 and len(report.duplicates) == 10
    assert [d.of_id for d in report.duplicates] == list(range(1, 11))
    assert len({ex.id for ex in project.store.read()}) == 60


def test_dry_run_writes_nothing(project, tmp_path):
    f = tmp_path / "in.jsonl"
    f.write_bytes(jsonl({"prompt": "a", "completion": "b"}))
    parsed = parse_file(str(f), system=project.system_prompt)
    report = import_parsed(project, parsed, dry_run=True)
    assert report.would_add == 1 and not report.written
    assert project.examples_path.read_bytes() == b""
    assert report.to_json()["would_add"] == 1
