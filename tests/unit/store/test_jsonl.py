"""Strict JSONL line splitting: every line is returned or reported with its number, never dropped."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from aitelier.store.jsonl import (
    BOM,
    NO_NEWLINE,
    decode_line,
    is_blocking,
    iter_json_lines,
    iter_lines,
)

P = Path("data/examples.jsonl")


def split_lines(path: Path, data: bytes) -> tuple[list, list]:
    """(lines, problems) of ``data`` as the file ``path``, through the streaming reader."""
    import tempfile

    problems: list = []
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "f.jsonl"
        f.write_bytes(data)
        lines = [(n, raw) for n, raw in iter_lines(f, problems)]
    for p in problems:
        p.path = str(path)
    return lines, problems


def messages(problems) -> list[tuple[int | None, str]]:
    return [(p.line, p.message) for p in problems]


def test_clean_file() -> None:
    lines, problems = split_lines(P, b'{"a":1}\n{"b":2}\n')
    assert lines == [(1, b'{"a":1}'), (2, b'{"b":2}')]
    assert problems == []


def test_every_byte_level_problem_is_reported_with_its_line() -> None:
    data = BOM + b'{"a":1}\r\n\n  \n{"b":2}\r\n{"c":3}'
    lines, problems = split_lines(P, data)
    assert lines == [(1, b'{"a":1}'), (4, b'{"b":2}'), (5, b'{"c":3}')]
    assert messages(problems) == [
        (1, "file starts with a UTF-8 byte-order mark"),
        (1, "CRLF line ending"),
        (2, "blank line"),
        (3, "blank line"),
        (4, "CRLF line ending"),
        (5, NO_NEWLINE),
    ]
    assert all(p.fixable for p in problems)
    assert [is_blocking(p) for p in problems] == [True, True, True, True, True, False]
    assert str(problems[0]) == "data/examples.jsonl:1: file starts with a UTF-8 byte-order mark"


def test_empty_and_bom_only_files() -> None:
    assert split_lines(P, b"") == ([], [])
    lines, problems = split_lines(P, BOM)
    assert lines == [] and messages(problems) == [(1, "file starts with a UTF-8 byte-order mark")]


def test_decode_line_problems() -> None:
    obj, problem = decode_line(P, 3, b'{"a":"\xff"}')
    assert obj is None and str(problem) == "data/examples.jsonl:3: invalid UTF-8 at byte 7"
    obj, problem = decode_line(P, 4, b'{"a":1,}')
    assert obj is None and problem is not None
    assert str(problem).startswith("data/examples.jsonl:4: invalid JSON: ") and "(column 8)" in str(problem)
    assert decode_line(P, 1, b'{"a":1} {"b":2}')[1] is not None  # two objects on one line
    assert decode_line(P, 1, b'  {"a": [1, 2]}  ') == ({"a": [1, 2]}, None)  # spacing is fine
    assert decode_line(P, 1, b"[1]") == ([1], None)
    obj, problem = decode_line(P, 9, b"[" * 100_000)  # would overflow the parser's stack
    assert obj is None and str(problem) == "data/examples.jsonl:9: invalid JSON: nested too deeply"


def test_iter_json_lines_streams_objects_and_problems_in_line_order(tmp_path: Path) -> None:
    f = tmp_path / "x.jsonl"
    f.write_bytes(b'{"a":1}\n\nnot json\n[2]\n{"z":0}')
    got = [(n, obj, p.message if p else None) for n, obj, p in iter_json_lines(f)]
    assert got[0] == (1, {"a": 1}, None)
    assert got[1] == (2, None, "blank line")
    assert got[2][0] == 3 and got[2][2].startswith("invalid JSON")
    assert got[3] == (4, [2], None)
    assert got[4] == (5, {"z": 0}, None)  # a missing final newline is not an error here
    assert len(got) == 5


def _expected_lines(data: bytes) -> list[tuple[int, bytes]]:
    """An independent statement of the rules: split at \\n, drop one trailing \\r, skip blank lines."""
    if data.startswith(BOM):
        data = data[len(BOM) :]
    parts = data.split(b"\n")
    if parts[-1] == b"":
        parts.pop()
    out = []
    for n, part in enumerate(parts, 1):
        if part.endswith(b"\r"):
            part = part[:-1]
        if part.strip():
            out.append((n, part))
    return out


@settings(max_examples=400)
@given(
    st.lists(
        st.sampled_from([b"\n", b"\r", b" ", b"{", b"}", b"x", b"\xef\xbb\xbf", b"\xff", b"\t"]), max_size=30
    )
)
def test_no_line_is_ever_dropped_and_streaming_agrees(tmp_path_factory, parts: list[bytes]) -> None:
    data = b"".join(parts)
    lines, problems = split_lines(P, data)
    assert lines == _expected_lines(data)
    f = tmp_path_factory.mktemp("lines") / "f.jsonl"
    f.write_bytes(data)
    streamed_problems: list = []
    assert list(iter_lines(f, streamed_problems)) == lines
    assert messages(streamed_problems) == messages(problems)
    # every skipped line is reported
    returned = {n for n, _ in lines}
    body = data[len(BOM) :] if data.startswith(BOM) else data
    total = body.count(b"\n") + (0 if body.endswith(b"\n") or not body else 1)
    blank = {p.line for p in problems if p.message == "blank line"}
    assert returned | blank == set(range(1, total + 1))
