"""`ait import`: what it prints, exit statuses, all-or-nothing with files byte-identical, --skip-invalid, --json."""

from __future__ import annotations

import json


def _write(path, *lines: str | bytes) -> str:
    path.write_bytes(b"".join((ln.encode() if isinstance(ln, str) else ln) + b"\n" for ln in lines))
    return str(path)


GOOD = [
    '{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}],"rating":9}',
    '{"prompt":"c","completion":"d"}',
    '{"input":"e","output":"f","rating":3}',
]


def test_import_jsonl(ait, project, tmp_path):
    f = _write(tmp_path / "in.jsonl", *GOOD)
    r = ait("import", f, cwd=project.root)
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(f"Added 3 example(s) from {f} (ids 1-3).")
    examples = project.store.read()
    assert [ex.rating for ex in examples] == [9, None, 3]
    assert all(ex.messages[0] == {"role": "system", "content": "You are helpful."} for ex in examples)


def test_import_rejected_line_writes_nothing_and_exits_3(ait, filled, tmp_path):
    f = _write(tmp_path / "in.jsonl", GOOD[0], '{"prompt": "x"}', "{broken", GOOD[1])
    before = filled.examples_path.read_bytes()
    r = ait("import", f, cwd=filled.root)
    assert r.exit_code == 3
    assert f"{f}:2: `prompt` and `completion` must both be strings" in r.stderr
    assert f"{f}:3: invalid JSON" in r.stderr
    assert "nothing was added" in r.stderr and "--skip-invalid" in r.stderr
    assert filled.examples_path.read_bytes() == before


def test_import_skip_invalid(ait, project, tmp_path):
    f = _write(tmp_path / "in.jsonl", GOOD[0], "{broken", GOOD[1])
    r = ait("import", f, "--skip-invalid", cwd=project.root)
    assert r.exit_code == 0
    assert "Added 2 example(s)" in r.stdout
    assert "rejected 1 line(s)" in r.stderr and f"{f}:2: invalid JSON" in r.stderr
    assert len(project.store.read()) == 2


def test_import_counts_duplicates(ait, project, tmp_path):
    f = _write(tmp_path / "in.jsonl", *GOOD)
    ait("import", f, cwd=project.root)
    f2 = _write(tmp_path / "more.jsonl", GOOD[1], '{"prompt":"new","completion":"one"}', GOOD[1])
    r = ait("import", f2, cwd=project.root)
    assert r.exit_code == 0
    assert "Added 1 example(s)" in r.stdout and "(id 4)" in r.stdout
    assert "Skipped 2 exact duplicate(s)" in r.stdout
    assert f"{f2}:1: same conversation as example 2" in r.stdout
    assert f"{f2}:3: same conversation as example 2" in r.stdout
    r = ait("import", f2, cwd=project.root)
    assert r.exit_code == 0 and "Nothing new to add" in r.stdout


def test_import_json_summary(ait, project, tmp_path):
    f = _write(tmp_path / "in.jsonl", GOOD[0], GOOD[0], "nope")
    r = ait("import", f, "--json", cwd=project.root)
    assert r.exit_code == 3
    out = json.loads(r.stdout)
    assert out["written"] is False and out["added"] == 0 and out["would_add"] == 1
    assert out["rejected"] == [{"line": 3, "reason": "invalid JSON: Expecting value (column 1)"}]
    assert out["duplicates"] == [{"line": 2, "duplicate_of_id": None, "duplicate_of_line": 1}]
    r = ait("import", f, "--json", "--skip-invalid", cwd=project.root)
    out = json.loads(r.stdout)
    assert r.exit_code == 0 and out["written"] is True and out["ids"] == [1]


def test_import_dry_run(ait, project, tmp_path):
    f = _write(tmp_path / "in.jsonl", *GOOD)
    r = ait("import", f, "--dry-run", cwd=project.root)
    assert r.exit_code == 0 and "3 example(s)" in r.stdout and "nothing was written" in r.stdout
    assert project.examples_path.read_bytes() == b""


def test_import_csv(ait, project, tmp_path):
    (tmp_path / "in.csv").write_text(
        'input,output,rating\n"Line one\nline two","Answer, with comma",8\nq2,a2,\n'
    )
    r = ait("import", str(tmp_path / "in.csv"), cwd=project.root)
    assert r.exit_code == 0, r.output
    a, b = project.store.read()
    assert a.last_user == "Line one\nline two" and a.output == "Answer, with comma" and a.rating == 8
    assert b.rating is None


def test_import_csv_missing_column_exits_3(ait, project, tmp_path):
    (tmp_path / "in.csv").write_text("question,answer\nq,a\n")
    r = ait("import", str(tmp_path / "in.csv"), cwd=project.root)
    assert r.exit_code == 3 and "in.csv:1: the header has no `input` or `output` column" in r.stderr


def test_import_from_stdin_needs_a_format(ait, project):
    r = ait("import", "-", input=GOOD[1] + "\n", cwd=project.root)
    assert r.exit_code == 2 and "--format" in r.stderr
    r = ait("import", "-", "--format", "jsonl", input=GOOD[1] + "\n", cwd=project.root)
    assert r.exit_code == 0 and "from <stdin>" in r.stdout


def test_import_unknown_extension_and_missing_file(ait, project, tmp_path):
    (tmp_path / "data.txt").write_text(GOOD[1])
    r = ait("import", str(tmp_path / "data.txt"), cwd=project.root)
    assert r.exit_code == 2 and "--format jsonl" in r.stderr
    r = ait("import", str(tmp_path / "data.txt"), "--format", "jsonl", cwd=project.root)
    assert r.exit_code == 0
    r = ait("import", str(tmp_path / "missing.jsonl"), cwd=project.root)
    assert r.exit_code == 2 and "cannot read" in r.stderr


def test_import_npm_project_export_keeps_ratings_and_gets_new_ids(ait, filled, tmp_path, line):
    f = _write(tmp_path / "old.jsonl", line(1, "Old question", "Old answer", rating=7, split="val").decode())
    r = ait("import", f, cwd=filled.root)
    assert r.exit_code == 0, r.output
    assert "had a `split`" in r.stdout
    ex = filled.store.read().get(7)
    assert ex.rating == 7 and ex.split is None and ex.data["createdAt"] == "2026-01-01T00:00:00.000Z"


def test_import_into_a_project_with_a_malformed_line_fails_cleanly(ait, filled, tmp_path):
    """Big imports read the store to find duplicates; a bad line stops them with its line number."""
    data = filled.examples_path.read_bytes() + b"{oops\n"
    filled.examples_path.write_bytes(data)
    f = _write(tmp_path / "in.jsonl", *(f'{{"prompt":"q{i}","completion":"a"}}' for i in range(40)))
    r = ait("import", f, cwd=filled.root)
    assert r.exit_code == 3 and "examples.jsonl:7: invalid JSON" in r.stderr
    assert filled.examples_path.read_bytes() == data
