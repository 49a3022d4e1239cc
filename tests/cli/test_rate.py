"""`ait rate` without a terminal: --set, --rewrite, their errors, and the message naming them."""

from __future__ import annotations

import json
from pathlib import Path

from aitelier.errors import ExitStatus


def test_no_terminal_names_the_non_interactive_flags(ait, rate_project):
    project = rate_project(2)
    r = ait("rate", cwd=project.root)
    assert r.exit_code == ExitStatus.USAGE == 2
    assert "needs a terminal" in r.stderr
    assert "--set ID=SCORE" in r.stderr and "--rewrite ID --output FILE" in r.stderr
    assert not Path(project.store.journal_path).exists()


def test_no_terminal_from_a_real_process(ait_proc, rate_project):
    project = rate_project(1)
    r = ait_proc("rate", "--min", "8", cwd=project.root)
    assert r.exit_code == 2 and "--set ID=SCORE" in r.stderr


def test_set_rates_several_and_folds_the_journal(ait, rate_project, records):
    project = rate_project(3, ratings=[None, 5, None])
    r = ait("rate", "--set", "1=9", "--set", "2=10", "--set", "3 = 1", cwd=project.root)
    assert r.exit_code == 0, r.output
    assert "Example 1: rated 9 (was unrated)." in r.stdout
    assert "Example 2: rated 10 (was 5)." in r.stdout
    data = records(project)
    assert [data[i]["rating"] for i in (1, 2, 3)] == [9, 10, 1]
    assert all(data[i]["ratedAt"] for i in (1, 2, 3))
    assert not Path(project.store.journal_path).exists()


def test_set_json(ait, rate_project):
    project = rate_project(2)
    r = ait("rate", "--set", "2=7", "--json", cwd=project.root)
    assert r.exit_code == 0
    out = json.loads(r.stdout)
    assert out["changes"] == [{"id": 2, "rating": 7, "previous": None}]
    assert out["summary"]["rated"] == 1 and out["summary"]["average"] == 7


def test_bad_set_values_change_nothing(ait, rate_project, records):
    project = rate_project(2)
    before = Path(project.examples_path).read_bytes()
    for args, message in (
        (("--set", "1=11"), "a rating is an integer from 1 to 10"),
        (("--set", "1:8"), "expected ID=SCORE"),
        (("--set", "x=8"), "expected ID=SCORE"),
        (("--set", "1=8", "--set", "1=9"), "given more than once"),
        (("--set", "1=8", "--set", "0=9"), "ids are positive"),
    ):
        r = ait("rate", *args, cwd=project.root)
        assert r.exit_code == ExitStatus.USAGE, (args, r.output)
        assert message in r.stderr, (args, r.stderr)
    r = ait("rate", "--set", "1=8", "--set", "9=8", cwd=project.root)
    assert r.exit_code == ExitStatus.ERROR and "no example with id 9" in r.stderr
    assert Path(project.examples_path).read_bytes() == before  # all checked before anything is written
    assert not Path(project.store.journal_path).exists()


def test_rewrite_from_a_file_then_rate(ait, rate_project, records, tmp_path):
    project = rate_project(2)
    new = tmp_path / "better.txt"
    new.write_text("A much better answer.\r\n\r\n", encoding="utf-8")
    r = ait("rate", "--rewrite", "2", "--output", str(new), "--rating", "9", cwd=project.root)
    assert r.exit_code == 0, r.output
    assert "Example 2: assistant turn 1 rewritten (version 2)." in r.stdout
    assert "Example 2: rated 9 (was unrated)." in r.stdout
    data = records(project)[2]
    assert data["messages"][-1]["content"] == "A much better answer."  # cleaned like `ait add` does
    assert data["originalOutput"] == "answer 2.1"
    assert data["version"] == 2 and data["rating"] == 9 and data["updatedAt"]
    assert records(project)[1]["rating"] is None


