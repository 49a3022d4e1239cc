"""The `ait rate` screen driven in-process through a fake terminal Env: each character of ``input`` is a key.

The pseudo-terminal tests (tests/cli/test_rate_pty.py) cover the real terminal, signals and the editor; these
show that the screen, like every command, talks to the world only through its Env.
"""

from __future__ import annotations

import json

import pytest

from helpers import conversation


@pytest.fixture
def three(project):
    project.store.append([{"messages": conversation(i)} for i in range(1, 4)])
    return project


def _ratings(project) -> dict[int, int | None]:
    lines = project.examples_path.read_text(encoding="utf-8").splitlines()
    return {r["id"]: r.get("rating") for r in map(json.loads, lines)}


def test_keys_rate_skip_undo_and_quit(ait, three):
    r = ait("rate", input="8su9q", tty=True, cwd=three.root)
    assert r.exit_code == 0, r.output
    assert "Saved: example 1 rated 8." in r.stdout
    assert "Skipped example 2." in r.stdout
    assert "Undone: the skip of example 2." in r.stdout
    assert r.stdout.endswith(
        "Shown 3, rated 2, rewritten 0, skipped 0; average 8.5.\n"
        "1 example(s) of this queue are left; `ait rate` picks them up next time.\n"
    )
    assert _ratings(three) == {1: 8, 2: 9, 3: None}
    assert not three.store.journal_path.exists()


def test_a_rewrite_typed_on_the_screen_then_rated(ait, three):
    r = ait("rate", input="rA better answer.\n.\n9q", tty=True, cwd=three.root)
    assert r.exit_code == 0, r.output
    assert "No $EDITOR is set, so type the new text here" in r.stdout
    assert "Saved the rewrite (version 2)." in r.stdout
    first = json.loads(three.examples_path.read_text(encoding="utf-8").splitlines()[0])
    assert first["messages"][-1]["content"] == "A better answer."
    assert (first["originalOutput"], first["rating"], first["version"]) == ("answer 1.0", 9, 2)


def test_the_input_ending_is_a_closed_terminal(ait, three):
    r = ait("rate", input="7", tty=True, cwd=three.root)
    assert r.exit_code == 129
    assert "Shown 2, rated 1, rewritten 0, skipped 0; average 7.0." in r.stdout
    assert r.stderr == "ait: interrupted (the terminal was closed)\n"
    assert _ratings(three) == {1: 7, 2: None, 3: None}
