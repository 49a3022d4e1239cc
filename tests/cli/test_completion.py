"""Shell completion (docs/install.md): click's `_AIT_COMPLETE`, exercised through bash itself."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent  # the environment's `ait` script lives beside its python


def _source(shell: str) -> str:
    env = {**os.environ, "_AIT_COMPLETE": f"{shell}_source"}
    r = subprocess.run([str(BIN / "ait")], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("ait sta", ["stats", "status"]),
        ("ait init --example ", ["customer-support", "code-review"]),
        ("ait rate --or", ["--order"]),
    ],
)
def test_bash_completes_commands_options_and_choices(tmp_path, line, expected):
    script = tmp_path / "ait.bash"
    script.write_text(_source("bash"))
    words = line.split(" ")
    program = (
        f"source {script}\n"
        f"COMP_WORDS=({' '.join(repr(w) for w in words)})\n"
        f"COMP_CWORD={len(words) - 1}\n"
        "_ait_completion ait\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    r = subprocess.run(["bash", "-c", program], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == expected


def test_zsh_and_fish_scripts_are_offered():
    assert "compdef _ait_completion ait" in _source("zsh")
    assert "complete --no-files --command ait" in _source("fish")
