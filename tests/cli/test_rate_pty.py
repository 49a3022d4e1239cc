"""`ait rate` in a real pseudo-terminal: keys pressed one by one, then the files checked.

Each key that changes an example is saved before the screen is drawn again, so once a test sees the message
for a key, that change is on disk: no sleeps, no timing.
"""

from __future__ import annotations

import os
import signal
import sys
import textwrap
from pathlib import Path

import pexpect
import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")


def press(child, key: str, expect: str) -> None:
    child.send(key)
    child.expect_exact(expect)


def finish(child) -> int:
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus if child.exitstatus is not None else 128 + child.signalstatus


@pytest.fixture
def scripted_editor(tmp_path: Path) -> tuple[str, Path]:
    """An $EDITOR that records what it was given and saves a fixed rewrite (with the newline editors add)."""
    seen = tmp_path / "editor-saw.txt"
    script = tmp_path / "editor.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            path = sys.argv[1]
            with open(path, encoding="utf-8") as f:
                text = f.read()
            with open({str(seen)!r}, "w", encoding="utf-8") as f:
                f.write(text)
            with open(path, "w", encoding="utf-8") as f:
                f.write("Rewritten by the editor.\\n")
            """
        ),
        encoding="utf-8",
    )
    return f"{sys.executable} {script}", seen


def test_rate_rewrite_in_editor_undo_and_quit(rate_spawn, rate_project, records, scripted_editor):
    editor, seen = scripted_editor
    project = rate_project(4)
    child = rate_spawn("rate", cwd=project.root, env={"EDITOR": editor})
    child.expect_exact("1/4")
    child.expect_exact("answer 1.1")
    child.expect_exact("q quit")
    press(child, "8", "2/4")  # the next example is drawn, then the message about the key
    child.expect_exact("Saved: example 1 rated 8.")
    press(child, "r", "Rewritten: rate the new text")
    child.expect_exact("Saved the rewrite (version 2).")
    press(child, "9", "Saved: example 2 rated 9.")
    press(child, "?", "Every key is saved the moment you press it.")
    press(child, " ", "3/4")
    press(child, "x", "does nothing here")
    press(child, "7", "Saved: example 3 rated 7.")
    press(child, "u", "3/4")
    child.expect_exact("Undone: the rating 7 of example 3.")
    child.send("q")
    child.expect_exact(
        "Shown 4, rated 2, rewritten 1, skipped 0; average 8.5."
    )  # 4 was drawn before the undo
    assert finish(child) == 0

    assert seen.read_text(encoding="utf-8") == "answer 2.1"  # the editor was pre-filled with the output
    data = records(project)
    assert data[1]["rating"] == 8
    assert data[2]["rating"] == 9
    assert data[2]["messages"][-1]["content"] == "Rewritten by the editor."
    assert data[2]["originalOutput"] == "answer 2.1" and data[2]["version"] == 2
    assert data[3]["rating"] is None and "ratedAt" not in data[3]  # the undo took it back entirely
    assert data[4]["rating"] is None
    assert not Path(project.store.journal_path).exists()  # folded into examples.jsonl at the end


def test_inline_rewrite_of_a_chosen_turn_undo_across_examples_and_ctrl_c(rate_spawn, rate_project, records):
    project = rate_project(3, multi_turn=(2,))
    before = records(project)
    child = rate_spawn("rate", cwd=project.root)  # no $EDITOR: the inline editor
    child.expect_exact("q quit")
    press(child, "s", "assistant 2/2")
    child.expect_exact("Skipped example 1.")
    press(child, "r", "Rewrite which assistant turn? 1-2")
    press(child, "1", "end with a line holding only '.'")
    child.sendline("The first answer, fixed.")
    child.sendline(".")
    child.expect_exact("assistant 1/2 (rewritten)")
    child.expect_exact("Saved the rewrite (version 2).")
    press(child, "0", "3/3")
    child.expect_exact("Saved: example 2 rated 10.")
    press(child, "u", "Rewritten: rate the new text")
    child.expect_exact("Undone: the rating 10 of example 2.")
    press(child, "u", "Undone: the rewrite of example 2.")
    press(child, "5", "3/3")
    child.expect_exact("Saved: example 2 rated 5.")
    child.sendintr()
    child.expect_exact("Shown 3, rated 1, rewritten 0, skipped 1; average 5.0.")
    assert finish(child) == 130

    data = records(project)
    assert data[2]["rating"] == 5
    assert {k: v for k, v in data[2].items() if k not in ("rating", "ratedAt")} == {
        k: v for k, v in before[2].items() if k != "rating"
    }
    assert data[1] == before[1] and data[3] == before[3]
    assert not Path(project.store.journal_path).exists()


def test_sigkill_mid_session_loses_no_rating(rate_spawn, rate_project, current, records, ait):
    project = rate_project(8)
    original = Path(project.examples_path).read_bytes()
    child = rate_spawn("rate", cwd=project.root)
    child.expect_exact("q quit")
    given = {1: 8, 2: 3, 3: 10, 4: 6, 5: 9}
    for ident, score in given.items():
        press(child, "0" if score == 10 else str(score), f"Saved: example {ident} rated {score}.")
    os.kill(child.pid, signal.SIGKILL)
    child.expect(pexpect.EOF)
    child.close()
    assert child.signalstatus == signal.SIGKILL

    assert Path(project.examples_path).read_bytes() == original  # no compaction ran
    seen = current(project)  # every reader applies the journal
    assert {i: seen[i]["rating"] for i in range(1, 9)} == {**{i: None for i in range(1, 9)}, **given}
    r = ait("rate", "--set", "8=2", cwd=project.root)  # the next session folds everything in
    assert r.exit_code == 0, r.output
    assert {i: d["rating"] for i, d in records(project).items()} == {6: None, 7: None, 8: 2, **given}


def test_an_add_from_another_process_during_a_session_is_kept(
    rate_spawn, rate_project, records, ait_proc, tmp_path
):
    project = rate_project(2)
    child = rate_spawn("rate", cwd=project.root)
    child.expect_exact("q quit")
    press(child, "7", "Saved: example 1 rated 7.")
    (tmp_path / "q.txt").write_text("a new question", encoding="utf-8")
    (tmp_path / "a.txt").write_text("a new answer", encoding="utf-8")
    added = ait_proc(
        "add", "--input", str(tmp_path / "q.txt"), "--output", str(tmp_path / "a.txt"), cwd=project.root
    )
    assert added.exit_code == 0, added.output
    press(child, "4", "Saved: example 2 rated 4.")
    child.expect_exact("That was the last of the 2 example(s)")
    child.send("q")
    assert finish(child) == 0
    data = records(project)
    assert sorted(data) == [1, 2, 3]
    assert (data[1]["rating"], data[2]["rating"], data[3]["rating"]) == (7, 4, None)
    assert data[3]["messages"][-1]["content"] == "a new answer"


def test_hangup_folds_the_journal_and_exits(rate_spawn, rate_project, records):
    project = rate_project(3)
    child = rate_spawn("rate", cwd=project.root)
    child.expect_exact("q quit")
    press(child, "6", "Saved: example 1 rated 6.")
    child.kill(signal.SIGHUP)
    assert finish(child) == 129  # ExitStatus.HANGUP
    assert records(project)[1]["rating"] == 6
    assert not Path(project.store.journal_path).exists()


def test_sigterm_folds_the_journal_says_so_and_exits_143(rate_spawn, rate_project, records):
    project = rate_project(3)
    child = rate_spawn("rate", cwd=project.root)
    child.expect_exact("q quit")
    press(child, "7", "Saved: example 1 rated 7.")
    child.kill(signal.SIGTERM)
    child.expect_exact("Shown 2, rated 1, rewritten 0, skipped 0; average 7.0.")
    child.expect_exact("ait: interrupted (SIGTERM)")
    assert finish(child) == 143  # ExitStatus.TERMINATED
    assert records(project)[1]["rating"] == 7
    assert not Path(project.store.journal_path).exists()


def test_end_of_queue_offers_undo(rate_spawn, rate_project, records):
    project = rate_project(1, ratings=[4])
    child = rate_spawn("rate", "--id", "1", cwd=project.root)
    child.expect_exact("rated 4")
    press(child, "9", "That was the last of the 1 example(s)")
    press(child, "u", "1/1")
    child.expect_exact("Undone: the rating 9 of example 1.")
    press(child, "2", "Press u to undo the last action")
    child.send("\r")
    child.expect_exact("Shown 1, rated 1, rewritten 0, skipped 0; average 2.0.")
    assert finish(child) == 0
    assert records(project)[1]["rating"] == 2


def test_nothing_to_rate(rate_spawn, rate_project):
    project = rate_project(2, ratings=[9, 3])
    child = rate_spawn("rate", cwd=project.root)
    child.expect_exact("Nothing to rate: no example is unrated.")
    assert finish(child) == 0
    child = rate_spawn("rate", "--min", "8", cwd=project.root)
    child.expect_exact("1/1")
    child.expect_exact("rated 3")
    child.send("q")
    assert finish(child) == 0


def test_a_failed_editor_saves_nothing(rate_spawn, rate_project, records):
    project = rate_project(2)
    before = records(project)
    failing = f"{sys.executable} -c 'import sys; sys.exit(1)'"
    child = rate_spawn("rate", cwd=project.root, env={"VISUAL": failing})
    child.expect_exact("q quit")
    press(child, "r", "1/2")  # drawn again, still on the same example
    child.expect_exact("Rewrite not saved: the editor exited with status 1")
    child.send("q")
    child.expect_exact("Shown 1, rated 0, rewritten 0, skipped 0; no ratings.")
    assert finish(child) == 0
    assert records(project) == before
    assert not Path(project.store.journal_path).exists()


def test_closing_the_terminal_keeps_every_rating_and_folds_them(rate_spawn, rate_project, records):
    project = rate_project(3)
    child = rate_spawn("rate", cwd=project.root)
    child.expect_exact("q quit")
    press(child, "6", "Saved: example 1 rated 6.")
    press(child, "s", "Skipped example 2.")
    child.ptyproc.fileobj.close()  # the terminal window goes away: the kernel hangs up on the session
    assert child.wait() == 129
    assert records(project)[1]["rating"] == 6
    assert not Path(project.store.journal_path).exists()
