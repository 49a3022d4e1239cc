"""The writer lock: a lock held by another process times out with one line naming it, after
$AITELIER_LOCK_TIMEOUT seconds; a symlinked lock or journal in a cloned project is refused, its target untouched."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from aitelier import Project
from aitelier.errors import LockTimeout, SymlinkRefused, UsageError
from aitelier.store.lock import lock_timeout, project_lock

CONV = '[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]'
HOLDER = """
import sys, time
from filelock import FileLock
lock = FileLock(sys.argv[1])
lock.acquire()
print("held", flush=True)
time.sleep(60)
"""


@pytest.fixture
def held_by_another_process(project: Project):
    """data/.lock held by a separate Python process until the test ends."""
    p = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(project.store.lock_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert p.stdout is not None and p.stdout.readline() == "held\n"
        yield project
    finally:
        p.kill()
        p.wait()


def test_a_lock_held_by_another_process_times_out(held_by_another_process: Project) -> None:
    project = held_by_another_process
    start = time.monotonic()
    with pytest.raises(LockTimeout) as info, project_lock(project.store.lock_path, 0.3):
        pass
    assert 0.25 <= time.monotonic() - start < 10
    assert str(info.value).startswith(
        f"another aitelier command has held {project.store.lock_path} for over 0.3s"
    )


def test_the_lock_is_reentrant_in_a_thread_and_other_threads_wait_for_it(project: Project) -> None:
    import threading

    outcome: list[str] = []

    def other() -> None:
        try:
            with project_lock(project.store.lock_path, 0.2):
                outcome.append("taken")
        except LockTimeout:
            outcome.append("timed out")

    with project_lock(project.store.lock_path), project_lock(project.store.lock_path, 0):
        t = threading.Thread(target=other)
        t.start()
        t.join()
    assert outcome == ["timed out"]
    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert outcome == ["timed out", "taken"]


def test_a_writer_blocked_by_another_process_exits_1_with_one_line(
    ait, held_by_another_process: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = held_by_another_process
    monkeypatch.setenv("AITELIER_LOCK_TIMEOUT", "0.2")
    before = project.examples_path.read_bytes()
    r = ait("add", "--messages", "-", input=CONV, cwd=project.root)
    assert r.exit_code == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "data/.lock" in lines[0] and "for over 0.2s" in lines[0]
    assert project.examples_path.read_bytes() == before


@pytest.mark.parametrize(
    ("raw", "expected"), [(None, 30.0), ("", 30.0), ("0.5", 0.5), ("0", 0.0), ("12", 12.0)]
)
def test_lock_timeout_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, raw: str | None, expected: float
) -> None:
    if raw is None:
        monkeypatch.delenv("AITELIER_LOCK_TIMEOUT", raising=False)
    else:
        monkeypatch.setenv("AITELIER_LOCK_TIMEOUT", raw)
    assert lock_timeout() == expected


@pytest.mark.parametrize("raw", ["soon", "-1", "nan"])
def test_a_bad_lock_timeout_is_a_usage_error(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("AITELIER_LOCK_TIMEOUT", raw)
    with pytest.raises(UsageError, match="AITELIER_LOCK_TIMEOUT must be a number of seconds"):
        lock_timeout()


# -- symbolic links in a cloned project ---------------------------------------------------------------------
def test_a_symlinked_lock_is_refused_and_its_target_not_truncated(project: Project, tmp_path: Path) -> None:
    target = tmp_path / "precious.txt"
    target.write_bytes(b"nineteen bytes here")
    project.store.lock_path.unlink(missing_ok=True)
    project.store.lock_path.symlink_to(target)
    with (
        pytest.raises(SymlinkRefused, match=r"data/\.lock is a symbolic link"),
        project_lock(project.store.lock_path),
    ):
        pass
    assert target.read_bytes() == b"nineteen bytes here"


def test_rate_set_with_a_symlinked_lock_exits_1_and_changes_nothing(
    ait, project: Project, tmp_path: Path
) -> None:
    project.store.append(
        [{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}]
    )
    target = tmp_path / "precious.txt"
    target.write_bytes(b"nineteen bytes here")
    project.store.lock_path.unlink(missing_ok=True)
    project.store.lock_path.symlink_to(target)
    examples = project.examples_path.read_bytes()
    r = ait("rate", "--set", "1=9", cwd=project.root)
    assert r.exit_code == 1
    assert "data/.lock is a symbolic link" in r.stderr.strip().splitlines()[-1]
    assert target.read_bytes() == b"nineteen bytes here"
    assert project.examples_path.read_bytes() == examples
    assert not project.store.journal_path.exists()


def test_a_symlinked_journal_gets_nothing_appended(ait, project: Project, tmp_path: Path) -> None:
    project.store.append(
        [{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}]
    )
    target = tmp_path / "notes.txt"
    target.write_bytes(b"no newline at the end")
    project.store.journal_path.symlink_to(target)
    r = ait("rate", "--set", "1=9", cwd=project.root)
    assert r.exit_code == 1
    assert ".journal.jsonl is a symbolic link" in r.stderr
    assert target.read_bytes() == b"no newline at the end"


def test_a_symlinked_examples_file_is_written_through(ait, project: Project, tmp_path: Path) -> None:
    """add appends to the link's target, and a rewrite (rm) replaces the target, the link staying a link."""
    shared = tmp_path / "shared"
    shared.mkdir()
    target = shared / "examples.jsonl"
    project.examples_path.rename(target)
    project.examples_path.symlink_to(target)
    for q in ("one", "two"):
        assert ait("add", "--messages", "-", input=CONV.replace("hi", q), cwd=project.root).exit_code == 0
    assert ait("rm", "1", "--yes", cwd=project.root).exit_code == 0
    assert project.examples_path.is_symlink()
    lines = target.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1 and '"id":2' in lines[0] and '"two"' in lines[0]
    assert sorted(p.name for p in shared.iterdir()) == ["examples.jsonl"]


def test_a_link_at_the_cache_temp_name_is_not_written_through(ait, project: Project, tmp_path: Path) -> None:
    """The id cache is rewritten through a temp file named after the process id; a link left at that name
    (a cloned project) must not get the cache written into its target."""
    import os

    target = tmp_path / "precious.txt"
    target.write_bytes(b"nineteen bytes here")
    link = project.data_dir / f".cache.json.{os.getpid()}.tmp"
    link.symlink_to(target)
    for q in ("one", "two"):
        assert ait("add", "--messages", "-", input=CONV.replace("hi", q), cwd=project.root).exit_code == 0
    assert ait("list", cwd=project.root).exit_code == 0
    assert target.read_bytes() == b"nineteen bytes here"
    assert len(project.examples_path.read_text().splitlines()) == 2
