"""Run records: the npm tool's are read as they are and ours are readable by it; an upload killed at the price
question is shown as abandoned and its files are reused; URL passwords never reach output or records; `status`
fits the terminal, finds a run by a prefix of its model; `train --watch` takes --interval; one epoch figure."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest


def _runs(project):
    return json.loads(project.config_path.read_text())["runs"]


# -- the npm tool's run records ---------------------------------------------------------------------------------------
NPM_RUNS = [
    {
        "jobId": "ft-npm-done",
        "modelId": "user/Meta-Llama-3.1-8B-Instruct-Reference-support-3f2a",
        "provider": "together",
        "startedAt": "2026-01-02T10:00:00.000Z",
        "status": "completed",
        "hyperparameters": {
            "epochs": 3,
            "batchSize": 8,
            "learningRate": 0.00001,
            "loraR": 16,
            "loraAlpha": 32,
        },
    }
]


def test_status_reads_npm_run_records_without_the_network(ait, train_project):
    train_project.update_config(lambda c: c.update(runs=list(NPM_RUNS)))
    before = train_project.config_path.read_text()
    r = ait("status", cwd=train_project.root)  # no key, no server: a completed run needs neither
    assert r.exit_code == 0, r.output
    assert "ft-npm-done" in r.stdout and "user/Meta-Llama-3.1-8B-Instruct-Reference-support-3f2a" in r.stdout
    r = ait("status", "--all", cwd=train_project.root)
    assert r.exit_code == 0 and "completed" in r.stdout
    r = ait("status", "user/Meta-Llama", cwd=train_project.root)  # a prefix of the model
    assert r.exit_code == 0 and "ft-npm-done" in r.stdout
    assert train_project.config_path.read_text() == before


def test_an_active_npm_run_is_refreshed_and_written_back_in_its_shape(ait, train_project, together_env):
    assert ait("train", "--yes", cwd=train_project.root).exit_code == 0
    job_id = _runs(train_project)[0]["jobId"]
    npm_run = {
        "jobId": job_id,
        "provider": "together",
        "startedAt": "2026-01-02T10:00:00.000Z",
        "status": "pending",
    }
    train_project.update_config(lambda c: c.update(runs=[npm_run]))
    r = ait("status", "--watch", cwd=train_project.root)
    assert r.exit_code == 0, r.output
    (run,) = _runs(train_project)
    # what the npm tool's `eval` looks for: status "completed" and modelId
    assert run["status"] == "completed" and run["modelId"].startswith("user/") and "id" not in run
    from aitelier import Project
    from aitelier.evaluate.generate import default_model

    # `ait eval` finds the model too, and the provider that trained it
    assert default_model(Project.find(train_project.root)) == (run["modelId"], "together")


# -- killed at the price question ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_kill_before_the_create_shows_abandoned_and_the_rerun_reuses_the_uploads(
    ait, train_project, together_env
):
    together_env.fault(
        "POST", "/v1/fine-tunes/estimate-price", "slow", delay=30.0
    )  # stands in for the question
    env = {**os.environ, "AITELIER_TIMEOUT": "60"}
    child = subprocess.Popen(
        [sys.executable, "-m", "aitelier", "train", "--yes"],
        cwd=train_project.root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            runs = _runs(train_project)
            if runs and runs[0]["status"] == "uploaded":
                break
            time.sleep(0.02)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    together_env.faults.clear()
    (run,) = _runs(train_project)
    assert run["status"] == "uploaded"
    r = ait("status", "--all", cwd=train_project.root)
    assert r.exit_code == 0 and "abandoned" in r.stdout
    uploads = len(together_env.calls("POST", "/v1/files"))
    assert uploads == 2
    r = ait("train", "--yes", cwd=train_project.root)
    assert r.exit_code == 0, r.output
    assert "Reusing data/train.jsonl" in r.stderr and "Reusing data/val.jsonl" in r.stderr
    assert len(together_env.calls("POST", "/v1/files")) == 2  # nothing uploaded again
    old, new = _runs(train_project)
    assert old["status"] == "abandoned" and new["jobId"] in together_env.jobs
    assert new["files"]["train"]["fileId"] == old["files"]["train"]["fileId"]


def test_an_upload_the_provider_no_longer_has_is_sent_again(ait, train_project, together_env):
    assert ait("train", "--yes", cwd=train_project.root).exit_code == 0
    ait("cancel", "--yes", cwd=train_project.root)
    together_env.files.clear()  # deleted on the provider's side
    r = ait("train", "--yes", "--force-new", cwd=train_project.root)
    assert r.exit_code == 0, r.output
    assert "Reusing" not in r.stderr and len(together_env.calls("POST", "/v1/files")) == 4


# -- passwords in base URLs ------------------------------------------------------------------------------------------
def test_a_password_in_the_base_url_is_scrubbed_from_errors_and_records(
    ait, train_project, together_env, monkeypatch
):
    host = together_env.url.removeprefix("http://")
    monkeypatch.setenv("TOGETHER_BASE_URL", f"http://proxyuser:hunter2-Secret@{host}")
    monkeypatch.setenv("AITELIER_MAX_RETRIES", "0")
    together_env.accept_basic_auth = True  # a proxy in front of the provider checks the URL's credentials
    together_env.go_down_after("POST", "/v1/fine-tunes/estimate-price")  # the create cannot connect
    r = ait("train", "--yes", cwd=train_project.root)
    assert r.exit_code == 4 and "could not reach Together at http://proxyuser:***@" in r.stderr
    assert "hunter2-Secret" not in r.output
    (run,) = _runs(train_project)
    assert "proxyuser:***@" in run["error"] and "hunter2-Secret" not in train_project.config_path.read_text()


def test_a_password_in_the_base_url_is_not_printed_by_dry_run(ait, train_project, together_env, monkeypatch):
    host = together_env.url.removeprefix("http://")
    monkeypatch.setenv("TOGETHER_BASE_URL", f"http://proxyuser:hunter2-Secret@{host}")
    together_env.accept_basic_auth = True
    r = ait("train", "--dry-run", cwd=train_project.root)
    assert r.exit_code == 0, r.output
    assert "hunter2-Secret" not in r.output and "proxyuser:***@" in r.stdout


# -- status: width, model prefix; train --watch --interval --------------------------------------------------------------
def _many_runs(n):
    return [
        {
            "id": f"run-{i:012x}",
            "provider": "openai",
            "baseModel": "gpt-4.1-mini-2025-04-14",
            "status": "completed",
            "providerStatus": "succeeded",
            "jobId": f"ftjob-{'a' * 24}{i}",
            "fineTunedModel": f"ft:gpt-4.1-mini-2025-04-14:acme-research-lab:support-bot-v{i}:Bx9{i}",
            "startedAt": "2026-01-02T10:00:00.000Z",
            "finishedAt": "2026-01-02T11:00:00.000Z",
        }
        for i in range(n)
    ]


def test_status_all_fits_80_columns(ait, train_project, monkeypatch):
    train_project.update_config(lambda c: c.update(runs=_many_runs(3)))
    monkeypatch.setenv("COLUMNS", "80")
    r = ait("status", "--all", cwd=train_project.root)
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert len(lines) == 4 and max(len(line) for line in lines) <= 80
    assert "run-000000000002" in r.stdout and "completed (succeeded)" in r.stdout
    monkeypatch.setenv("COLUMNS", "250")
    wide = ait("status", "--all", cwd=train_project.root).stdout
    assert "ft:gpt-4.1-mini-2025-04-14:acme-research-lab:support-bot-v2:Bx92" in wide and "STARTED" in wide


def test_status_finds_a_run_by_a_unique_prefix_of_its_model(ait, train_project):
    runs = _many_runs(2)
    runs[1]["fineTunedModel"] = "ft:gpt-4.1-nano-2025-04-14:acme::Zz1"
    train_project.update_config(lambda c: c.update(runs=runs))
    r = ait("status", "ft:gpt-4.1-nano", cwd=train_project.root)
    assert r.exit_code == 0 and "run-000000000001" in r.stdout
    r = ait("status", "ft:gpt-4.1", cwd=train_project.root)
    assert r.exit_code == 2 and "matches 2 runs" in r.stderr


def test_train_watch_takes_an_interval(ait, train_project, together_env):
    r = ait("train", "--yes", "--watch", "--interval", "0", cwd=train_project.root)
    assert r.exit_code == 2 and "'--interval': 0.0 is not in the range x>0" in r.stderr
    assert together_env.requests == []
    r = ait("train", "--yes", "--watch", "--interval", "0.01", cwd=train_project.root)
    assert r.exit_code == 0, r.output
    assert "completed" in r.stdout or "succeeded" in r.stdout


# -- one epoch figure --------------------------------------------------------------------------------------------------
def test_format_and_train_use_the_same_epochs(ait, train_project, together_env):
    train_project.update_config(lambda c: c.update(epochs=5))
    r = ait("train", "--dry-run", "--json", cwd=train_project.root)
    assert r.exit_code == 0, r.output
    plan = json.loads(r.stdout)
    assert plan["request"]["body"]["n_epochs"] == 5 and plan["hyperparameters"]["epochs"] == 5
    r = ait("train", "--dry-run", "--json", "--epochs", "2", cwd=train_project.root)
    assert json.loads(r.stdout)["request"]["body"]["n_epochs"] == 2


def test_openai_price_is_tokens_times_epochs_times_the_table(ait, openai_project, openai_env):
    r = ait("train", "--dry-run", "--json", cwd=openai_project.root)
    assert r.exit_code == 0, r.output
    plan = json.loads(r.stdout)
    per_epoch = plan["trainTokens"]
    # gpt-4.1-mini: $5.00 per 1M training tokens (README), 3 epochs
    assert plan["estimate"]["trainTokens"] == 3 * per_epoch
    assert plan["estimate"]["usd"] == pytest.approx(3 * per_epoch * 5.00 / 1e6, abs=1e-4)
    assert re.search(r"\$\d", plan["price"])
