"""The verified index must agree with Store.scan() on every example and problem, and its claims must hold.

A row it calls canonical must be a valid record whose line is exactly what serialising it writes, and the byte
edit it makes to set a split must equal parsing, changing and serialising the line. Store.rewrite (used by
split, the journal fold, rm and edit) must write the file the old full read + full rewrite wrote.
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aitelier import Project, parallel
from aitelier.errors import DataError
from aitelier.store import index as index_module
from aitelier.store.canonical import ODD, flagged_lines
from aitelier.store.index import read_index, scan_index
from aitelier.store.jsonl import is_blocking
from aitelier.store.records import UNSET, Example, canonical, dumps, validate_record
from aitelier.store.store import _edited

# Strings aimed at the byte-level checks and at the structure the expressions look for.
TRICKY = [
    '"',
    "\\",
    "\n",
    "\t",
    "\r",
    "\x00",
    "\x08",
    "\x0b",
    "\x1f",
    "\x7f",
    "é",
    "🎉",
    "\u2028",
    "/",
    '}],"',
    '"rating":9',
    "},{",
    ',"split":"val"',
    '{"id":1,"messages":[',
    '\\"',
    "]",
]
text = st.one_of(
    st.text(max_size=8), st.sampled_from(TRICKY), st.lists(st.sampled_from(TRICKY), max_size=4).map("".join)
)
stamp = st.sampled_from(
    ["2026-01-01T00:00:00.000Z", "2026-01-01T00:00:00.000Z", "", "caf\u00e9", 'a"b', "\t"]
)


@st.composite
def message(draw: Any, valid: bool) -> dict[str, Any]:
    roles = ["system", "user", "assistant"] + ([] if valid else ["tool", 3])
    m: dict[str, Any] = {"role": draw(st.sampled_from(roles)), "content": draw(text)}
    if not valid and draw(st.integers(0, 3)) == 0:
        m["content"] = draw(st.sampled_from([None, 5, ["x"]]))
    if draw(st.integers(0, 8)) == 0:
        m[draw(st.sampled_from(["weight", "name", "role"]))] = draw(st.sampled_from([0, 1, "n", [{"a": 1}]]))
    if draw(st.integers(0, 8)) == 0:
        m = dict(reversed(list(m.items())))
    return m


@st.composite
def record(draw: Any, ident: int, valid: bool) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "id": ident,
        "messages": draw(st.lists(message(valid), min_size=1 if valid else 0, max_size=3)),
    }
    ratings = st.one_of(st.none(), st.integers(1, 10))
    if not valid:
        ratings = st.one_of(ratings, st.sampled_from([0, 11, "8", True, 2.5]))
    if draw(st.integers(0, 6)) or not valid:
        rec["rating"] = draw(ratings)
    for key, values, odds in (
        ("originalOutput", st.one_of(st.none(), text), 3),
        ("createdAt", st.one_of(st.none(), stamp), 2),
        ("version", st.integers(1, 3), 2),
        ("split", st.sampled_from(["train", "val", None]), 2),
        ("ratedAt", st.one_of(st.none(), text), 3),
        ("updatedAt", text, 4),
        ("source", st.one_of(st.none(), text), 4),
        ("tags", st.lists(text, max_size=2), 4),
        ("note", text, 8),  # a key of another tool: never canonical
    ):
        if draw(st.integers(1, odds)) == 1:
            rec[key] = draw(values)
    if not valid and draw(st.integers(0, 4)) == 0:
        rec[draw(st.sampled_from(["version", "split", "tags", "createdAt"]))] = draw(
            st.sampled_from([0, "test", [1], 5])
        )
    return rec


def _escape_slash(line: bytes) -> bytes:
    return line.replace(b"/", b"\\/")


def _upper_escapes(line: bytes) -> bytes:
    return re.sub(rb"\\u00([0-9a-f]{2})", lambda m: b"\\u00" + m.group(1).upper(), line)


def _long_escapes(line: bytes) -> bytes:
    """Valid JSON, but not what json.dumps writes: \u0008 for \b, \u000a for \n, \u0009 for \t."""
    return line.replace(b"\\b", b"\\u0008").replace(b"\\n", b"\\u000a").replace(b"\\t", b"\\u0009")


def _raw_tab(line: bytes) -> bytes:
    return line.replace(b"\\t", b"\t")


def _bad_utf8(line: bytes) -> bytes:
    return line[:-1] + b"\xff" + line[-1:]


@st.composite
def serialised(draw: Any, rec: dict[str, Any]) -> bytes:
    """One line for the record: mostly canonical, sometimes written the way other tools (or people) do."""
    style = draw(st.integers(0, 9))
    if style <= 4:
        try:
            return dumps(canonical(rec)).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate cannot be written raw
            style = 5
    if style == 5:
        return json.dumps(canonical(rec), separators=(",", ":")).encode()  # ensure_ascii: \u escapes
    if style == 6:
        return json.dumps(rec, separators=(", ", ": "), ensure_ascii=False).encode("utf-8", "surrogatepass")
    if style == 7:
        return json.dumps(dict(reversed(list(rec.items()))), separators=(",", ":")).encode()
    line = json.dumps(canonical(rec), separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8", "surrogatepass"
    )
    return draw(st.sampled_from([_escape_slash, _upper_escapes, _long_escapes, _raw_tab, _bad_utf8]))(line)


@st.composite
def file_lines(draw: Any, valid: bool) -> list[bytes]:
    n = draw(st.integers(0, 8))
    ids = draw(st.lists(st.integers(1, 6), min_size=n, max_size=n))  # repeats make duplicate ids
    lines = [draw(serialised(draw(record(i, valid)))) for i in ids]
    for _ in range(draw(st.integers(0, 2) if not valid else st.just(0))):
        odd = draw(st.sampled_from([b"", b"not json", b"[1,2]", b'{"id":3,"messages":[', b"\xff\xfe", b" "]))
        lines.insert(draw(st.integers(0, len(lines))), odd)
    return lines


patches = st.lists(
    st.tuples(
        st.integers(1, 6),
        st.dictionaries(
            st.sampled_from(["rating", "split", "note", "originalOutput"]),
            st.one_of(st.none(), st.integers(1, 11), st.sampled_from(["val", "train", "x"])),
            max_size=2,
        ),
        st.lists(st.sampled_from(["rating", "split", "createdAt", "note"]), max_size=2),
    ),
    max_size=4,
)

SETTINGS = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _write(project: Project, lines: list[bytes], crlf: bool, final_newline: bool, bom: bool) -> None:
    end = b"\r\n" if crlf else b"\n"
    data = end.join(lines) + (end if final_newline and lines else b"")
    Path(project.examples_path).write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    Path(project.store.journal_path).unlink(missing_ok=True)


def _outcome(fn: Any) -> Any:
    """What a call returns, or the type of what it raises (a lone surrogate cannot be written as UTF-8 by
    either path)."""
    try:
        return fn()
    except UnicodeEncodeError as e:
        return type(e)


def _compare(project: Project) -> None:
    """Rows, fields and problems exactly as the full read; every canonical claim true."""
    expected = project.store.scan()
    index, problems = scan_index(project.store, verify=True)
    assert index.verified
    assert [str(p) for p in problems] == [str(p) for p in expected.problems]
    assert index.ids == [ex.id for ex in expected.examples]
    for row, ex in enumerate(expected.examples):
        assert index.lines[row] == ex.line
        assert (index.ratings[row], index.created[row], index.splits[row]) == (
            ex.rating,
            ex.created_at,
            ex.split,
        )
        assert _outcome(lambda row=row: index.serialised(row)) == _outcome(
            ex.to_line
        )  # what a rewrite writes
        if ex.raw is not None:
            assert index.raw(row) == ex.raw
        if index.is_canonical(row):
            raw = index.raw(row)
            obj = json.loads(raw)
            assert validate_record(obj) == []
            assert dumps(canonical(obj)).encode("utf-8") == raw
        for split in (None, "train", "val"):
            want = _outcome(ex.updated(split=UNSET if split is None else split).to_line)
            assert _outcome(lambda r=row, s=split: _edited(index.raw(r), index.split_edit(r, s))) == want


content = st.text(
    alphabet=st.one_of(
        st.sampled_from(list('"\\/\n\t\r\x00\x08\x0b\x0c\x1f\x7f é🎉\u2028\ud800')), st.characters()
    ),
    max_size=10,
)
TRANSFORMS = [
    lambda line: line,
    lambda line: line,
    _escape_slash,
    _upper_escapes,
    _long_escapes,
    _raw_tab,
    _bad_utf8,
    lambda line: json.dumps(json.loads(line), separators=(",", ":")).encode(),  # ensure_ascii
]


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    contents=st.lists(content, min_size=1, max_size=3),
    split=st.sampled_from([None, "train", "val", "null"]),
    original=st.none() | content,
    transform=st.sampled_from(TRANSFORMS),
)
def test_canonical_claims_hold_whatever_the_strings_hold(project, contents, split, original, transform):
    """Every escape, control character, quote and non-ASCII character, raw or escaped, canonical or not."""
    roles = ["user", "assistant", "system"]
    rec: dict[str, Any] = {
        "id": 7,
        "messages": [{"role": roles[i % 3], "content": c} for i, c in enumerate(contents)],
        "rating": 9,
        "createdAt": "2026-01-01T00:00:00.000Z",
        "version": 1,
    }
    if original is not None:
        rec["originalOutput"] = original
    if split is not None:
        rec["split"] = None if split == "null" else split
    line = json.dumps(canonical(rec), separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8", "surrogatepass"
    )
    with contextlib.suppress(ValueError):  # json.loads of a line with a lone surrogate written raw
        line = transform(line)
    _write(project, [line], False, True, False)
    _compare(project)


@SETTINGS
@given(lines=file_lines(True), crlf=st.booleans(), final_newline=st.booleans(), bom=st.booleans())
def test_verified_index_agrees_with_a_full_read(project, lines, crlf, final_newline, bom):
    _write(project, lines, crlf, final_newline, bom)
    _compare(project)


@SETTINGS
@given(lines=file_lines(False), crlf=st.booleans(), final_newline=st.booleans(), bom=st.booleans())
def test_verified_index_reports_what_a_full_read_reports(project, lines, crlf, final_newline, bom):
    """Conversations included: a malformed one is a problem at its line, as in Store.scan()."""
    _write(project, lines, crlf, final_newline, bom)
    _compare(project)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=file_lines(True), journal=patches)
def test_verified_index_applies_the_journal_like_a_full_read(project, lines, journal):
    _write(project, lines, False, True, False)
    for ident, set_fields, unset in journal:
        project.store.patch(ident, set_fields, unset)
    _compare(project)


@pytest.fixture
def three_workers(monkeypatch):
    """Share even a tiny file out between three processes (this process and two forked workers)."""
    monkeypatch.setattr(index_module, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(parallel, "worker_count", lambda n, m: 3 if n else 1)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.one_of(file_lines(False), file_lines(True)), journal=patches)
def test_parts_read_by_worker_processes_join_like_one_read(project, three_workers, lines, journal):
    """Duplicates across parts, lines parsed whole, journal changes: joined in line order all the same."""
    _write(project, lines, False, True, False)
    for ident, set_fields, unset in journal:
        project.store.patch(ident, set_fields, unset)
    _compare(project)


def test_a_worker_that_fails_has_its_part_redone_here(project, three_workers, monkeypatch, canon):
    lines = [
        canon({"id": i, "messages": [{"role": "user", "content": f"q{i}"}], "rating": None})
        for i in range(1, 40)
    ]
    _write(project, lines, False, True, False)

    def no_map(*args: Any, **kwargs: Any) -> Any:
        raise OSError("no memory maps here")

    monkeypatch.setattr(
        index_module.mmap, "mmap", no_map
    )  # a forked worker dies; this process redoes its part
    _compare(project)
    assert len(read_index(project.store, verify=True)) == 39


# -- the byte passes ------------------------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.binary(max_size=12) | st.sampled_from([b'a\\"b', b"a\\/b", b"\\u00e9", b"\\n", b"\t"]), max_size=6
    )
)
def test_flagged_lines_are_the_ones_the_fast_expression_cannot_judge(lines):
    lines = [line.replace(b"\n", b"") for line in lines]
    data = b"".join(line + b"\n" for line in lines)
    flagged = flagged_lines(data)
    at = 0
    for line in lines:
        try:
            line.decode("utf-8")
            utf8 = True
        except UnicodeDecodeError:
            utf8 = False
        control = any(b < 32 for b in line)
        odd_escape = ODD.search(line) is not None  # \" and every escape json.dumps never writes
        if not utf8 or control or odd_escape:
            assert at in flagged, line
        elif b"\\" not in line:
            assert at not in flagged, line
        at += len(line) + 1


def test_raw_control_characters_in_a_canonical_looking_line_are_problems(project):
    line = b'{"id":1,"messages":[{"role":"user","content":"a\tb"}],"rating":null}'
    Path(project.examples_path).write_bytes(line + b"\n")
    with pytest.raises(DataError, match=r"examples.jsonl:1: invalid JSON"):
        read_index(project.store, verify=True)


def test_a_conversation_the_light_index_never_looks_at_is_checked(project):
    """The unverified index (ait rate) leaves conversations to load(); the verified one refuses at once."""
    line = b'{"id":1,"messages":[{"role":"robot","content":"x"}],"rating":9}'
    Path(project.examples_path).write_bytes(line + b"\n")
    assert len(read_index(project.store)) == 1
    with pytest.raises(DataError, match=r"examples.jsonl:1: message 1 has role 'robot'"):
        read_index(project.store, verify=True)


# -- Store.rewrite against the full read and rewrite it replaces ------------------------------------------------
@st.composite
def edits(draw: Any, n: int) -> dict[int, Any]:
    out: dict[int, Any] = {}
    for row in draw(st.lists(st.integers(0, max(n - 1, 0)), max_size=4, unique=True)) if n else []:
        out[row] = draw(st.sampled_from(["drop", "replace", "train", "val", "clear"]))
    return out


@settings(max_examples=70, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lines=file_lines(True),
    crlf=st.booleans(),
    final_newline=st.booleans(),
    journal=patches,
    data=st.data(),
)
def test_rewrite_writes_what_a_full_rewrite_writes(project, lines, crlf, final_newline, journal, data):
    _write(project, lines, crlf, final_newline, False)
    for ident, set_fields, unset in journal:
        project.store.patch(ident, set_fields, unset)
    store = project.store
    result = store.scan()
    if any(is_blocking(p) for p in result.problems):
        with pytest.raises(DataError):
            read_index(store, verify=True)
        return
    examples = result.examples
    plan = data.draw(edits(len(examples)))
    expected = []
    line_edits: dict[int, Any] = {}
    splits: dict[int, str | None] = {}
    index = read_index(store, verify=True)
    for row, ex in enumerate(examples):
        what = plan.get(row)
        if what == "drop":
            line_edits[row] = None
            continue
        if what == "replace":
            ex = ex.updated(rating=3, version=ex.version + 1)
            line_edits[row] = ex.to_line()
        elif what in ("train", "val", "clear"):
            split = None if what == "clear" else what
            ex = ex.updated(split=UNSET if split is None else split)
            if data.draw(st.booleans()):
                splits[row] = split
            else:
                line_edits[row] = index.split_edit(row, split)
        expected.append(ex.to_line())
    with store.locked():
        store.rewrite(index, line_edits, splits)
    assert Path(project.examples_path).read_bytes() == b"".join(line + b"\n" for line in expected)
    assert not Path(store.journal_path).exists()
    assert store.max_id() == max((json.loads(x)["id"] for x in expected), default=0)


def test_rewrite_needs_a_verified_index(project):
    with pytest.raises(ValueError), project.store.locked():
        project.store.rewrite(read_index(project.store), {})


def test_compact_refuses_a_malformed_conversation_and_leaves_the_file(project, canon):
    good = canon({"id": 1, "messages": [{"role": "user", "content": "q"}], "rating": None})
    bad = b'{"id":2,"messages":[{"role":"user","content":5}],"rating":null}'
    data = good + b"\n" + bad + b"\n"
    Path(project.examples_path).write_bytes(data)
    project.store.patch(1, {"rating": 7})
    with pytest.raises(DataError, match=r"examples.jsonl:2: message 1 has no string `content`"):
        project.store.compact()
    assert Path(project.examples_path).read_bytes() == data
    assert project.store.has_pending_journal()


def test_compact_copies_unchanged_lines_and_serialises_patched_ones(project, canon):
    lines = [
        b'{"id": 1, "messages": [{"role": "user", "content": "caf\\u00e9"}], "rating": null}',  # hand-written
        canon({"id": 2, "messages": [{"role": "user", "content": "q"}], "rating": None, "createdAt": "c"}),
        b'{"id": 3, "messages": [{"role": "user", "content": "x"}], "rating": 2}',
    ]
    Path(project.examples_path).write_bytes(b"\n".join(lines) + b"\n")
    project.store.patch(3, {"rating": 9})
    assert project.store.compact() == 1
    out = Path(project.examples_path).read_bytes().split(b"\n")
    assert out[:2] == lines[:2]
    assert out[2] == b'{"id":3,"messages":[{"role":"user","content":"x"}],"rating":9}'


def test_remove_and_replace_refuse_a_malformed_file(project, canon):
    good = canon({"id": 1, "messages": [{"role": "user", "content": "q"}], "rating": None})
    bad = b'{"id":2,"messages":[],"rating":null}'
    data = good + b"\n" + bad + b"\n"
    Path(project.examples_path).write_bytes(data)
    with pytest.raises(DataError, match=r"examples.jsonl:2: `messages` is empty"):
        project.store.remove(1)
    with pytest.raises(DataError, match=r"examples.jsonl:2"):
        project.store.replace(Example({"id": 1, "messages": [{"role": "user", "content": "z"}]}))
    assert Path(project.examples_path).read_bytes() == data


# -- exhaustive small cases ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("before", ["absent", None, "train", "val"])
@pytest.mark.parametrize("after", [None, "train", "val"])
@pytest.mark.parametrize("tail", [{}, {"ratedAt": "r", "source": "s\\n", "tags": ["a"]}])
@pytest.mark.parametrize("inline", [False, True])
def test_every_split_change_of_a_canonical_line(project, canon, before, after, tail, inline):
    """From no field, null, train or val to none, train or val, with fields after it or not; as an edit or
    as the split changes Store.rewrite makes itself."""
    rec: dict[str, Any] = {
        "id": 2,
        "messages": [{"role": "user", "content": 'q "x"'}, {"role": "assistant", "content": "a\nb"}],
        "rating": 9,
        "createdAt": "c",
        "version": 1,
        **tail,
    }
    if before != "absent":
        rec["split"] = before
    other = canon({"id": 1, "messages": [{"role": "user", "content": "o"}], "rating": None})
    line = canon(rec)
    Path(project.examples_path).write_bytes(
        other + b"\n" + line + b"\n" + other.replace(b":1,", b":3,") + b"\n"
    )
    index = read_index(project.store, verify=True)
    assert index.is_canonical(1) and index.tiled
    want = Example(rec).updated(split=UNSET if after is None else after).to_line()
    assert _edited(index.raw(1), index.split_edit(1, after)) == want
    with project.store.locked():
        project.store.rewrite(index, {}, {1: after}) if inline else project.store.rewrite(
            index, {1: index.split_edit(1, after)}
        )
    lines = Path(project.examples_path).read_bytes().split(b"\n")
    assert lines[1] == want and lines[0] == other and lines[2] == other.replace(b":1,", b":3,")


def test_a_duplicate_id_in_another_part_is_reported_as_a_full_read_does(project, three_workers, canon):
    lines = [
        canon({"id": i % 30 + 1, "messages": [{"role": "user", "content": f"q{i}"}], "rating": 8})
        for i in range(60)
    ]
    _write(project, lines, False, True, False)
    _compare(project)
    _, problems = scan_index(project.store, verify=True)
    assert len(problems) == 30 and "duplicate id 1 (first on line 1)" in str(problems[0])
