"""SIGKILL an `ait format` at random moments and in the middle of its writes: afterwards the files are either
reported stale or are exactly what a complete format writes, never "current" with old content; `ait doctor
--fix` removes the temp files it left."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aitelier import Project, formats
from aitelier.doctor import diagnose, repair
from aitelier.freshness import check
from helpers import conversation, record, write_records

N = 3000


def expected_files(root: Path) -> dict[str, bytes | None]:
    result = formats.build(Project.find(root))
    return {f.name: b"".join(f.encoded) if f.count else None for f in (result.train, result.val)}


def on_disk(project: Project) -> dict[str, bytes | None]:
    return {
        name: path.read_bytes() if path.exists() else None
        for name, path in (("train", project.train_path), ("val", project.val_path))
    }


@pytest.mark.slow
def test_a_killed_format_never_leaves_files_that_look_current(project: Project) -> None:
    long = "a fairly long answer " * 20
    write_records(
        project.examples_path,
        [
            record(i, rating=9, split="val" if i % 5 == 0 else "train", messages=conversation(i, answer=long))
            for i in range(1, N + 1)
        ],
    )
    formats.write(project, formats.build(project))
    rnd = random.Random(99)
    stamp = project.data_dir / ".format.json"
    outcomes: dict[str, int] = {}
    for trial in range(16):
        project.store.patch(rnd.randint(1, N), {"rating": rnd.choice([2, 9, 10])})  # an input changes
        child = subprocess.Popen(
            [sys.executable, "-m", "aitelier", "format", "--json"],
            cwd=project.root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if trial % 2:  # at any moment
            time.sleep(rnd.uniform(0.0, 1.2))
        else:  # while it writes: the record is marked pending just before the first file is replaced
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and child.poll() is None:
                try:
                    if json.loads(stamp.read_bytes()).get("pending"):
                        break
                except (OSError, ValueError):
                    pass
                time.sleep(0.0005)
            time.sleep(rnd.uniform(0.0, 0.005))
        child.send_signal(signal.SIGKILL)
        child.wait()
        state = check(Project.find(project.root))
        key = state.state + ("/unfinished" if "the last `ait format` did not finish" in state.reasons else "")
        outcomes[key] = outcomes.get(key, 0) + 1
        if state.state == "current":
            assert on_disk(project) == expected_files(project.root)
        else:
            assert state.state == "stale", state
        if not diagnose(project).ok:
            assert repair(project).ok
        assert list(project.data_dir.glob(".*.tmp")) == []
    # the kills did land inside a format's writes, or this test would prove nothing
    assert outcomes.get("stale/unfinished", 0) >= 3, outcomes
