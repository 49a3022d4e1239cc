"""The benchmarks' data generator must give the same bytes as the project's shared tool (same seed, same N),
so figures measured from a clone without shared/ stay comparable."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED_TOOL = REPO.parent / "shared" / "tools" / "make-examples"
BENCH = REPO / "bench" / "make_examples.py"


def generate(tool: Path, tmp_path: Path, *args: str) -> bytes:
    out = tmp_path / f"{tool.name}-{'-'.join(args)}.jsonl"
    subprocess.run([sys.executable, str(tool), *args[:1], str(out), *args[1:]], check=True)
    return out.read_bytes()


def test_generates_the_example_layout(tmp_path: Path) -> None:
    data = generate(BENCH, tmp_path, "50", "--seed", "3")
    rows = [json.loads(x) for x in data.splitlines()]
    assert [r["id"] for r in rows] == list(range(1, 51))
    assert {r["rating"] for r in rows} <= {None, 5, 7, 8, 9, 10}
    assert all(r["messages"][0] == {"role": "system", "content": "You are a support agent."} for r in rows)


@pytest.mark.skipif(not SHARED_TOOL.exists(), reason="the shared make-examples tool is not beside this clone")
@pytest.mark.parametrize("args", [("300",), ("300", "--seed", "11", "--multi-turn")])
def test_same_bytes_as_the_shared_tool(tmp_path: Path, args: tuple[str, ...]) -> None:
    assert generate(BENCH, tmp_path, *args) == generate(SHARED_TOOL, tmp_path, *args)