def test_rewrite_from_stdin_a_chosen_turn_without_rating(ait, rate_project, records):
    project = rate_project(1, multi_turn=(1,))
    r = ait(
        "rate", "--rewrite", "1", "--output", "-", "--turn", "1", "--json", cwd=project.root, input="fixed\n"
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["changes"] == [{"id": 1, "rewritten": True, "turn": 1, "version": 2}]
    data = records(project)[1]
    assert [m["content"] for m in data["messages"] if m["role"] == "assistant"] == ["fixed", "answer 1.2"]
    assert data["rating"] is None


def test_rewrite_and_set_together(ait, rate_project, records, tmp_path):
    project = rate_project(3)
    new = tmp_path / "n.txt"
    new.write_text("new", encoding="utf-8")
    r = ait("rate", "--rewrite", "1", "--output", str(new), "--set", "3=4", cwd=project.root)
    assert r.exit_code == 0, r.output
    data = records(project)
    assert data[1]["messages"][-1]["content"] == "new" and data[1]["rating"] is None
    assert data[3]["rating"] == 4 and data[2]["rating"] is None


def test_rewrite_with_the_same_text_is_reported_not_written(ait, rate_project, tmp_path):
    project = rate_project(1)
    same = tmp_path / "same.txt"
    same.write_text("answer 1.1\n", encoding="utf-8")
    before = Path(project.examples_path).read_bytes()
    r = ait("rate", "--rewrite", "1", "--output", str(same), cwd=project.root)
    assert r.exit_code == 0 and "not rewritten" in r.stderr
    assert Path(project.examples_path).read_bytes() == before


def test_rewrite_errors(ait, rate_project, tmp_path):
    project = rate_project(1)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n", encoding="utf-8")
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"\xff\xfe")
    ok = tmp_path / "ok.txt"
    ok.write_text("x", encoding="utf-8")
    cases = [
        (("--rewrite", "1"), ExitStatus.USAGE, "needs --output FILE"),
        (("--output", str(ok)), ExitStatus.USAGE, "go with --rewrite"),
        (("--rating", "5"), ExitStatus.USAGE, "go with --rewrite"),
        (("--rewrite", "1", "--output", str(empty)), ExitStatus.USAGE, "holds no text"),
        (("--rewrite", "1", "--output", str(binary)), ExitStatus.VALIDATION, "not UTF-8"),
        (("--rewrite", "1", "--output", str(tmp_path / "nope")), ExitStatus.USAGE, "cannot read"),
        (("--rewrite", "1", "--output", str(ok), "--turn", "2"), ExitStatus.USAGE, "no turn 2"),
        (("--rewrite", "1", "--output", str(ok), "--set", "1=5"), ExitStatus.USAGE, "more than once"),
        (("--set", "1=5", "--min", "8"), ExitStatus.USAGE, "interactively"),
        (("--set", "1=5", "--order", "random"), ExitStatus.USAGE, "interactively"),
        (("--json",), ExitStatus.USAGE, "--json goes with"),
        (("--min", "11"), ExitStatus.USAGE, "11"),
        (("--order", "newest"), ExitStatus.USAGE, "newest"),
    ]
    for args, status, message in cases:
        r = ait("rate", *args, cwd=project.root)
        assert r.exit_code == status, (args, r.output)
        assert message in r.stderr, (args, r.stderr)
    assert project.store.read().get(1).output == "answer 1.1"


def test_outside_a_project(ait, tmp_path):
    r = ait("rate", "--set", "1=5", cwd=tmp_path)
    assert r.exit_code == 1 and "no aitelier project" in r.stderr


def test_a_malformed_file_is_refused_with_its_line(ait, rate_project):
    project = rate_project(2)
    with open(project.examples_path, "ab") as f:
        f.write(b"{not json\n")
    r = ait("rate", "--set", "1=5", cwd=project.root)
    assert r.exit_code == ExitStatus.VALIDATION
    assert "examples.jsonl:3: invalid JSON" in r.stderr


def test_help_lists_every_flag(ait):
    r = ait("rate", "--help")
    assert r.exit_code == 0
    for flag in (
        "--min",
        "--id",
        "--order",
        "--seed",
        "--set",
        "--rewrite",
        "--output",
        "--turn",
        "--rating",
        "--json",
    ):
        assert flag in r.stdout


def test_a_bad_conversation_elsewhere_keeps_the_rating_in_the_journal(ait, rate_project):
    """Opening does not parse every conversation; folding does, and says so when it cannot."""
    project = rate_project(2)
    path = Path(project.examples_path)
    path.write_bytes(
        path.read_bytes().replace(b'"role":"user","content":"question 2.1"', b'"role":"tool","content":"q"')
    )
    r = ait("rate", "--set", "1=5", cwd=project.root)
    assert r.exit_code == 0, r.output
    assert "Example 1: rated 5" in r.stdout
    assert (
        "could not fold this session's 1 change(s) into examples.jsonl" in r.stderr
        and "role 'tool' is not one of" in r.stderr
    )
    journal = Path(project.store.journal_path).read_text()
    assert json.loads(journal.splitlines()[-1])["set"]["rating"] == 5
    r = ait("rate", "--set", "2=5", cwd=project.root)  # the broken example itself is refused, with its line
    assert (
        r.exit_code == ExitStatus.VALIDATION
        and "examples.jsonl:2: `messages[1].role`: role 'tool' is not one of" in r.stderr
    )
