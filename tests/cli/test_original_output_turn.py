"""A rewrite of one turn of a multi-turn example records which turn `originalOutput` belongs to
(`originalOutputTurn`, 1 = the first assistant turn); a one-turn example stays exactly as the npm tool has it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aitelier import Project
from helpers import conversation, record, write_records


def two_turns(project: Project) -> None:
    write_records(project.examples_path, [record(1, messages=conversation(1, turns=2)), record(2)])


def stored(project: Project, ident: int) -> dict:
    """The example as every command sees it (an edit waits in the journal until the next rewrite folds it)."""
    return Project.find(project.root).store.read(full=True).get(ident).data


@pytest.mark.parametrize(("turn", "original"), [("1", "answer 1.0"), ("2", "answer 1.1")])
def test_rewriting_one_turn_records_which(
    ait, project: Project, tmp_path: Path, turn: str, original: str
) -> None:
    two_turns(project)
    (tmp_path / "new.txt").write_text("a better answer\n")
    r = ait("rate", "--rewrite", "1", "--turn", turn, "--output", str(tmp_path / "new.txt"), cwd=project.root)
    assert r.exit_code == 0, r.output
    rec = stored(project, 1)
    assert (rec["originalOutput"], rec["originalOutputTurn"]) == (original, int(turn))
    assert [m["content"] for m in rec["messages"] if m["role"] == "assistant"].count("a better answer") == 1


def test_the_default_turn_is_the_last_one(ait, project: Project, tmp_path: Path) -> None:
    two_turns(project)
    (tmp_path / "new.txt").write_text("better")
    assert (
        ait("rate", "--rewrite", "1", "--output", str(tmp_path / "new.txt"), cwd=project.root).exit_code == 0
    )
    rec = stored(project, 1)
    assert (rec["originalOutput"], rec["originalOutputTurn"]) == ("answer 1.1", 2)


def test_a_one_turn_example_gets_no_turn_field(ait, project: Project, tmp_path: Path) -> None:
    two_turns(project)
    (tmp_path / "new.txt").write_text("better")
    assert (
        ait("rate", "--rewrite", "2", "--output", str(tmp_path / "new.txt"), cwd=project.root).exit_code == 0
    )
    rec = stored(project, 2)
    assert rec["originalOutput"] == "answer 2.0" and "originalOutputTurn" not in rec


def test_a_later_rewrite_keeps_the_first_original_and_its_turn(ait, project: Project, tmp_path: Path) -> None:
    two_turns(project)
    (tmp_path / "new.txt").write_text("better")
    out = str(tmp_path / "new.txt")
    assert ait("rate", "--rewrite", "1", "--turn", "1", "--output", out, cwd=project.root).exit_code == 0
    (tmp_path / "new.txt").write_text("best")
    assert ait("rate", "--rewrite", "1", "--turn", "2", "--output", out, cwd=project.root).exit_code == 0
    rec = stored(project, 1)
    assert (rec["originalOutput"], rec["originalOutputTurn"]) == ("answer 1.0", 1)


def test_editing_a_middle_turn_records_it(ait, project: Project, tmp_path: Path) -> None:
    two_turns(project)
    doc = json.loads(ait("show", "1", "--json", cwd=project.root).stdout)
    doc["messages"][2]["content"] = "a corrected first answer"
    (tmp_path / "e.json").write_text(json.dumps(doc))
    r = ait("edit", "1", "--from", str(tmp_path / "e.json"), cwd=project.root)
    assert r.exit_code == 0, r.output
    rec = stored(project, 1)
    assert (rec["originalOutput"], rec["originalOutputTurn"]) == ("answer 1.0", 1)


def test_editing_the_last_reply_of_a_one_turn_example_is_npm_shaped(
    ait, project: Project, tmp_path: Path
) -> None:
    two_turns(project)
    doc = json.loads(ait("show", "2", "--json", cwd=project.root).stdout)
    doc["messages"][-1]["content"] = "better"
    (tmp_path / "e.json").write_text(json.dumps(doc))
    assert ait("edit", "2", "--from", str(tmp_path / "e.json"), cwd=project.root).exit_code == 0
    rec = stored(project, 2)
    assert rec["originalOutput"] == "answer 2.0" and "originalOutputTurn" not in rec


@pytest.mark.parametrize("bad", [0, -1, "2", 1.5, True])
def test_an_invalid_turn_field_is_reported(ait, project: Project, bad: object) -> None:
    write_records(project.examples_path, [record(1, originalOutput="x", originalOutputTurn=bad)])
    r = ait("doctor", cwd=project.root)
    assert r.exit_code == 3
    assert "`originalOutputTurn`: expected int" in r.stdout
