"""`ait validate FILE` checks a large file's lines in forked processes, a share each; what it reports must not
depend on that. ``PARALLEL_MIN_LINES`` is lowered so a small file is shared out too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aitelier.formats import files, validate_file


def _conversation(i: int) -> bytes:
    msgs = [{"role": "user", "content": f"question {i}"}, {"role": "assistant", "content": f"answer {i}"}]
    return json.dumps({"messages": msgs}).encode()


def _report(path: Path, val: Path, monkeypatch: pytest.MonkeyPatch, *, fork: bool) -> tuple[object, ...]:
    if fork:
        monkeypatch.delenv("AITELIER_NO_FORK", raising=False)
    else:
        monkeypatch.setenv("AITELIER_NO_FORK", "1")
    r = validate_file(path, "together", val_path=val, count=False)
    return r.counts, r.lines, [(p.rule, p.line, p.message) for p in r.problems]


def test_a_file_checked_in_pieces_reports_every_problem_in_line_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "PARALLEL_MIN_KB", 1)
    lines = [_conversation(i) for i in range(1, 301)]
    lines[9] = lines[9] + b"\r"  # line 10
    lines[99] = b""  # line 100
    lines[199] = b'{"messages": ['  # line 200
    lines[249] = json.dumps({"text": "a general line"}).encode()  # line 250, after conversation lines
    lines[289] = json.dumps({"messages": [{"role": "robot", "content": "x"}]}).encode()  # line 290
    path = tmp_path / "train.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    val = tmp_path / "val.jsonl"
    val.write_bytes(_conversation(5) + b"\n" + _conversation(1000) + b"\n")  # line 1 leaks from train
    pieces = _report(path, val, monkeypatch, fork=True)
    assert pieces == _report(path, val, monkeypatch, fork=False)
    counts, n_lines, problems = pieces
    assert counts == {"train": 298, "val": 2} and n_lines == {"train": 300, "val": 2}
    assert problems == [
        ("crlf", 10, "CRLF line ending"),
        ("blank-line", 100, "blank line"),
        ("json-line", 200, "invalid JSON: Expecting value (column 15)"),
        ("mixed-formats", 250, "general line in a file whose line 1 is conversation"),
        ("role", 290, "message 1 has role 'robot' (known: assistant, system, user)"),
        ("has-user", 290, "no user message"),
        ("has-assistant", 290, "no assistant message"),
        ("leakage", 1, "the same conversation is in train (line 5)"),
    ]
