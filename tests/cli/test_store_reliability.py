"""Issue 9's store findings, each as the user met it: kills, stale edits, a config that refuses writes, lone
surrogates, a journal folded under a reader, malformed lines."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from aitelier import Project
from helpers import conversation, line, record, write_lines, write_records


def _filled(project: Project, n: int = 5, **kw) -> bytes:
    return write_records(project.examples_path, [record(i, **kw) for i in range(1, n + 1)])


# -- 1: a killed import is all or nothing ---------------------------------------------------------------------------
IMPORTER = textwrap.dedent(
    """
    import sys
    from aitelier import Project
    from aitelier.importers import import_file
    print("ready", flush=True)
    import_file(Project.find(sys.argv[1]), sys.argv[2])
    print("done", flush=True)
    """
)


@pytest.mark.slow
def test_a_killed_import_leaves_all_or_nothing(project: Project, tmp_path: Path) -> None:
    _filled(project, 3)
    before = project.examples_path.read_bytes()
    big = tmp_path / "big.jsonl"
    n = 30_000
    write_records(
        big,
        [{"messages": conversation(f"import {i}", answer="x" * 600)[1:], "rating": 9} for i in range(n)],
    )
    script = tmp_path / "importer.py"
    script.write_text(IMPORTER)
    outcomes = set()
    for trial in range(8):
        child = subprocess.Popen(
            [sys.executable, str(script), str(project.root), str(big)], stdout=subprocess.PIPE, text=True
        )
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
        # kill it once examples.jsonl has started to grow (the big write is in flight), or a bit later
        deadline = time.monotonic() + 60
        while project.examples_path.stat().st_size <= len(before) and time.monotonic() < deadline:
            time.sleep(0.0005)
        time.sleep(0.002 * (trial % 3))
        child.send_signal(signal.SIGKILL)
        child.wait()
        snap = Project.find(project.root).store.read()  # every command repairs the torn tail it can prove
        assert snap.problems == []
        added = len(snap) - 3
        assert added in (0, n), added  # never a partial import
        outcomes.add(added)
        data = project.examples_path.read_bytes()
        assert data.endswith(b"\n") and data.startswith(before)
        assert not project.store.marker_path.exists()
        if added:
            project.examples_path.write_bytes(before)  # the next trial starts from the same file
    assert 0 in outcomes  # the kill did land while the import was being written


def test_add_refuses_to_append_after_a_torn_last_line(ait, project: Project) -> None:
    data = write_lines(project.examples_path, [line(1), line(2)[:40]], tail=b"")
    r = ait("add", "--messages", "-", input=json.dumps(conversation("new")), cwd=project.root)
    assert r.exit_code == 3 and "the last line is incomplete" in r.stderr
    assert project.examples_path.read_bytes() == data


def test_add_after_a_complete_last_line_without_newline_starts_a_new_line(ait, project: Project) -> None:
    write_lines(project.examples_path, [line(1)], tail=b"")
    r = ait("add", "--messages", "-", input=json.dumps(conversation("new")), cwd=project.root)
    assert r.exit_code == 0, r.output
    assert project.store.read().ids == [1, 2]


# -- 2: a stale `ait edit --from FILE` never undoes a later rating ---------------------------------------------------
def test_a_stale_edit_from_file_does_not_undo_a_later_rating(ait, project: Project, tmp_path: Path) -> None:
    _filled(project, 5, rating=4)
    export = tmp_path / "e.json"
    export.write_text(ait("show", "5", "--json", cwd=project.root).stdout)
    assert ait("rate", "--set", "5=2", cwd=project.root).exit_code == 0
    doc = json.loads(export.read_text())
    doc["messages"][-1]["content"] = "an edited answer"
    export.write_text(json.dumps(doc))
    r = ait("edit", "5", "--from", str(export), cwd=project.root)
    assert r.exit_code == 3
    assert (
        "after this text was taken" in r.stderr
        and "`rating`" in r.stderr
        and "nothing was written" in r.stderr
    )
    ex = project.store.read().get(5)
    assert ex.rating == 2 and ex.output == "answer 5.0"


def test_a_fresh_edit_changes_only_what_it_edits(ait, project: Project, tmp_path: Path) -> None:
    _filled(project, 3, rating=4)
    assert ait("rate", "--set", "2=9", cwd=project.root).exit_code == 0
    doc = json.loads(ait("show", "2", "--json", cwd=project.root).stdout)
    doc["tags"] = ["checked"]
    (tmp_path / "e.json").write_text(json.dumps(doc))
    assert ait("edit", "2", "--from", str(tmp_path / "e.json"), cwd=project.root).exit_code == 0
    journal = [json.loads(x) for x in project.store.journal_path.read_text().splitlines()]
    assert set(journal[-1]["set"]) == {"tags", "version", "updatedAt"}  # the edit's patch: nothing else
    ex = project.store.read().get(2)
    assert (ex.rating, ex.data["tags"], ex.version) == (9, ["checked"], 2)


# -- 4: a removed id is never reused, even after a kill right after the rename -----------------------------------------
KILL_AFTER_RENAME = textwrap.dedent(
    """
    import os, signal, sys
    from aitelier import Project, fsutil
    real_replace = fsutil.os.replace
    def replace_then_die(src, dst):
        real_replace(src, dst)
        if str(dst).endswith("examples.jsonl"):
            os.kill(os.getpid(), signal.SIGKILL)  # before anything else is written
    fsutil.os.replace = replace_then_die
    Project.find(sys.argv[1]).store.remove(int(sys.argv[2]))
    """
)


@pytest.mark.slow
def test_a_removed_id_is_never_reused_after_a_kill_between_rename_and_config(
    project: Project, tmp_path: Path
) -> None:
    _filled(project, 3)
    script = tmp_path / "rm.py"
    script.write_text(KILL_AFTER_RENAME)
    for trial in range(10):
        top = max(Project.find(project.root).store.read().ids)
        p = subprocess.run([sys.executable, str(script), str(project.root), str(top)], check=False)
        assert p.returncode == -signal.SIGKILL
        fresh = Project.find(project.root)
        assert top not in fresh.store.read().ids  # the removal happened
        new = fresh.store.append([{"messages": conversation(f"new {trial}")}]).ids
        assert new == [top + 1], (trial, top, new)


# -- 5: a config the command will refuse to write is checked before any data is written --------------------------------
def _with_key(project: Project) -> None:
    cfg = json.loads(project.config_path.read_text())
    cfg["apiKey"] = "sk-not-a-real-key"
    project.config_path.write_text(json.dumps(cfg, indent=2))


def test_split_with_a_key_in_the_config_writes_nothing(ait, project: Project) -> None:
    _filled(project, 10, rating=9)
    _with_key(project)
    data = project.examples_path.read_bytes()
    r = ait("split", cwd=project.root)
    assert r.exit_code == 3 and "apiKey" in r.stderr
    assert project.examples_path.read_bytes() == data


def test_rm_with_a_key_in_the_config_removes_nothing_and_the_id_stays(ait, project: Project) -> None:
    _filled(project, 3)
    _with_key(project)
    data = project.examples_path.read_bytes()
    r = ait("rm", "3", "--yes", cwd=project.root)
    assert r.exit_code == 3 and "apiKey" in r.stderr
    assert project.examples_path.read_bytes() == data


# -- 8: an escaped lone surrogate is invalid input everywhere ------------------------------------------------------------
SURROGATE = b'{"id":2,"messages":[{"role":"user","content":"q \\ud800"},{"role":"assistant","content":"a"}]}'


@pytest.mark.parametrize(
    "command",
    [
        ["doctor"],
        ["list"],
        ["show", "1"],
        ["split"],
        ["edit", "1", "--from", "-"],
        ["stats"],
        ["rate", "--set", "1=5"],
        ["rm", "1", "--yes"],
        ["format"],
    ],
)
def test_a_lone_surrogate_in_the_store_is_invalid_input(ait, project: Project, command: list[str]) -> None:
    data = write_lines(project.examples_path, [line(1, rating=9, split="train"), SURROGATE, line(3)])
    stdin = json.dumps(record(1, rating=9, split="train", tags=["x"])) if "edit" in command else None
    r = ait(*command, input=stdin, cwd=project.root)
    assert r.exit_code == 3, r.output
    assert f"{project.examples_path}:2: " in r.output and "surrogate" in r.output
    assert project.examples_path.read_bytes() == data
    assert not project.store.has_pending_journal()


@pytest.mark.parametrize("where", ["add", "import"])
def test_a_lone_surrogate_in_new_input_is_refused(ait, project: Project, tmp_path: Path, where: str) -> None:
    _filled(project, 1)
    data = project.examples_path.read_bytes()
    text = '[{"role": "user", "content": "q \\ud800"}, {"role": "assistant", "content": "a"}]'
    if where == "add":
        r = ait("add", "--messages", "-", input=text, cwd=project.root)
    else:
        (tmp_path / "in.jsonl").write_text('{"messages": ' + text + "}\n")
        r = ait("import", str(tmp_path / "in.jsonl"), cwd=project.root)
    assert r.exit_code == 3, r.output
    assert "surrogate" in r.output
    assert project.examples_path.read_bytes() == data


# -- 9: rate --set beside a fold that removes the journal ------------------------------------------------------------
FOLDER = textwrap.dedent(
    """
    import sys
    from aitelier import Project
    store = Project.find(sys.argv[1]).store
    print("ready", flush=True)
    n = 0
    while True:
        n += 1
        store.patch(1 + n % 5, {"rating": 1 + n % 10})
        store.compact()
    """
)


@pytest.mark.slow
def test_reading_never_trips_over_a_journal_folded_meanwhile(project: Project, tmp_path: Path) -> None:
    _filled(project, 5)
    script = tmp_path / "folder.py"
    script.write_text(FOLDER)
    child = subprocess.Popen(
        [sys.executable, str(script), str(project.root)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
        store = Project.find(project.root).store
        for i in range(400):  # what `ait rate --set` and every reader do, without the lock
            snap = store.read()
            assert snap.ids == [1, 2, 3, 4, 5]
            if i % 20 == 0:
                store.patch(1, {"rating": 5})
    finally:
        child.kill()
        child.wait()


# -- 14: silently accepted before -----------------------------------------------------------------------------------
def test_created_at_must_be_a_date(ait, project: Project) -> None:
    write_lines(project.examples_path, [line(1), line(2, createdAt="yesterday")])
    r = ait("stats", cwd=project.root)
    assert r.exit_code == 3 and f"{project.examples_path}:2: `createdAt`: expected an ISO 8601" in r.stderr


def test_add_warns_when_the_file_has_malformed_lines(ait, project: Project) -> None:
    write_lines(project.examples_path, [line(1), b"{not json", line(3)])
    r = ait("add", "--messages", "-", input=json.dumps(conversation("new")), cwd=project.root)
    assert r.exit_code == 0, r.output
    assert "Added example 4" in r.stdout
    assert "has lines that are not valid examples (line 2)" in r.stderr


def test_doctor_fix_reject_moves_malformed_lines_aside(ait, project: Project) -> None:
    write_lines(project.examples_path, [line(1), b"{not json", line(3), line(1)])
    assert ait("stats", cwd=project.root).exit_code == 3
    r = ait("doctor", "--fix", "--reject", cwd=project.root)
    assert r.exit_code == 0, r.output
    rejects = project.data_dir / "examples.rejects.jsonl"
    assert rejects.read_bytes() == b"{not json\n" + line(1) + b"\n"
    assert project.examples_path.read_bytes() == line(1) + b"\n" + line(3) + b"\n"
    assert [p.name for p in project.data_dir.glob("examples.jsonl.bak-*")]  # after a backup
    assert ait("stats", cwd=project.root).exit_code == 0
    assert ait("doctor", "--reject", cwd=project.root).exit_code == 2  # it moves lines: only with --fix


def test_a_journal_patch_for_a_missing_id_is_reported(ait, project: Project) -> None:
    _filled(project, 2)
    project.store.journal_path.write_text('{"id":9,"set":{"rating":3}}\n')
    r = ait("doctor", cwd=project.root)
    assert r.exit_code == 3 and "example 9 is not in examples.jsonl" in r.stdout


def test_runs_must_be_records(ait, project: Project) -> None:
    cfg = json.loads(project.config_path.read_text())
    cfg["runs"] = [1, "x", None]
    project.config_path.write_text(json.dumps(cfg))
    r = ait("stats", cwd=project.root)
    assert r.exit_code == 3 and "runs" in r.stderr
