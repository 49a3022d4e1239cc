"""`ait format`, `ait validate` and `validate_file` take canonical lines apart without parsing them; the results
must be exactly those of parsing every line (the slow path is what they do when the fast one is turned off)."""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aitelier import formats, tokens
from aitelier.formats.checks import check_conversation, check_plain
from aitelier.formats.rules import SPECS
from aitelier.store.canonical import (
    PROVIDER_LINE,
    PROVIDER_LINE_ESCAPED,
    careful_ok,
    flagged_lines,
    plain_messages,
)
from aitelier.store.records import canonical

build_module = importlib.import_module("aitelier.formats.build")
files_module = importlib.import_module("aitelier.formats.files")

TRICKY = [
    '"',
    "\\",
    "\n",
    "\t",
    "\x00",
    "\x1f",
    "é",
    "🎉",
    "\u2028",
    "/",
    " ",
    "",
    '"role":"assistant"',
    "\ud800",
]
content = st.one_of(
    st.text(max_size=8), st.sampled_from(TRICKY), st.lists(st.sampled_from(TRICKY), max_size=3).map("".join)
)
role = st.sampled_from(["system", "user", "assistant"])
SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@settings(max_examples=400, deadline=None)
@given(
    roles=st.lists(st.one_of(role, st.sampled_from(["function", "tool", "User"])), max_size=5),
    data=st.data(),
    provider=st.sampled_from(sorted(SPECS)),
)
def test_check_plain_is_check_conversation(roles, data, provider):
    contents = [data.draw(content) for _ in roles]
    spec = SPECS[provider]
    line = {"messages": [{"role": r, "content": c} for r, c in zip(roles, contents, strict=True)]}
    assert check_plain(roles, contents, spec) == check_conversation(line, spec)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.tuples(role, content), max_size=4), max_size=6))
def test_counting_plain_conversations_is_counting_objects(convs):
    counter = tokens.counter("cl100k_base")
    plain = [([r for r, _ in conv], [c for _, c in conv]) for conv in convs]
    objects = [[{"role": r, "content": c} for r, c in conv] for conv in convs]
    a = tokens.count_plain_conversations(plain, counter)
    b = tokens.count_conversations(objects, counter)
    assert (a.totals, a.trained) == (b.totals, b.trained)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(role, content), min_size=1, max_size=4))
def test_plain_messages_takes_a_canonical_line_apart_like_json(messages):
    line = json.dumps(
        {"messages": [{"role": r, "content": c} for r, c in messages]},
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode("utf-8", "surrogatepass")
    matched = (
        PROVIDER_LINE.fullmatch(line)
        if not flagged_lines(line + b"\n")
        else PROVIDER_LINE_ESCAPED.fullmatch(line)
        if careful_ok(line, 0, len(line))
        else None
    )
    if matched is None:  # a conservative miss (an escaped backslash, say): parsed the slow way, no claim
        plain_text = all(
            ch != "\\" and ch >= " " and not "\ud800" <= ch <= "\udfff" for _, c in messages for ch in c
        )
        assert not plain_text  # but plain text always takes the fast way
        return
    plain = plain_messages(line)
    if b'\\"' in line:
        assert plain is None
    else:
        assert plain == ([r for r, _ in messages], [c for _, c in messages])
        assert plain == plain_messages(line + b"\n")


# -- build and validate_file: the fast path against the slow one ---------------------------------------------------
@st.composite
def project_lines(draw: Any) -> list[bytes]:
    out = []
    for i in range(1, draw(st.integers(0, 9)) + 1):
        msgs: list[dict[str, Any]] = []
        for k in range(draw(st.integers(1, 4))):
            msgs.append(
                {
                    "role": draw(role) if k else draw(st.sampled_from(["system", "user"])),
                    "content": draw(content),
                }
            )
        if draw(st.integers(0, 6)) == 0:
            msgs[-1]["weight"] = draw(st.sampled_from([0, 1]))
        if draw(st.integers(0, 6)) == 0:
            msgs[0]["name"] = "n"
        rec = {
            "id": i,
            "messages": msgs,
            "rating": draw(st.sampled_from([None, 3, 8, 9, 10])),
            "createdAt": "2026-01-01T00:00:00.000Z",
            "version": 1,
        }
        split = draw(st.sampled_from(["absent", None, "train", "val", "train", "val"]))
        if split != "absent":
            rec["split"] = split
        try:
            line = json.dumps(
                canonical(rec), ensure_ascii=draw(st.integers(0, 5)) == 0, separators=(",", ":")
            )
            out.append(line.encode("utf-8"))
        except UnicodeEncodeError:  # a lone surrogate written raw: escape it (a valid, non-canonical line)
            out.append(json.dumps(canonical(rec), separators=(",", ":")).encode())
    return out


def _no_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build_module, "plain_messages", lambda line: None)
    monkeypatch.setattr(files_module, "plain_messages", lambda line: None)


def _summary(result: Any) -> Any:
    return (
        result.as_dict(),
        [(f.ids, f.encoded, f.token_totals, f.token_trained, f.lines) for f in (result.train, result.val)],
    )


