"""`ait list` and `ait show`: filters, plain vs terminal output, NO_COLOR, JSON; the bad-input corpus (also rm/edit)."""

from __future__ import annotations

import json
import re

import pytest

ANSI = re.compile(r"\x1b\[")


def ids(stdout: str) -> list[int]:
    return [int(ln.split()[0]) for ln in stdout.splitlines()[1:]]


def test_list_plain_table_when_piped(ait, filled):
    r = ait("list", cwd=filled.root)
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["ID", "RATING", "SPLIT", "TURNS", "INPUT", "OUTPUT"]
    assert ids(r.stdout) == [1, 2, 3, 4, 5, 6]
    assert lines[1].split()[:4] == ["1", "9", "train", "1"]
    assert lines[2].split()[:4] == ["2", "-", "-", "1"]
    assert not ANSI.search(r.stdout)
    assert not any(ch in r.stdout for ch in "│┃━─╭")  # no boxes in a pipe


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--rated"], [1, 3, 4, 6]),
        (["--unrated"], [2, 5]),
        (["--min", "8"], [1, 4, 6]),
        (["--max", "8"], [3, 6]),
        (["--min", "5", "--max", "9"], [1, 6]),
        (["--split", "train"], [1, 3]),
        (["--split", "val"], [4]),
        (["--split", "none"], [2, 5, 6]),
        (["--split", "none", "--rated"], [6]),
        (["--limit", "2"], [1, 2]),
        (["--rated", "--limit", "1"], [1]),
    ],
)
def test_list_filters(ait, filled, args, expected):
    r = ait("list", *args, cwd=filled.root)
    assert r.exit_code == 0, r.output
    assert ids(r.stdout) == expected


def test_list_nothing_matches(ait, filled):
    r = ait("list", "--min", "10", "--split", "train", cwd=filled.root)
    assert r.exit_code == 0 and r.stdout == "" and "No examples match" in r.stderr


def test_list_empty_project_says_how_to_add(ait, project):
    r = ait("list", cwd=project.root)
    assert r.exit_code == 0 and "ait add" in r.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--rated", "--unrated"],
        ["--unrated", "--min", "3"],
        ["--min", "9", "--max", "2"],
        ["--min", "0"],
        ["--split", "test"],
        ["--limit", "0"],
    ],
)
def test_list_bad_flags_are_usage_errors(ait, filled, args):
    assert ait("list", *args, cwd=filled.root).exit_code == 2


def test_list_json_is_the_full_records(ait, filled):
    r = ait("list", "--json", "--unrated", cwd=filled.root)
    records = json.loads(r.stdout)
    assert [rec["id"] for rec in records] == [2, 5]
    assert records[0]["messages"][1]["content"] == "Your tracking link is in the confirmation email."
    assert (
        json.loads(
            ait("list", "--json", "--min", "10", "--max", "10", "--split", "none", cwd=filled.root).stdout
        )
        == []
    )


def test_list_truncates_long_text_to_one_line(ait, project):
    long = "word " * 100 + "\nsecond line"
    project.store.append(
        [{"messages": [{"role": "user", "content": long}, {"role": "assistant", "content": "x\ny"}]}]
    )
    r = ait("list", cwd=project.root)
    row = r.stdout.splitlines()[1]
    assert "…" in row and "second line" not in row and row.endswith("x y")


def test_list_applies_pending_journal_patches(ait, filled):
    filled.store.patch(2, {"rating": 7})
    assert ids(ait("list", "--rated", cwd=filled.root).stdout) == [1, 2, 3, 4, 6]


def test_show_readable(ait, filled):
    r = ait("show", "4", cwd=filled.root)
    assert r.exit_code == 0
    assert r.stdout.splitlines()[0] == "Example 4"
    assert "rating   10" in r.stdout and "split    val" in r.stdout
    assert "[user]\nDo you ship abroad?\n\n[assistant]\nWe ship to the US and Canada.\n" in r.stdout
    assert not ANSI.search(r.stdout)


def test_show_prints_content_verbatim_and_the_original_output(ait, project):
    text = "[bold]not markup[/bold] :smile: " + "long " * 60
    project.store.append(
        [
            {
                "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": text}],
                "originalOutput": "first draft",
            }
        ]
    )
    r = ait("show", "1", cwd=project.root)
    assert text in r.stdout.splitlines()
    assert "[original output, before the rewrite]\nfirst draft" in r.stdout


def test_show_json(ait, filled):
    r = ait("show", "3", "--json", cwd=filled.root)
    data = json.loads(r.stdout)
    assert data["id"] == 3 and data["rating"] == 4 and data["split"] == "train"


def test_show_missing_id(ait, filled):
    r = ait("show", "99", cwd=filled.root)
    assert r.exit_code == 1 and "no example with id 99" in r.stderr
    assert ait("show", "abc", cwd=filled.root).exit_code == 2


