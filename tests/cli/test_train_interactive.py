"""The questions `ait train` and `ait cancel` ask on a real pseudo-terminal (pexpect), and the rich progress bar
of `ait status --watch` on one."""

from __future__ import annotations

import json
import os
import sys

import pexpect
import pytest


def spawn(args, cwd, server, *, color=False):
    env = dict(os.environ)
    env.update(
        TOGETHER_API_KEY=server.api_key,
        TOGETHER_BASE_URL=server.url,
        AITELIER_POLL_INTERVAL="0.01",
        AITELIER_TIMEOUT="5",
        COLUMNS="100",
        LINES="40",
        TERM="xterm-256color",
    )
    if color:
        env.pop("NO_COLOR", None)
    return pexpect.spawn(
        sys.executable,
        ["-m", "aitelier", *args],
        cwd=str(cwd),
        env=env,
        encoding="utf-8",
        timeout=60,
        dimensions=(40, 100),
    )


@pytest.fixture
def server(fake_together):
    return fake_together


def _runs(project):
    return json.loads(project.config_path.read_text())["runs"]


def test_train_asks_before_spending_and_yes_creates(train_project, server):
    child = spawn(["train"], train_project.root, server)
    child.expect(r"price\s+\$4\.25")
    child.expect(r"Create the fine-tuning job\? \[y/N\]")
    assert server.calls("POST", "/v1/fine-tunes") == []  # nothing created while the question is open
    child.sendline("y")
    child.expect("Started fine-tune ft-")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert len(server.jobs) == 1 and _runs(train_project)[0]["jobId"] in server.jobs


def test_train_declined_creates_nothing(train_project, server):
    child = spawn(["train"], train_project.root, server)
    child.expect(r"Create the fine-tuning job\? \[y/N\]")
    child.sendline("n")
    child.expect("Not started")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
    assert server.jobs == {} and _runs(train_project)[0]["status"] == "declined"


def test_identical_active_run_asks(train_project, server):
    first = spawn(["train", "--yes"], train_project.root, server)
    first.expect(pexpect.EOF)
    first.close()
    assert first.exitstatus == 0
    child = spawn(["train", "--yes"], train_project.root, server)
    child.expect("already trains")
    child.expect(r"Start another identical run anyway\? \[y/N\]")
    child.sendline("n")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 2 and len(server.jobs) == 1


def test_cancel_asks(train_project, server):
    first = spawn(["train", "--yes"], train_project.root, server)
    first.expect(pexpect.EOF)
    first.close()
    child = spawn(["cancel"], train_project.root, server)
    child.expect(r"Cancel fine-tune ft-\S+ on together \(status pending\)\? \[y/N\]")
    child.sendline("y")
    child.expect("Cancel requested")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert next(iter(server.jobs.values()))["status"] == "cancel_requested"


def test_watch_draws_a_progress_bar_on_a_terminal(train_project, server):
    first = spawn(["train", "--yes"], train_project.root, server)
    first.expect(pexpect.EOF)
    first.close()
    child = spawn(["status", "--watch", "--interval", "0.05"], train_project.root, server, color=True)
    child.expect("Job finished")
    child.expect("training loss")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert _runs(train_project)[0]["status"] == "completed"