@SETTINGS
@given(
    lines=project_lines(),
    weight=st.sampled_from(["all", "last"]),
    provider=st.sampled_from(["together", "openai"]),
)
def test_build_takes_canonical_examples_as_written_with_the_same_result(
    project, monkeypatch, lines, weight, provider
):
    Path(project.examples_path).write_bytes(b"".join(x + b"\n" for x in lines))
    fast = formats.build(project, provider, weight=weight)
    with monkeypatch.context() as m:
        _no_fast_path(m)
        slow = formats.build(project, provider, weight=weight)
    objects = formats.build(project, provider, weight=weight, examples=project.store.read())
    assert _summary(fast) == _summary(slow) == _summary(objects)


def test_build_shared_out_between_processes_is_the_same(project, monkeypatch, rec_lines):
    Path(project.examples_path).write_bytes(rec_lines)
    serial = formats.build(project)
    monkeypatch.setattr(build_module, "PARALLEL_MIN_EXAMPLES", 2)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    shared = formats.build(project)
    assert _summary(shared) == _summary(serial)
    assert shared.train.count > 10
    assert {p.example_id for p in shared.errors} == {i for i in range(1, 60) if i % 7 == 0}


@pytest.fixture
def rec_lines() -> bytes:
    out = []
    for i in range(1, 60):
        msgs = [
            {"role": "user", "content": f'q{i} "x"\n' if i % 3 else f"q{i}"},
            {"role": "assistant", "content": f"a{i}"},
        ]
        if i % 7 == 0:
            msgs.append({"role": "assistant", "content": "again"})  # consecutive roles: an error
        if i % 11 == 0:
            msgs[0]["name"] = "n"  # not plain: formatted as an object
        rec = {
            "id": i,
            "messages": msgs,
            "rating": 9,
            "createdAt": "c",
            "version": 1,
            "split": "val" if i % 4 else "train",
        }
        out.append(json.dumps(canonical(rec), ensure_ascii=False, separators=(",", ":")).encode())
    return b"".join(x + b"\n" for x in out)


@st.composite
def provider_file(draw: Any) -> bytes:
    out = []
    for _ in range(draw(st.integers(0, 8))):
        msgs = [{"role": draw(role), "content": draw(content)} for _ in range(draw(st.integers(0, 3)))]
        obj: dict[str, Any] = {"messages": msgs}
        style = draw(st.integers(0, 9))
        if style == 0:
            obj = {"prompt": draw(content), "completion": draw(content)}
        elif style == 1:
            obj["id"] = 3
        elif style == 2 and msgs:
            msgs[-1]["weight"] = 0
        text = json.dumps(obj, ensure_ascii=style == 3, separators=(", ", ": ") if style == 4 else (",", ":"))
        line = text.encode("utf-8", "surrogatepass")
        if style == 5:
            line += b"\r"
        elif style == 6:
            line = draw(st.sampled_from([b"", b"not json", b"[1]", b"\xff"]))
        out.append(line)
    data = b"\n".join(out) + (b"\n" if out and draw(st.booleans()) else b"")
    return (b"\xef\xbb\xbf" if draw(st.integers(0, 9)) == 0 else b"") + data


@SETTINGS
@given(train=provider_file(), val=st.none() | provider_file(), provider=st.sampled_from(sorted(SPECS)))
def test_validate_file_takes_canonical_lines_as_written_with_the_same_report(
    tmp_path, monkeypatch, train, val, provider
):
    (tmp_path / "t.jsonl").write_bytes(train)
    val_path = None
    if val is not None:
        val_path = tmp_path / "v.jsonl"
        val_path.write_bytes(val)
    fast = formats.validate_file(tmp_path / "t.jsonl", provider, val_path=val_path)
    with monkeypatch.context() as m:
        _no_fast_path(m)
        slow = formats.validate_file(tmp_path / "t.jsonl", provider, val_path=val_path)
    assert fast.as_dict() == slow.as_dict()


def test_build_lines_are_parsed_only_when_asked_for(project, rec_lines, monkeypatch):
    Path(project.examples_path).write_bytes(rec_lines)
    result = formats.build(project)
    assert result.train._lines is None  # the build itself never needed them
    assert result.train.lines == [json.loads(e) for e in result.train.encoded]


@pytest.mark.parametrize(
    "val_line",
    [
        b'{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"other"}]}',
        b'{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "other"}]}',
        b'{"messages":[{"content":"q","role":"user"},{"role":"assistant","content":"other"}]}',
        b'{"messages":[{"role":"user","content":"q","name":"x"},{"role":"assistant","content":"other"}]}',
    ],
)
def test_prompt_leakage_is_found_however_the_val_line_is_written(tmp_path, monkeypatch, val_line):
    (tmp_path / "t.jsonl").write_bytes(
        b'{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}]}\n'
    )
    (tmp_path / "v.jsonl").write_bytes(val_line + b"\n")
    fast = formats.validate_file(tmp_path / "t.jsonl", "openai", val_path=tmp_path / "v.jsonl", count=False)
    assert "prompt-leakage" in {p.rule for p in fast.problems}
    with monkeypatch.context() as m:
        _no_fast_path(m)
        slow = formats.validate_file(
            tmp_path / "t.jsonl", "openai", val_path=tmp_path / "v.jsonl", count=False
        )
    assert fast.as_dict() == slow.as_dict()
