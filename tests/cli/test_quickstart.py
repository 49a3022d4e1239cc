"""The README's quick-start demo (`python3 dev.py demo`) runs the same steps as this test, offline."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _dev():
    spec = importlib.util.spec_from_file_location("aitelier_dev", REPO / "dev.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_demo_steps_walk_the_main_job(ait, tmp_path):
    from helpers.local import tiny_model

    dev = _dev()
    where = tmp_path / "customer-support"
    for step in dev.demo_steps(where, str(tiny_model())):
        r = ait(*step)
        assert r.exit_code == 0, (step, r.output)
        if step[-1] == "format":
            assert "wrote data/train.jsonl" in r.output
    train = (where / "data" / "train.jsonl").read_text().splitlines()
    val = (where / "data" / "val.jsonl").read_text().splitlines()
    assert train and val
    assert all(set(json.loads(line)) == {"messages"} for line in train + val)
    stats = json.loads(ait("-C", str(where), "stats", "--json", "--no-tokens").stdout)
    assert stats["unrated"] == 0
    assert stats["train"] == len(train) and stats["val"] == len(val)
    assert "tokens" not in ait("-C", str(where), "stats", "--no-tokens").stdout.lower()

    status = json.loads(ait("-C", str(where), "status", "--json").stdout)
    assert status["run"]["provider"] == "local" and status["run"]["status"] == "completed"
    report = dev.demo_report(where, status)
    assert report[0].startswith("Validation loss: ") and " before training, " in report[0]
    assert sum(line.startswith("ROUGE-L against the expected answers") for line in report) == 2
    assert any("fine-tuned" in line for line in report) and any("base" in line for line in report)
    assert (where / "runs" / status["run"]["id"] / "adapter" / "adapter_model.safetensors").exists()
    (result,) = (where / "data" / "evals").glob("*.json")
    assert len(json.loads(result.read_text())["items"]) == len(val)


def test_rouge_l_is_the_longest_common_word_subsequence_f1():
    rouge_l = _dev().rouge_l
    assert rouge_l("the parcel left today", "the parcel left today") == 1.0
    assert rouge_l("", "anything") == 0.0
    assert rouge_l("a b c d", "a x c y") == 0.5  # LCS "a c": precision 2/4, recall 2/4
    assert rouge_l("Refund sent", "refund was sent") == 2 * (1.0 * 2 / 3) / (1.0 + 2 / 3)
