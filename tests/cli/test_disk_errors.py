"""When the disk says no: full (ENOSPC), read-only, `examples.jsonl` a directory (issue 9, item 10).

Each case is a real condition, not a patched function: a 64 KiB tmpfs filled to the brim, or a read-only bind
mount, made inside a private user+mount namespace (`unshare -rm`) so that nothing on the host is mounted and
the test needs no root. Where namespaces are not allowed those tests are skipped, saying so. The answer is the
same everywhere: one line naming the file and the cause, exit status 1, the files as they were, and no claim
that anything was saved.
"""

from __future__ import annotations

import errno
import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aitelier import Project
from aitelier.fsutil import durable_append
from helpers import conversation


@functools.cache
def _namespaces() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = "mount -t tmpfs -o size=64k tmpfs /mnt 2>/dev/null || mount -t tmpfs -o size=64k tmpfs /tmp"
    return subprocess.run(["unshare", "-rm", "sh", "-c", probe], capture_output=True).returncode == 0


needs_namespaces = pytest.mark.skipif(
    sys.platform != "linux" or not _namespaces(),
    reason="needs `unshare -rm` (user and mount namespaces) to mount a tiny tmpfs or a read-only bind",
)

# In the namespace: $1 is the project's data directory; what follows is the command.
FULL = """
data="$1"; saved="$2"; after="$3"; shift 3
mount -t tmpfs -o size=64k tmpfs "$data" || exit 97
cp -a "$saved"/. "$data"/
dd if=/dev/zero of="$data/.filler" bs=1k 2>/dev/null
"$@"; rc=$?
rm -f "$data/.filler"; cp -a "$data"/. "$after"/
exit $rc
"""
READ_ONLY = """
data="$1"; shift
mount --bind "$data" "$data" && mount -o remount,bind,ro "$data" || exit 97
exec "$@"
"""


def _in_namespace(script: str, project: Project, *args: str, setup: list[str]) -> subprocess.CompletedProcess:
    messages = '[{"role":"user","content":"q"},{"role":"assistant","content":"a"}]'
    p = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script, "sh", *setup, sys.executable, "-m", "aitelier", *args],
        cwd=project.root,
        input=messages,  # for `add --messages -`
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode != 97, p.stderr  # the mount itself failed
    return p


@pytest.fixture
def filled(project: Project) -> Project:
    project.store.append([{"messages": conversation(i), "rating": 9} for i in range(1, 6)])
    return project


def _on_a_full_disk(project: Project, tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, Path]:
    saved, after = tmp_path / "saved", tmp_path / "after"
    shutil.copytree(project.data_dir, saved)
    after.mkdir()
    p = _in_namespace(FULL, project, *args, setup=[str(project.data_dir), str(saved), str(after)])
    return p, after


@needs_namespaces
def test_rate_set_on_a_full_disk_names_the_journal_and_claims_nothing(filled, tmp_path):
    before = filled.examples_path.read_bytes()
    p, after = _on_a_full_disk(filled, tmp_path, "rate", "--set", "1=5")
    journal = filled.data_dir / ".journal.jsonl"
    assert p.returncode == 1
    assert p.stdout == ""  # no "Example 1: rated 5"
    assert p.stderr == (
        f"ait: error: {journal}: No space left on device "
        "(the disk is full; free some space and run the command again)\n"
    )
    assert (after / "examples.jsonl").read_bytes() == before
    assert not (after / ".journal.jsonl").exists() or (after / ".journal.jsonl").read_bytes() == b""


@needs_namespaces
def test_a_rewrite_on_a_full_disk_names_the_file_and_leaves_it_and_no_temp_file(filled, tmp_path):
    before = filled.examples_path.read_bytes()
    p, after = _on_a_full_disk(filled, tmp_path, "split")
    assert p.returncode == 1
    assert p.stderr == (
        f"ait: error: {filled.examples_path}: No space left on device "
        "(the disk is full; free some space and run the command again)\n"
    )
    assert (after / "examples.jsonl").read_bytes() == before
    assert sorted(f.name for f in after.iterdir() if f.name.endswith(".tmp")) == []


@needs_namespaces
@pytest.mark.parametrize(
    "args",
    [("rate", "--set", "1=5"), ("add", "--messages", "-"), ("rm", "1", "--yes"), ("split",)],
    ids=lambda a: " ".join(a),
)
def test_a_read_only_data_directory_is_one_line_naming_the_file(filled, args):
    before = filled.examples_path.read_bytes()
    p = _in_namespace(READ_ONLY, filled, *args, setup=[str(filled.data_dir)])
    assert p.returncode == 1
    assert p.stdout == ""
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr  # no "they are saved in the journal" after the error
    assert lines[0].startswith(f"ait: error: {filled.data_dir}/")
    assert lines[0].endswith(": Read-only file system (nothing can be saved there)")
    assert filled.examples_path.read_bytes() == before


@pytest.mark.parametrize(
    "args",
    [
        ("list",),
        ("stats",),
        ("show", "1"),
        ("add", "--messages", "-"),
        ("rate", "--set", "1=5"),
        ("doctor",),
        ("split",),
        ("format",),
        ("rm", "1", "--yes"),
    ],
    ids=lambda a: " ".join(a),
)
def test_examples_jsonl_being_a_directory_is_one_line_naming_it(ait, project, args):
    project.examples_path.unlink()
    project.examples_path.mkdir()
    messages = '[{"role":"user","content":"q"},{"role":"assistant","content":"a"}]'
    r = ait(*args, input=messages, cwd=project.root)
    assert r.exit_code == 1
    assert r.stderr == f"ait: error: {project.examples_path}: Is a directory (it should be a file)\n"
    assert r.stdout == ""


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="/dev/full is Linux's always-full device")
def test_a_failed_append_names_its_file():
    """write(2) does not say which file the disk refused; the error that reaches the user must."""
    with pytest.raises(OSError) as caught:
        durable_append(Path("/dev/full"), b'{"id": 1}\n')
    assert caught.value.errno == errno.ENOSPC
    assert caught.value.filename == "/dev/full"