# -- bad input: every reading command names the line and leaves the file alone ----------------------------------
CORPUS = {
    "bad JSON": (b'{"id": 2, "messages": [', "invalid JSON"),
    "not an object": (b"[1, 2, 3]", "expected a JSON object, got array"),
    "missing messages": (b'{"id": 2, "rating": null}', "missing `messages`"),
    "missing id": (b'{"messages": [{"role": "user", "content": "q"}]}', "missing `id`"),
    "bad rating": (None, "`rating`: expected int <= 10"),
    "invalid UTF-8": (b'{"id": 2, "messages": [], "x": "\xff"}', "invalid UTF-8"),
    "CRLF": (None, "CRLF line ending"),
    "blank line": (b"", "blank line"),
    "duplicate id": (None, "duplicate id 1"),
}


def _corpus_file(kind: str, line) -> tuple[bytes, int]:
    first = line(1, "q1", "a1")
    third = line(3, "q3", "a3")
    bad, _ = CORPUS[kind]
    if kind == "bad rating":
        bad = line(2, "q", "a", rating=11)
    elif kind == "duplicate id":
        bad = line(1, "q", "a")
    elif kind == "CRLF":
        bad = line(2, "q", "a") + b"\r"
    return first + b"\n" + bad + b"\n" + third + b"\n", 2


@pytest.mark.parametrize(
    "command",
    [
        ["list"],
        ["list", "--json"],
        ["show", "3"],
        ["show", "3", "--json"],
        ["rm", "3", "--yes"],
        ["edit", "3", "--from", "-"],
    ],
)
@pytest.mark.parametrize("kind", list(CORPUS))
def test_bad_input_is_reported_with_its_line_and_nothing_changes(ait, project, line, kind, command):
    data, lineno = _corpus_file(kind, line)
    project.examples_path.write_bytes(data)
    config = project.config_path.read_bytes()
    r = ait(*command, cwd=project.root)
    assert r.exit_code == 3, (kind, r.output)
    assert f"{project.examples_path}:{lineno}: " in r.stderr
    if command[0] != "rm":  # rm first looks for the highest id, which words some problems its own way
        assert f"{project.examples_path}:{lineno}: {CORPUS[kind][1]}" in r.stderr
    assert "ait doctor" in r.stderr
    assert r.stdout == ""
    assert project.examples_path.read_bytes() == data
    assert project.config_path.read_bytes() == config


def test_bom_is_reported_on_line_1(ait, project, line):
    data = b"\xef\xbb\xbf" + line(1, "q", "a") + b"\n"
    project.examples_path.write_bytes(data)
    r = ait("list", cwd=project.root)
    assert (
        r.exit_code == 3
        and f"{project.examples_path}:1: file starts with a UTF-8 byte-order mark" in r.stderr
    )
    assert project.examples_path.read_bytes() == data


def test_every_problem_is_listed_not_only_the_first(ait, project, line):
    project.examples_path.write_bytes(b"{bad\n" + line(2, "q", "a") + b"\n[]\n")
    r = ait("list", cwd=project.root)
    assert r.exit_code == 3
    assert ":1: invalid JSON" in r.stderr and ":3: expected a JSON object" in r.stderr


def test_missing_final_newline_is_not_an_error_for_reading(ait, project, line):
    project.examples_path.write_bytes(line(1, "q", "a"))
    assert ids(ait("list", cwd=project.root).stdout) == [1]


# -- terminal output --------------------------------------------------------------------------------------------------
def test_list_on_a_terminal_draws_a_table_without_colour_under_no_color(spawn, filled):
    pexpect = pytest.importorskip("pexpect")
    child = spawn("list", cwd=filled.root)  # the test environment sets NO_COLOR=1
    child.expect(pexpect.EOF)
    child.close()
    out = child.before
    assert child.exitstatus == 0
    assert "How do I reset my password?" in out and "6 example(s)." in out
    assert not ANSI.search(out)


def test_list_on_a_terminal_uses_colour_when_allowed(spawn, spawn_env, filled):
    pexpect = pytest.importorskip("pexpect")
    env = spawn_env()
    env.pop("NO_COLOR", None)
    child = spawn("list", cwd=filled.root, env=env)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert ANSI.search(child.before)


def test_show_on_a_terminal_respects_no_color(spawn, spawn_env, filled):
    pexpect = pytest.importorskip("pexpect")
    child = spawn("show", "1", cwd=filled.root)
    child.expect(pexpect.EOF)
    child.close()
    assert "[assistant]" in child.before and not ANSI.search(child.before)
    env = spawn_env()
    env.pop("NO_COLOR", None)
    child = spawn("show", "1", cwd=filled.root, env=env)
    child.expect(pexpect.EOF)
    child.close()
    assert ANSI.search(child.before)


@pytest.mark.parametrize(
    "args, line",
    [
        ((), "6 example(s)."),
        (("--limit", "2"), "2 of 6 example(s) shown."),
        (("--rated",), "4 of 6 example(s) match."),
        (("--rated", "--limit", "2"), "2 shown of 4 matching (6 in total)."),
    ],
)
def test_terminal_count_line_wording(ait, filled, args, line):
    r = ait("list", *args, cwd=filled.root, tty=True)
    assert r.exit_code == 0 and r.stdout.rstrip().splitlines()[-1].strip() == line
