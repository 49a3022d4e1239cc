"""`ait eval` scoring and `ait eval --compare` in a real pseudo-terminal: keys pressed one by one, SIGKILL in the
middle of a session and `--resume`, and no model name on screen before the reveal.

Each key that changes an item is saved before the screen is drawn again, so once a test sees the message for a
key, that answer is on disk: no sleeps.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import evals as ev_helpers
from helpers import fakes

pexpect = pytest.importorskip("pexpect")
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")


@pytest.fixture
def together() -> Iterator[Any]:
    server = fakes.together()
    yield server
    server.stop()


@pytest.fixture
def spawn(together: Any) -> Iterator[Any]:
    children: list[Any] = []
    env = dict(os.environ)
    env.update(
        {
            "NO_COLOR": "1",
            "TERM": "xterm",
            "PYTHONUNBUFFERED": "1",
            "TOGETHER_API_KEY": together.api_key,
            "TOGETHER_BASE_URL": together.url,
        }
    )

    def start(*args: str, cwd: Path, columns: int = 100) -> Any:
        child = pexpect.spawn(
            sys.executable,
            ["-m", "aitelier", *args],
            cwd=str(cwd),
            env=env,
            encoding="utf-8",
            timeout=30,
            dimensions=(40, columns),
        )
        children.append(child)
        return child

    yield start
    for child in children:
        if child.isalive():
            child.kill(9)
        child.close(force=True)


def finish(child: Any) -> int:
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus if child.exitstatus is not None else 128 + child.signalstatus


def the_eval(project: Any) -> dict[str, Any]:
    (path,) = sorted((project.root / "data" / "evals").glob("*.json"))
    return json.loads(path.read_text())


def test_scoring_session_undo_sigkill_and_resume(spawn, tmp_path):
    project = ev_helpers.make_project(tmp_path / "p", n_val=4)
    child = spawn("eval", cwd=project.root)
    child.expect_exact("1/4   example 7")
    child.expect_exact("── Expected ──")  # stacked on a 100-column terminal
    child.expect_exact("Order 7 ships tomorrow.")
    child.expect_exact("── Model output ──")
    child.expect_exact("echo: where is order 7?")
    child.expect_exact("1-5 score")
    child.send("5")
    child.expect_exact("Saved: example 7 scored 5.")
    child.send("s")
    child.expect_exact("Skipped example 8.")
    child.send("2")
    child.expect_exact("Saved: example 9 scored 2.")
    child.send("u")
    child.expect_exact("Undone: example 9.")
    child.send("3")
    child.expect_exact("Saved: example 9 scored 3.")
    child.kill(9)  # no chance to fold or print anything
    child.close(force=True)

    child = spawn("eval", "--resume", cwd=project.root)
    child.expect_exact("1/1   example 10")  # the skipped one waits until nothing else is left
    child.send("4")
    child.expect_exact("average 4.00 over 3 scored")
    child.expect_exact("sendable (4-5) 2/3 = 67%")
    assert finish(child) == 0
    doc = the_eval(project)
    assert [it["score"] for it in doc["items"]] == [5, None, 3, 4]
    assert [it["skipped"] for it in doc["items"]] == [False, True, False, False]
    assert doc["finished"] is True and doc["summary"]["scored"] == 3
    assert not list((project.root / "data" / "evals").glob("*.journal.jsonl"))


def test_wide_terminals_put_expected_and_output_side_by_side(spawn, together, tmp_path):
    project = ev_helpers.make_project(tmp_path / "p", n_val=1)
    child = spawn("eval", cwd=project.root, columns=140)
    child.expect(r"Expected\s+Model output")
    child.expect(r"Order 7 ships tomorrow\.\s+echo: where is order 7\?")
    child.send("q")
    assert finish(child) == 0


def test_long_outputs_scroll(spawn, together, tmp_path):
    together.chat_answer = lambda body: "\n".join(f"line {i}" for i in range(80))
    project = ev_helpers.make_project(tmp_path / "p", n_val=1)
    child = spawn("eval", cwd=project.root)
    child.expect_exact("lines 1-37 of 90")  # 10 lines of input and expected, then 80 of output
    child.send(" ")
    child.expect_exact("lines 37-73 of 90")
    child.send(" ")
    child.expect_exact("line 79")
    child.expect_exact("lines 54-90 of 90")
    child.send("\x1b[A")  # up arrow
    child.expect_exact("lines 53-89 of 90")
    child.send("q")
    assert finish(child) == 0


def test_blind_compare_hides_the_models_until_the_reveal_and_resumes_after_sigkill(spawn, together, tmp_path):
    # both models answer alike here, so only the screen's own text could give them away
    together.chat_answer = lambda body: f"answer to {body['messages'][-1]['content']}"
    project = ev_helpers.make_project(tmp_path / "p", n_val=3)
    child = spawn("eval", "--compare", "--seed", "5", cwd=project.root)
    seen = ""
    child.expect_exact("1/3   example 7")
    seen += child.before + child.after
    child.expect_exact("a A better")
    seen += child.before + child.after
    child.send("a")
    child.expect_exact("Saved: example 7, A better.")
    seen += child.before + child.after
    child.kill(9)
    child.close(force=True)

    child = spawn("eval", "--resume", "--compare", cwd=project.root)
    child.expect_exact("1/2   example 8")
    seen += child.before + child.after
    child.send("t")
    child.expect_exact("Saved: example 8, a tie.")
    seen += child.before + child.after
    child.expect_exact("a A better")
    seen += child.before
    for name in (ev_helpers.TUNED, ev_helpers.BASE, "Llama", "acme"):
        assert name not in seen
    child.send("b")  # the last one: the reveal follows
    child.expect_exact("The reveal:")
    reveal = child.before
    child.expect(pexpect.EOF)
    reveal += child.before
    assert ev_helpers.TUNED in reveal and ev_helpers.BASE in reveal
    assert "verdict: no significant difference at n = 2" in reveal
    doc = the_eval(project)
    assert [it["choice"] for it in doc["items"]] == ["a", "tie", "b"]
    winners = [it["winner"] for it in doc["items"]]
    assert winners[0] == doc["items"][0]["a_model"] and winners[1] == "tie"
    assert winners[2] == doc["items"][2]["b_model"]
    assert doc["finished"] is True


def test_ctrl_c_keeps_every_score_prints_the_summary_and_exits_130(spawn, tmp_path):
    project = ev_helpers.make_project(tmp_path / "p", n_val=3)
    child = spawn("eval", cwd=project.root)
    child.expect_exact("1/3   example 7")
    child.send("4")
    child.expect_exact("Saved: example 7 scored 4.")
    child.sendintr()
    child.expect_exact("average 4.00 over 1 scored")
    child.expect_exact("`ait eval --resume` continues")
    assert finish(child) == 130
    doc = the_eval(project)
    assert [it["score"] for it in doc["items"]] == [4, None, None]
    assert doc["finished"] is False
