"""`ait doctor` reports the temp files of a killed `format` or rewrite, `--fix` removes them and says what it
did and what is left; the files ait owns in data/ are git-ignored in a project made by the npm tool."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from aitelier import Project
from helpers import line

LEFTOVERS = (".train.jsonl.k2j4h1.tmp", ".val.jsonl.q8z0ab.tmp", ".examples.jsonl.x1y2z3.tmp")


def test_doctor_reports_temp_files_of_a_killed_format_and_fix_removes_them(ait, project: Project) -> None:
    project.examples_path.write_bytes(line(1, rating=9) + b"\n")
    for name in LEFTOVERS:
        (project.data_dir / name).write_bytes(b'{"messages":[{"role":"user"')
    r = ait("doctor", cwd=project.root)
    assert r.exit_code == 3
    for name in LEFTOVERS:
        assert f"data/{name}: leftover temp file from an interrupted write" in r.stdout
    assert "3 problems: 3 fixable with `ait doctor --fix`" in r.stdout

    r = ait("doctor", "--fix", cwd=project.root)
    assert r.exit_code == 0, r.output
    assert r.stdout.count("fixed: ") == 3
    assert "ok: no problems left" in r.stdout
    assert sorted(p.name for p in project.data_dir.glob(".*.tmp")) == []
    assert project.examples_path.read_bytes() == line(1, rating=9) + b"\n"


def test_fix_says_what_it_fixed_and_what_is_left(ait, project: Project) -> None:
    project.examples_path.write_bytes(line(1) + b"\n{broken\n[]\n")
    (project.data_dir / LEFTOVERS[0]).write_bytes(b"half")
    r = ait("doctor", "--fix", cwd=project.root)
    assert r.exit_code == 3
    assert "nothing needed fixing" not in r.stdout
    assert f"fixed: {project.data_dir / LEFTOVERS[0]}: leftover temp file" in r.stdout
    assert "fixed 1, 2 problems left: 2 to fix by hand" in r.stdout
    r = ait("doctor", "--fix", cwd=project.root)
    assert r.exit_code == 3
    assert "nothing needed fixing" not in r.stdout
    assert "nothing here is safe to fix automatically" in r.stdout
    assert "fixed 0, 2 problems left: 2 to fix by hand" in r.stdout


def test_fix_with_nothing_to_do_says_so(ait, project: Project) -> None:
    project.examples_path.write_bytes(line(1) + b"\n")
    r = ait("doctor", "--fix", cwd=project.root)
    assert r.exit_code == 0
    assert "nothing needed fixing" in r.stdout and "ok: no problems found" in r.stdout


# -- git ---------------------------------------------------------------------------------------------------------
def npm_project(root: Path) -> Path:
    """A project as the npm tool leaves it: config and examples, no .gitignore anywhere."""
    (root / "data").mkdir(parents=True)
    cfg = {"name": "npm", "provider": "together", "model": "m", "qualityThreshold": 8, "runs": []}
    (root / ".aitelier.json").write_text(json.dumps(cfg, indent=2) + "\n")
    (root / "data" / "examples.jsonl").write_bytes(line(1, rating=9) + b"\n" + line(2, rating=3) + b"\n")
    return root


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_files_ait_owns_are_ignored_in_an_npm_project_without_init(ait, tmp_path: Path) -> None:
    root = npm_project(tmp_path / "npm")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "npm project")
    assert ait("rate", "--set", "2=4", cwd=root).exit_code == 0
    assert ait("split", cwd=root).exit_code == 0
    # everything else ait may leave in data/: journal, cache, backups, temp files of a killed write
    for name in (
        ".journal.jsonl",
        ".cache.json",
        ".tokens.cache",
        ".append.json",
        ".format.json",
        "examples.jsonl.bak-20260101T000000Z",
        ".train.jsonl.abc.tmp",
        ".examples.jsonl.def.tmp",
    ):
        (root / "data" / name).write_text("x")
    status = git(root, "status", "--porcelain", "--untracked-files=all").splitlines()
    assert sorted(status) == [" M .aitelier.json", " M data/examples.jsonl", "?? data/.gitignore"]
    assert (root / "data" / ".lock").exists()


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_init_ignores_the_config_temp_file_and_data_files(ait, tmp_path: Path) -> None:
    root = tmp_path / "p"
    assert ait("init", str(root), "--name", "p", "--provider", "together", "--yes").exit_code == 0
    git(root, "init", "-q")
    for name in ("..aitelier.json.k3j.tmp", ".env", "data/.lock", "data/.val.jsonl.abc.tmp", "data/x.bak-1"):
        (root / name).write_text("x")
    status = git(root, "status", "--porcelain", "--untracked-files=all").splitlines()
    assert sorted(status) == [
        "?? .aitelier.json",
        "?? .gitignore",
        "?? data/.gitignore",
        "?? data/examples.jsonl",
    ]


def test_an_existing_data_gitignore_is_left_alone(ait, tmp_path: Path) -> None:
    root = npm_project(tmp_path / "npm")
    (root / "data" / ".gitignore").write_text("train.jsonl\n")
    assert ait("rate", "--set", "2=4", cwd=root).exit_code == 0
    assert (root / "data" / ".gitignore").read_text() == "train.jsonl\n"
