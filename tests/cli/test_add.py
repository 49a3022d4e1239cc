"""`ait add`: file mode, stdin, multi-turn JSON, ratings, system prompts, duplicates, the prompts, concurrency."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

SYS = {"role": "system", "content": "You are helpful."}


def test_add_from_files(ait, project, tmp_path):
    (tmp_path / "in.txt").write_text("What time do you open?\n")
    (tmp_path / "out.txt").write_text("We open at 9am.\r\n\r\n")
    r = ait(
        "add",
        "--input",
        str(tmp_path / "in.txt"),
        "--output",
        str(tmp_path / "out.txt"),
        "--rating",
        "9",
        cwd=project.root,
    )
    assert r.exit_code == 0, r.output
    assert r.stdout == "Added example 1 (rated 9)\n"
    [ex] = project.store.read()
    assert ex.messages == [
        SYS,
        {"role": "user", "content": "What time do you open?"},
        {"role": "assistant", "content": "We open at 9am."},
    ]
    assert ex.rating == 9 and ex.data["ratedAt"] == ex.data["createdAt"] and ex.version == 1
    line = project.examples_path.read_bytes()
    assert line.startswith(b'{"id":1,"messages":[') and line.endswith(b"}\n") and line.count(b"\n") == 1


def test_add_reads_one_side_from_stdin(ait, project, tmp_path):
    (tmp_path / "out.txt").write_text("Yes.")
    r = ait(
        "add",
        "--input",
        "-",
        "--output",
        str(tmp_path / "out.txt"),
        input="Ünïcode question?\n",
        cwd=project.root,
    )
    assert r.exit_code == 0, r.output
    assert project.store.read().get(1).last_user == "Ünïcode question?"


def test_add_system_override_and_none(ait, project, tmp_path):
    (tmp_path / "i").write_text("q")
    (tmp_path / "o").write_text("a")
    files = ["--input", str(tmp_path / "i"), "--output", str(tmp_path / "o")]
    assert ait("add", *files, "--system", "Be terse.", cwd=project.root).exit_code == 0
    assert ait("add", *files, "--system", "", cwd=project.root).exit_code == 0
    a, b = project.store.read()
    assert a.messages[0] == {"role": "system", "content": "Be terse."}
    assert [m["role"] for m in b.messages] == ["user", "assistant"]


def test_add_multi_turn_messages(ait, project, tmp_path):
    conv = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "price?"},
        {"role": "assistant", "content": "$5"},
    ]
    (tmp_path / "conv.json").write_text(json.dumps(conv))
    r = ait("add", "--messages", str(tmp_path / "conv.json"), "--rating", "8", cwd=project.root)
    assert r.exit_code == 0, r.output
    ex = project.store.read().get(1)
    assert ex.messages == [SYS, *conv] and ex.rating == 8 and ex.output == "$5"


def test_add_messages_with_own_system_keeps_it_and_refuses_system_flag(ait, project):
    conv = json.dumps(
        {
            "messages": [
                {"role": "system", "content": "own"},
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "a"},
            ]
        }
    )
    r = ait("add", "--messages", "-", "--system", "x", input=conv, cwd=project.root)
    assert r.exit_code == 2 and "own system message" in r.stderr
    assert ait("add", "--messages", "-", input=conv, cwd=project.root).exit_code == 0
    assert project.store.read().get(1).messages[0] == {"role": "system", "content": "own"}


@pytest.mark.parametrize(
    ("conv", "needle"),
    [
        ('[{"role": "user", "content": "q"}]', "last message must be the assistant's reply"),
        ('[{"role": "user", "content": "q"}, {"role": "bot", "content": "a"}]', "role 'bot'"),
        ("[{", "invalid JSON"),
        ('{"text": 1}', "expected a JSON list of messages"),
    ],
)
def test_add_invalid_conversation_is_refused_and_nothing_written(ait, project, conv, needle):
    r = ait("add", "--messages", "-", input=conv, cwd=project.root)
    assert r.exit_code == 3
    assert needle in r.stderr
    assert project.examples_path.read_bytes() == b""


def test_add_empty_output_is_refused(ait, project, tmp_path):
    (tmp_path / "i").write_text("q")
    (tmp_path / "o").write_text("\n\n")
    r = ait("add", "--input", str(tmp_path / "i"), "--output", str(tmp_path / "o"), cwd=project.root)
    assert r.exit_code == 3 and "is empty" in r.stderr
    assert project.examples_path.read_bytes() == b""


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--input", "x"], "--input and --output go together"),
        (["--input", "-", "--output", "-"], "only one of --input and --output"),
        (["--messages", "m.json", "--input", "x", "--output", "y"], "cannot be combined"),
        (["--rating", "0", "--input", "x", "--output", "y"], "0 is not in the range"),
        ([], "needs a terminal"),
    ],
)
def test_add_usage_errors(ait, project, args, needle):
    r = ait("add", *args, cwd=project.root)
    assert r.exit_code == 2
    assert needle in r.stderr


def test_add_missing_file_and_non_utf8(ait, project, tmp_path):
    r = ait("add", "--input", str(tmp_path / "nope"), "--output", str(tmp_path / "nope"), cwd=project.root)
    assert r.exit_code == 2 and "cannot read" in r.stderr
    (tmp_path / "latin1").write_bytes(b"caf\xe9")
    r = ait("add", "--input", str(tmp_path / "latin1"), "--output", "-", input="a", cwd=project.root)
    assert r.exit_code == 3 and "not UTF-8" in r.stderr


def test_add_outside_a_project(ait, tmp_path):
    r = ait("add", "--messages", "-", input="[]", cwd=tmp_path)
    assert r.exit_code == 1 and "no aitelier project found" in r.stderr


def test_add_warns_on_exact_duplicate_but_adds(ait, project, tmp_path):
    (tmp_path / "i").write_text("q")
    (tmp_path / "o").write_text("a")
    files = ["--input", str(tmp_path / "i"), "--output", str(tmp_path / "o")]
    assert ait("add", *files, cwd=project.root).exit_code == 0
    r = ait("add", *files, cwd=project.root)
    assert r.exit_code == 0
    assert r.stdout == "Added example 2\n"
    assert "exact duplicate of example 1" in r.stderr
    assert [ex.id for ex in project.store.read()] == [1, 2]


def test_add_keeps_other_lines_byte_identical(ait, filled, tmp_path):
    before = filled.examples_path.read_bytes()
    r = ait(
        "add",
        "--messages",
        "-",
        input='[{"role":"user","content":"q"},{"role":"assistant","content":"a"}]',
        cwd=filled.root,
    )
    assert r.exit_code == 0
    after = filled.examples_path.read_bytes()
    assert after.startswith(before) and after.count(b"\n") == before.count(b"\n") + 1
    assert filled.store.read().get(7).output == "a"


# -- interactive ----------------------------------------------------------------------------------------------------
def test_interactive_add_paste_mode_multi_turn(spawn, project):
    pexpect = pytest.importorskip("pexpect")
    child = spawn("add", cwd=project.root)
    child.expect_exact("System prompt: You are helpful.")
    child.expect_exact("(p) or write it in your editor (e)?")
    child.sendline("p")
    child.expect_exact("User input: paste or type it, then a line with only '.'")
    child.sendline("My order #12 is late.")
    child.sendline("")
    child.sendline("It was due Monday.")
    child.sendline(".")
    child.expect_exact("Ideal assistant reply: paste")
    child.sendline("Sorry! Let me check order #12.")
    child.sendline(".")
    child.expect_exact("Add another turn?")
    child.sendline("y")
    child.expect_exact("User input (turn 2)")
    child.sendline("Thanks")
    child.sendline(".")
    child.expect_exact("Ideal assistant reply (turn 2)")
    child.sendline(".")  # empty: asked again
    child.expect_exact("is empty")
    child.sendline("You're welcome!")
    child.sendline(".")
    child.expect_exact("Add another turn?")
    child.sendline("n")
    child.expect_exact("Rating 1-10")
    child.sendline("11")
    child.expect_exact("whole number from 1 to 10")
    child.sendline("9")
    child.expect_exact("Added example 1 (rated 9)")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    ex = project.store.read().get(1)
    assert [m["content"] for m in ex.messages] == [
        "You are helpful.",
        "My order #12 is late.\n\nIt was due Monday.",
        "Sorry! Let me check order #12.",
        "Thanks",
        "You're welcome!",
    ]
    assert ex.rating == 9


def test_interactive_add_editor_mode(spawn, spawn_env, editor_script, project):
    pexpect = pytest.importorskip("pexpect")
    editor = editor_script(
        """
        lines = text.split("\\n")
        u = next(i for i, l in enumerate(lines) if l.startswith("##### USER"))
        a = next(i for i, l in enumerate(lines) if l.startswith("##### ASSISTANT"))
        text = "\\n".join(lines[: u + 1] + ["How do I reset my password?", ""] + [lines[a],
                          "Click *Forgot password*.", "", "```", "code block kept", "```", ""])
        """
    )
    child = spawn("add", "--rating", "10", cwd=project.root, env=spawn_env(EDITOR=editor))
    child.expect_exact("(e)?")
    child.sendline("e")
    child.expect_exact("Opening your editor")
    child.expect_exact("Add another turn?")
    child.sendline("")
    child.expect_exact("Added example 1 (rated 10)")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    ex = project.store.read().get(1)
    assert ex.last_user == "How do I reset my password?"
    assert ex.output == "Click *Forgot password*.\n\n```\ncode block kept\n```"


def test_interactive_add_editor_mode_with_markers_removed_can_be_abandoned(
    spawn, spawn_env, editor_script, project
):
    pexpect = pytest.importorskip("pexpect")
    child = spawn("add", cwd=project.root, env=spawn_env(EDITOR=editor_script("text = 'no markers'")))
    child.expect_exact("(e)?")
    child.sendline("e")
    child.expect_exact("marker lines must each appear once")
    child.expect_exact("Open the editor again?")
    child.sendline("n")
    child.expect_exact("Nothing was added.")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1  # a "no" to a question
    assert project.examples_path.read_bytes() == b""


def test_interactive_add_editor_choice_without_editor_falls_back_to_paste(spawn, project):
    pexpect = pytest.importorskip("pexpect")
    child = spawn("add", cwd=project.root)
    child.expect_exact("(e)?")
    child.sendline("e")
    child.expect_exact("no editor is set")
    child.expect_exact("User input:")
    child.sendline("q")
    child.sendline(".")
    child.expect_exact("Ideal assistant reply:")
    child.sendeof()  # Ctrl-D ends the text too
    child.expect_exact("no text was entered")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 2
    assert project.examples_path.read_bytes() == b""


def test_ctrl_c_during_add_exits_130_and_writes_nothing(spawn, project):
    pexpect = pytest.importorskip("pexpect")
    child = spawn("add", cwd=project.root)
    child.expect_exact("(e)?")
    child.sendline("p")
    child.expect_exact("User input:")
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
    assert project.examples_path.read_bytes() == b""


# -- reliability ------------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_twenty_concurrent_adds_get_distinct_ids(project, tmp_path):
    procs = []
    for i in range(20):
        conv = tmp_path / f"conv{i}.json"
        conv.write_text(
            json.dumps([{"role": "user", "content": f"question {i}"}, {"role": "assistant", "content": "a"}])
        )
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "aitelier", "add", "--messages", str(conv)],
                cwd=project.root,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 20, outs
    printed = sorted(int(out.split()[-1]) for out, _ in outs)
    assert printed == list(range(1, 21))
    examples = project.store.read()  # strict: every line valid
    assert sorted(ex.id for ex in examples) == list(range(1, 21))
    assert sorted(ex.last_user for ex in examples) == sorted(f"question {i}" for i in range(20))
    assert project.examples_path.read_bytes().count(b"\n") == 20


def test_editor_template_parsing():
    from aitelier.cli.project_cmds import ASSISTANT_MARK, USER_MARK, parse_editor_turn
    from aitelier.errors import ValidationFailed

    text = f"{USER_MARK}\n\n  question\n\n{ASSISTANT_MARK}\n# a heading is content\nanswer\n\n"
    assert parse_editor_turn(text) == ("  question", "# a heading is content\nanswer")
    with pytest.raises(ValidationFailed, match="must each appear once"):
        parse_editor_turn(f"{ASSISTANT_MARK}\na\n{USER_MARK}\nq\n")
    with pytest.raises(ValidationFailed, match="must each appear once"):
        parse_editor_turn(f"{USER_MARK}\nq\n{USER_MARK}\n{ASSISTANT_MARK}\na")
    with pytest.raises(ValidationFailed, match="the input and the reply are empty"):
        parse_editor_turn(f"{USER_MARK}\n\n{ASSISTANT_MARK}\n \n")
    with pytest.raises(ValidationFailed, match="the reply is empty"):
        parse_editor_turn(f"{USER_MARK}\nq\n{ASSISTANT_MARK}\n")
