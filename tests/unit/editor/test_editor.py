"""The $VISUAL/$EDITOR helper: argument splitting, waiting, failures, and the temp file it leaves behind (none)."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import pytest

from aitelier.editor import EditorFailed, NoEditor, edit_text, editor_command, has_editor


def test_editor_command_prefers_visual_and_splits_arguments():
    assert editor_command({"VISUAL": "code --wait", "EDITOR": "vi"}) == ["code", "--wait"]
    assert editor_command({"EDITOR": "emacsclient -t"}) == ["emacsclient", "-t"]
    assert editor_command({"EDITOR": "'/opt/My Editor/ed' -n"}) == ["/opt/My Editor/ed", "-n"]
    assert editor_command({"VISUAL": "  ", "EDITOR": "nano"}) == ["nano"]
    assert editor_command({}) is None


def test_an_unquoted_path_with_spaces_is_one_program(tmp_path):
    prog = tmp_path / "My Editor"
    prog.write_text("#!/bin/sh\n")
    assert editor_command({"EDITOR": str(prog)}) == [str(prog)]


def test_unbalanced_quotes_are_reported():
    with pytest.raises(EditorFailed, match="cannot parse"):
        editor_command({"EDITOR": "'code --wait"})
    assert has_editor({"EDITOR": "'code"})
    assert not has_editor({})


def test_edit_text_runs_the_editor_with_its_arguments(editor_script, tmp_path):
    cmd = editor_script("text = text.upper() + 'ünïcode'")
    out = edit_text("hello\n", suffix=".json", environ={"EDITOR": cmd + " --wait"})
    assert out == "HELLO\nünïcode"
    log = sorted(tmp_path.glob("editor*.log"))[0].read_text().splitlines()
    argv = json.loads(log[0])
    assert argv[0] == "--wait" and argv[1].endswith(".json")
    assert not Path(argv[1]).exists()  # the temp file is cleaned up


def test_no_editor_is_a_usage_error():
    with pytest.raises(NoEditor, match="no editor is set") as e:
        edit_text("x", environ={})
    assert "EDITOR" in (e.value.hint or "")
    assert e.value.exit_status == 2


def test_editor_exit_status_abandons_the_edit():
    cmd = f"{sys.executable} -c 'import sys; sys.exit(3)'"
    with pytest.raises(EditorFailed, match="status 3"):
        edit_text("x", environ={"EDITOR": cmd})


def test_missing_editor_program():
    with pytest.raises(EditorFailed, match="could not start"):
        edit_text("x", environ={"EDITOR": "/nonexistent/editor-binary"})


def test_temp_files_do_not_pile_up(editor_script, tmp_path, monkeypatch):
    # a temp dir of this test's own, so other tests (or processes) making ait-* files cannot disturb the count
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    before = set(Path(tempfile.gettempdir()).glob("ait-*"))
    edit_text("x", environ={"EDITOR": editor_script("text = 'y'")})
    with pytest.raises(EditorFailed):
        edit_text("x", environ={"EDITOR": f"{sys.executable} -c 'raise SystemExit(1)'"})
    assert set(Path(tempfile.gettempdir()).glob("ait-*")) == before
