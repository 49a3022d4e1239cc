"""What commands say in the situations a new user hits (issue 9, items 5, 16, 18, 19, 29)."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from aitelier import Project
from aitelier.curation import clean_text
from helpers import line, record, write_lines, write_records


def rated(project: Project, n: int, rating: int = 9) -> None:
    write_records(project.examples_path, [record(i, rating=rating) for i in range(1, n + 1)])


# -- format / validate before split (19) -------------------------------------------------------------------------
def test_format_before_split_says_run_split_first(ait, project: Project) -> None:
    rated(project, 6)
    r = ait("format", cwd=project.root)
    assert r.exit_code == 3
    assert r.stdout == ""
    assert r.stderr == (
        "ait: error: no example has a split yet (6 rated 8+ wait for one); nothing was written "
        "(run `ait split` first)\n"
    )
    assert not project.train_path.exists()
    r = ait("validate", cwd=project.root)
    assert r.exit_code == 3 and "run `ait split` first" in r.stderr and "0 training" not in r.output


def test_format_with_nothing_good_enough_says_to_rate(ait, project: Project) -> None:
    write_records(project.examples_path, [record(i, rating=3, split="train") for i in range(1, 4)])
    r = ait("format", cwd=project.root)
    assert r.exit_code == 3
    assert r.stderr.startswith(
        "ait: error: no example with a split is rated 8 or higher; nothing was written"
    )


# -- split (16, 29) ---------------------------------------------------------------------------------------------
def test_a_new_ratio_on_a_split_project_says_only_new_examples_use_it(ait, project: Project) -> None:
    rated(project, 10)
    assert ait("split", cwd=project.root).exit_code == 0
    r = ait("split", "--ratio", "0.5", cwd=project.root)
    assert r.exit_code == 0
    assert (
        "Note: the train ratio 0.5 (was 0.8) applies to examples assigned from now on; the 10 example(s) that "
        "already had a split keep it. `ait split --reshuffle --ratio 0.5` assigns them all again" in r.stdout
    )
    # the same ratio again: nothing to point out
    assert "Note:" not in ait("split", "--ratio", "0.5", cwd=project.root).stdout


def test_a_first_split_with_a_ratio_has_no_note(ait, project: Project) -> None:
    rated(project, 10)
    r = ait("split", "--ratio", "0.5", cwd=project.root)
    assert r.exit_code == 0 and "Note:" not in r.stdout


def test_reshuffle_with_nothing_split_asks_nothing_and_says_so(ait, project: Project) -> None:
    rated(project, 10)
    r = ait("split", "--reshuffle", cwd=project.root)  # no terminal and no --yes: it would have to ask
    assert r.exit_code == 0, r.output
    assert "Nothing to reshuffle: no example has a split yet, so this is a first split." in r.stderr
    assert "Reshuffled" not in r.stdout and "assigned 10 example(s): 8 to train, 2 to val." in r.stdout
    # with splits in place it still asks (and names the flag without a terminal)
    r = ait("split", "--reshuffle", cwd=project.root)
    assert r.exit_code == 2 and "--yes" in r.stderr


# -- list (29) ----------------------------------------------------------------------------------------------------
def test_list_prints_by_id_not_file_order(ait, project: Project) -> None:
    write_lines(project.examples_path, [line(3), line(1), line(12), line(2)])
    r = ait("list", cwd=project.root)
    assert r.exit_code == 0
    assert [row.split()[0] for row in r.stdout.splitlines()[1:]] == ["1", "2", "3", "12"]
    r = ait("list", "--limit", "2", cwd=project.root)
    assert [row.split()[0] for row in r.stdout.splitlines()[1:]] == ["1", "2"]
    r = ait("list", "--json", cwd=project.root)
    assert [ex["id"] for ex in json.loads(r.stdout)] == [1, 2, 3, 12]


def test_list_accepts_no_interactive_as_npm_scripts_pass_it(ait, project: Project) -> None:
    write_lines(project.examples_path, [line(1)])
    r = ait("list", "--no-interactive", cwd=project.root)
    assert r.exit_code == 0 and r.stdout.splitlines()[1].split()[0] == "1"


# -- validate FILE (18) -------------------------------------------------------------------------------------------
FOUR_LINES = (
    b'{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}]}\n'
    b"\n"
    b'{"prompt":"x","completion":"y"}\n'
    b'{"messages":[{"role":"user","content":"c"},{"role":"assistant","content":"d"}]}\n'
)


def test_validate_counts_every_line_of_the_file(ait, tmp_path: Path) -> None:
    f = tmp_path / "four.jsonl"
    f.write_bytes(FOUR_LINES)
    r = ait("validate", str(f), "--provider", "openai", cwd=tmp_path)
    assert r.stdout.startswith(f"{f}: 4 line(s), 2 example(s); checked for openai: ")
    r = ait("validate", str(f), "--provider", "together", cwd=tmp_path)
    assert r.stdout.startswith(f"{f}: 4 line(s), 3 example(s); checked for together: ")
    r = ait("validate", str(f), "--provider", "together", "--json", cwd=tmp_path)
    report = json.loads(r.stdout)
    assert (report["lines"], report["counts"]) == ({"train": 4}, {"train": 3})


def test_validate_counts_a_last_line_without_newline(ait, tmp_path: Path) -> None:
    f = tmp_path / "two.jsonl"
    f.write_bytes(FOUR_LINES.split(b"\n", 1)[0] + b"\n" + FOUR_LINES.rsplit(b"\n", 2)[1])
    r = ait("validate", str(f), "--provider", "together", cwd=tmp_path)
    assert r.stdout.startswith(f"{f}: 2 line(s), 2 example(s); ")


# -- text at the edges (29) ---------------------------------------------------------------------------------------
def test_whitespace_only_lines_at_the_edges_are_dropped() -> None:
    assert clean_text(" \t\n  \nhello\n  world  \n \t \n\n") == "hello\n  world"
    assert clean_text("\r\n   \r\n    indented code\r\n") == "    indented code"
    assert clean_text("  \n \t ") == ""
    assert clean_text("a\n\n  \nb") == "a\n\n  \nb"  # lines inside are kept as written


@given(st.text(alphabet=" \t\r\nab"))
def test_clean_text_keeps_the_content_and_trims_only_the_edges(text: str) -> None:
    out = clean_text(text)
    assert "\r" not in out
    assert out.strip() == text.replace("\r\n", "\n").replace("\r", "\n").strip()
    lines = out.split("\n")
    assert out == "" or (lines[0].strip() and not out[-1].isspace())
    assert clean_text(out) == out


def test_add_drops_whitespace_only_lines_around_pasted_text(ait, project: Project, tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("  \n\t\nWhere is my order?\n   \n")
    (tmp_path / "out.txt").write_text(" \nIt ships tomorrow.  \n\t\n")
    r = ait(
        "add", "--input", str(tmp_path / "in.txt"), "--output", str(tmp_path / "out.txt"), cwd=project.root
    )
    assert r.exit_code == 0, r.output
    [ex] = [json.loads(x) for x in project.examples_path.read_text().splitlines()]
    assert [m["content"] for m in ex["messages"]] == [
        "You are helpful.",
        "Where is my order?",
        "It ships tomorrow.",
    ]


# -- a key in the config (5) ----------------------------------------------------------------------------------
def test_reading_commands_warn_about_a_key_in_the_config(ait, project: Project) -> None:
    rated(project, 2)
    cfg = json.loads(project.config_path.read_text())
    cfg["apiKey"] = "sk-not-a-real-key"
    project.config_path.write_text(json.dumps(cfg, indent=2) + "\n")
    for args in (("stats", "--no-tokens"), ("list",), ("show", "1")):
        r = ait(*args, cwd=project.root)
        assert r.exit_code == 0, (args, r.output)
        assert (
            "warning: .aitelier.json holds `apiKey`, which looks like a credential, in a file git may track: "
            "move it to the environment or .env" in r.stderr
        )
        assert "sk-not-a-real-key" not in r.output
