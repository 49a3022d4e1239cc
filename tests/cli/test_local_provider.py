"""`ait train`, `status`, `cancel` and `eval` on a local project: a detached training process with a tiny model
built in the test (no download), followed through its run directory."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from helpers.local import local_stack, tiny_model


@pytest.fixture
def local_project(ait, tmp_path):
    local_stack()
    root = tmp_path / "cs"
    for step in (
        ["init", "--example", "customer-support", str(root)],
        ["-C", str(root), "config", "set", "provider", "local"],
        ["-C", str(root), "config", "set", "model", str(tiny_model())],
        ["-C", str(root), "split"],
        ["-C", str(root), "format"],
    ):
        r = ait(*step)
        assert r.exit_code == 0, (step, r.output)
    return root


def status(ait, root):
    r = ait("-C", str(root), "status", "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def wait_for(ait, root, done, timeout=180.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = status(ait, root)
        if done(s):
            return s
        time.sleep(0.5)
    raise AssertionError(f"timed out; last status: {s}")


def process(root, run_id):
    path = root / "runs" / run_id / "process.json"
    deadline = time.monotonic() + 30
    while not path.exists():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return json.loads(path.read_text())


@pytest.mark.slow
def test_a_background_job_reports_progress_and_completes_with_an_adapter_that_eval_runs(ait, local_project):
    root = local_project
    started = time.monotonic()
    r = ait("-C", str(root), "train", "--epochs", "2", "--batch-size", "8", "--learning-rate", "0.05")
    assert r.exit_code == 0, r.output
    assert time.monotonic() - started < 10  # returns at once: the training runs in its own process
    assert "ait status --watch" in r.stdout and "ait cancel" in r.stdout
    run = json.loads((root / ".aitelier.json").read_text())["runs"][-1]
    assert run["provider"] == "local" and run["hyperparameters"]["epochs"] == 2

    seen = wait_for(ait, root, lambda s: s["job"]["progress"]["step"])
    assert seen["job"]["progress"]["totalSteps"] == 6  # 22 training examples, 8 per step, 2 epochs
    r = ait("-C", str(root), "status", "--watch", "--interval", "0.5")
    assert r.exit_code == 0, r.output
    assert "succeeded" in r.stdout
    final = status(ait, root)
    assert final["run"]["status"] == "completed"
    events = [e["message"] for e in final["events"]]
    assert any(m.startswith("step 6/6: training loss") for m in events)
    val = [p["val"] for p in final["loss"] if p["val"] is not None]
    assert len(val) == 3  # before training, then after each epoch
    adapter = final["run"]["fineTunedModel"]
    assert adapter == str(root / "runs" / run["id"] / "adapter")
    assert {"adapter_model.safetensors", "adapter_config.json", "tokenizer.json"} <= set(os.listdir(adapter))
    assert "*" in (root / "runs" / ".gitignore").read_text().splitlines()

    r = ait("-C", str(root), "export", run["id"], "--merged", str(root / "merged"))
    assert r.exit_code == 0, r.output
    assert (root / "merged" / "config.json").exists() and (root / "merged" / "model.safetensors").exists()

    # eval of base vs fine-tuned, fully offline, against the local model
    r = ait("-C", str(root), "eval", "--compare", "--no-score", "--max-tokens", "8", "--seed", "1")
    assert r.exit_code == 0, r.output
    name = r.stdout.strip().splitlines()[-1]
    result = json.loads((root / "data" / "evals" / os.path.basename(name)).read_text())
    assert len(result["items"]) == 5
    models = {result["items"][0]["a_model"], result["items"][0]["b_model"]}
    assert models == {adapter, str(tiny_model())}
    assert all(isinstance(i["a_output"], str) and isinstance(i["b_output"], str) for i in result["items"])


@pytest.mark.slow
def test_a_killed_job_shows_as_failed_with_the_reason(ait, local_project):
    root = local_project
    assert ait("-C", str(root), "train", "--epochs", "100").exit_code == 0
    run_id = json.loads((root / ".aitelier.json").read_text())["runs"][-1]["id"]
    os.kill(process(root, run_id)["pid"], signal.SIGKILL)
    s = wait_for(ait, root, lambda s: s["job"]["final"], timeout=30)
    assert s["job"]["status"] == "failed"
    assert "ended without finishing (killed, out of memory, or the machine restarted)" in s["job"]["error"]
    assert s["run"]["status"] == "failed" and "ended without finishing" in s["run"]["error"]
    r = ait("-C", str(root), "status")
    assert "error" in r.stdout and "ended without finishing" in r.stdout


@pytest.mark.slow
def test_ait_cancel_stops_the_process(ait, local_project):
    import psutil

    root = local_project
    assert ait("-C", str(root), "train", "--epochs", "100").exit_code == 0
    run_id = json.loads((root / ".aitelier.json").read_text())["runs"][-1]["id"]
    pid = process(root, run_id)["pid"]
    r = ait("-C", str(root), "cancel", "--yes")
    assert r.exit_code == 0, r.output
    assert status(ait, root)["job"]["status"] == "cancelled"
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_without_the_extra_train_names_the_install_command(ait, tmp_path):
    import subprocess
    import sys

    root = tmp_path / "p"
    assert ait("init", "--example", "customer-support", str(root)).exit_code == 0
    assert ait("-C", str(root), "config", "set", "provider", "local").exit_code == 0
    hide = (
        "import sys; sys.modules['torch'] = None; from aitelier.cli.main import run; run()"  # not installed
    )
    r = subprocess.run(
        [sys.executable, "-c", hide, "train"], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[0] == (
        "ait: error: the local provider needs torch: pip install 'aitelier-cli[local]'"
    )


@pytest.mark.slow
def test_dpo_after_sft_from_its_run_trains_in_the_background(ait, local_project):
    """SFT, then DPO continuing from that run's adapter, on the pairs of rewritten examples."""
    root = local_project
    for i, ident in enumerate((1, 2, 3, 5, 6, 22)):
        (root / "new.txt").write_text(f"A short, precise answer number {i}.")
        r = ait("-C", str(root), "rate", "--rewrite", str(ident), "--output", str(root / "new.txt"))
        assert r.exit_code == 0, r.output
        assert ait("-C", str(root), "rate", "--set", f"{ident}=9").exit_code == 0
    assert ait("-C", str(root), "split").exit_code == 0
    assert ait("-C", str(root), "format").exit_code == 0
    r = ait("-C", str(root), "train", "--epochs", "1", "--batch-size", "8", "--learning-rate", "0.05")
    assert r.exit_code == 0, r.output
    assert ait("-C", str(root), "status", "--watch", "--interval", "0.5").exit_code == 0
    sft = json.loads((root / ".aitelier.json").read_text())["runs"][-1]

    r = ait("-C", str(root), "format", "--method", "dpo")
    assert r.exit_code == 0, r.output
    r = ait(
        "-C",
        str(root),
        "train",
        "--method",
        "dpo",
        "--from",
        sft["id"],
        "--epochs",
        "2",
        "--batch-size",
        "2",
        "--learning-rate",
        "0.01",
        "--dpo-beta",
        "0.2",
    )
    assert r.exit_code == 0, r.output
    assert "Started DPO fine-tune" in r.stdout
    dpo = json.loads((root / ".aitelier.json").read_text())["runs"][-1]
    assert (dpo["method"], dpo["fromRun"], dpo["hyperparameters"]["dpoBeta"]) == ("dpo", sft["id"], 0.2)
    request = json.loads((root / "runs" / dpo["id"] / "request.json").read_text())
    assert request["method"] == "dpo" and request["fromAdapter"] == sft["fineTunedModel"]
    assert request["trainingFile"].endswith("train.dpo.jsonl")
    r = ait("-C", str(root), "status", "--watch", "--interval", "0.5")
    assert r.exit_code == 0, r.output
    final = status(ait, root)
    assert final["run"]["status"] == "completed" and final["run"]["method"] == "dpo"
    assert any("preference pairs, DPO" in e["message"] for e in final["events"])
    train_losses = [p["train"] for p in final["loss"] if p["train"] is not None]
    assert len(train_losses) >= 2
    assert os.path.exists(os.path.join(final["run"]["fineTunedModel"], "adapter_model.safetensors"))
