"""`ait edit` (in $EDITOR or --from FILE) and `ait rm`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest


def _export(ait, project, ident: int, tmp_path: Path, **changes) -> Path:
    data = json.loads(ait("show", str(ident), "--json", cwd=project.root).stdout)
    data.update(changes)
    f = tmp_path / f"ex{ident}.json"
    f.write_text(json.dumps(data, indent=2))
    return f


def test_edit_from_file(ait, filled, tmp_path):
    before = filled.examples_path.read_bytes().splitlines()
    f = _export(
        ait,
        filled,
        3,
        tmp_path,
        messages=[
            {"role": "user", "content": "Can I return shoes?"},
            {"role": "assistant", "content": "Yes, within 30 days."},
        ],
    )
    r = ait("edit", "3", "--from", str(f), cwd=filled.root)
    assert r.exit_code == 0, r.output
    assert r.stdout == "Saved example 3 (version 2).\n"
    ex = filled.store.read().get(3)
    assert ex.output == "Yes, within 30 days." and ex.original_output == "no" and ex.version == 2
    assert ex.data["updatedAt"]
    assert filled.examples_path.read_bytes().splitlines() == before  # the edit is a journal patch
    filled.store.compact()
    after = filled.examples_path.read_bytes().splitlines()
    assert [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b] == [2]


def test_edit_from_a_stale_export_is_refused(ait, filled, tmp_path):
    f = _export(ait, filled, 2, tmp_path, rating=6)
    assert ait("edit", "2", "--from", str(f), cwd=filled.root).exit_code == 0
    data = filled.examples_path.read_bytes()
    r = ait("edit", "2", "--from", str(f), cwd=filled.root)  # same file again: it says version 1
    assert r.exit_code == 3 and "is at version 2" in r.stderr
    assert filled.examples_path.read_bytes() == data


def test_edit_unchanged_says_so(ait, filled, tmp_path):
    f = _export(ait, filled, 1, tmp_path)
    data = filled.examples_path.read_bytes()
    r = ait("edit", "1", "--from", str(f), cwd=filled.root)
    assert r.exit_code == 0 and "No changes" in r.stdout
    assert filled.examples_path.read_bytes() == data


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"id": 9}, "id cannot be changed"),
        ({"rating": 0}, "`rating`: expected int >= 1, got 0"),
        ({"split": None}, "split cannot"),
    ],
)
def test_edit_invalid_leaves_the_file_untouched(ait, filled, tmp_path, changes, needle):
    f = _export(ait, filled, 1, tmp_path, **changes)
    data = filled.examples_path.read_bytes()
    r = ait("edit", "1", "--from", str(f), cwd=filled.root)
    assert r.exit_code == 3 and needle in r.stderr
    assert filled.examples_path.read_bytes() == data


def test_edit_from_stdin_and_bad_json(ait, filled):
    r = ait("edit", "1", "--from", "-", input="{not json", cwd=filled.root)
    assert r.exit_code == 3 and "not valid JSON" in r.stderr


def test_edit_without_terminal_names_the_flag(ait, filled):
    r = ait("edit", "1", cwd=filled.root)
    assert r.exit_code == 2 and "--from FILE" in r.stderr


def test_edit_missing_example(ait, filled, tmp_path):
    r = ait("edit", "42", "--from", str(tmp_path / "x.json"), cwd=filled.root)
    assert r.exit_code == 1 and "no example with id 42" in r.stderr


def test_edit_in_the_editor(spawn, spawn_env, editor_script, filled):
    pexpect = pytest.importorskip("pexpect")
    editor = editor_script(
        """
        data = json.loads(text)
        assert data["id"] == 3 and path.endswith(".json")
        data["messages"][-1]["content"] = "Yes: unworn shoes within 30 days."
        data["rating"] = 9
        text = json.dumps(data, indent=2)
        """
    )
    child = spawn("edit", "3", cwd=filled.root, env=spawn_env(EDITOR=editor))
    child.expect_exact("Saved example 3 (version 2).")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    ex = filled.store.read().get(3)
    assert ex.output == "Yes: unworn shoes within 30 days." and ex.rating == 9 and ex.original_output == "no"


def test_edit_in_the_editor_invalid_then_fixed(spawn, spawn_env, editor_script, filled, tmp_path):
    """The first save breaks the JSON; the editor is reopened on the broken text, which the second run fixes."""
    pexpect = pytest.importorskip("pexpect")
    editor = editor_script(
        """
        if text.startswith("BROKEN"):
            text = text[len("BROKEN"):].replace('"rating": 4', '"rating": 5')
        else:
            text = "BROKEN" + text
        """
    )
    child = spawn("edit", "3", cwd=filled.root, env=spawn_env(EDITOR=editor))
    child.expect_exact("not valid JSON")
    child.expect_exact("Open the editor again?")
    child.sendline("y")
    child.expect_exact("Saved example 3 (version 2).")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert filled.store.read().get(3).rating == 5


def test_edit_in_the_editor_giving_up_keeps_the_text(spawn, spawn_env, editor_script, filled):
    pexpect = pytest.importorskip("pexpect")
    data = filled.examples_path.read_bytes()
    editor = editor_script("text = text.replace('\"id\": 3', '\"id\": 30')")
    child = spawn("edit", "3", cwd=filled.root, env=spawn_env(EDITOR=editor))
    child.expect_exact("Open the editor again?")
    child.sendline("n")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 3
    out = child.before.replace("\r\n", " ")
    kept = re.search(r"kept in (\S+\.json)", out)
    assert kept, out
    assert '"id": 30' in Path(kept.group(1)).read_text()
    Path(kept.group(1)).unlink()
    assert filled.examples_path.read_bytes() == data


def test_edit_conflict_keeps_the_edit_and_writes_nothing(spawn, spawn_env, editor_script, filled):
    """Someone rates the example while it is open in the editor: the edit is not applied, nor lost."""
    pexpect = pytest.importorskip("pexpect")
    editor = editor_script(
        f"""
        from aitelier import Project
        Project.find({str(filled.root)!r}).store.patch(3, {{"rating": 2}})
        text = text.replace('"no"', '"changed in the editor"')
        """
    )
    child = spawn("edit", "3", cwd=filled.root, env=spawn_env(EDITOR=editor))
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 3
    out = child.before.replace("\r\n", " ")
    assert "changed by another command" in out
    kept = re.search(r"kept in (\S+\.json)", out)
    assert kept and "changed in the editor" in Path(kept.group(1)).read_text()
    Path(kept.group(1)).unlink()
    ex = filled.store.read().get(3)
    assert ex.rating == 2 and ex.output == "no"


def test_edit_with_no_editor_set(spawn, filled):
    pexpect = pytest.importorskip("pexpect")
    child = spawn("edit", "1", cwd=filled.root)
    child.expect_exact("no editor is set")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 2


# -- rm ---------------------------------------------------------------------------------------------------------------
def test_rm_yes(ait, filled):
    before = filled.examples_path.read_bytes().splitlines()
    r = ait("rm", "2", "--yes", cwd=filled.root)
    assert r.exit_code == 0 and r.stdout == "Removed example 2.\n"
    after = filled.examples_path.read_bytes().splitlines()
    assert after == before[:1] + before[2:]  # the other lines are byte-identical


def test_rm_without_terminal_needs_yes(ait, filled):
    data = filled.examples_path.read_bytes()
    r = ait("rm", "2", cwd=filled.root)
    assert r.exit_code == 2 and "--yes" in r.stderr
    assert filled.examples_path.read_bytes() == data


def test_rm_missing_id(ait, filled):
    r = ait("rm", "77", "--yes", cwd=filled.root)
    assert r.exit_code == 1 and "no example with id 77" in r.stderr


def test_rm_ids_are_never_reused(ait, filled, tmp_path):
    assert ait("rm", "6", "-y", cwd=filled.root).exit_code == 0
    assert ait("rm", "5", "-y", cwd=filled.root).exit_code == 0
    r = ait(
        "add",
        "--messages",
        "-",
        input='[{"role":"user","content":"n"},{"role":"assistant","content":"m"}]',
        cwd=filled.root,
    )
    assert r.stdout == "Added example 7\n"


def test_rm_asks_on_a_terminal(spawn, filled):
    pexpect = pytest.importorskip("pexpect")
    child = spawn("rm", "3", cwd=filled.root)
    child.expect_exact("Remove example 3 (rated 4: 'Can I return shoes?')? [y/N]")
    child.sendline("n")
    child.expect_exact("Nothing removed.")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1  # a "no" to a question
    assert filled.store.read().get(3)
    child = spawn("rm", "3", cwd=filled.root)
    child.expect_exact("[y/N]")
    child.sendline("y")
    child.expect_exact("Removed example 3.")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert [ex.id for ex in filled.store.read()] == [1, 2, 4, 5, 6]
