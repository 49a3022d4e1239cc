"""The recording in the README: docs/demo.cast is an asciinema v2 file of the real CLI going through the loop,
docs/demo.svg its still, and scripts/record_demo.py (`python3 dev.py record`) makes both again."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# the loop the recording must show, in order (the commands as typed)
LOOP = ["ait init", "ait add", "ait rate", "ait stats", "ait split", "ait format", "ait train --dry-run"]
LOOP += ["ait status", "ait eval"]


def check_cast(path: Path) -> str:
    """Assert that ``path`` is a valid asciinema v2 recording; return what it prints."""
    lines = path.read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0])
    assert header["version"] == 2
    assert isinstance(header["width"], int) and isinstance(header["height"], int)
    last = 0.0
    printed = []
    for line in lines[1:]:
        time, kind, data = json.loads(line)
        assert isinstance(time, float | int) and time >= last and kind == "o" and isinstance(data, str)
        last = time
        printed.append(data)
    assert last > 5
    text = "".join(printed)
    at = 0
    for command in LOOP:
        found = text.find(f"$ {command}", at)
        assert found >= 0, f"{command!r} is not in {path} after position {at}"
        at = found
    return text


def check_svg(path: Path) -> None:
    svg = path.read_text(encoding="utf-8")
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "ait&#160;eval&#160;--compare" in svg or "ait\xa0eval\xa0--compare" in svg


def test_the_committed_recording_is_asciinema_v2_of_the_whole_loop():
    text = check_cast(REPO / "docs" / "demo.cast")
    assert "/tmp/" not in text  # the temporary home is shown as ~
    check_svg(REPO / "docs" / "demo.svg")


@pytest.mark.slow
def test_the_script_records_the_loop_again(tmp_path):
    r = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "record_demo.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    check_cast(tmp_path / "demo.cast")
    check_svg(tmp_path / "demo.svg")
