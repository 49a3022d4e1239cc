"""The README's quick-start demo (`python3 dev.py demo`) runs the same steps as this test, offline."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _dev():
    spec = importlib.util.spec_from_file_location("aitelier_dev", REPO / "dev.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_steps_walk_the_main_job(ait, tmp_path):
    where = tmp_path / "customer-support"
    for step in _dev().demo_steps(where):
        r = ait(*step)
        assert r.exit_code == 0, (step, r.output)
    train = (where / "data" / "train.jsonl").read_text().splitlines()
    val = (where / "data" / "val.jsonl").read_text().splitlines()
    assert train and val
    assert all(set(json.loads(line)) == {"messages"} for line in train + val)
    stats = json.loads(ait("-C", str(where), "stats", "--json", "--no-tokens").stdout)
    assert stats["unrated"] == 0
    assert stats["train"] == len(train) and stats["val"] == len(val)
    assert "tokens" not in ait("-C", str(where), "stats", "--no-tokens").stdout.lower()
