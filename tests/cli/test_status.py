"""`ait status` (latest, REF, --json, --watch, --all) and `ait cancel` against the fake servers."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def started(ait, train_project, together_env, runs_of):
    """A project with one Together job just created."""
    r = ait("train", "--yes", cwd=train_project.root)
    assert r.exit_code == 0, r.output
    return runs_of(train_project)[0]


def test_no_runs_yet(ait, project):
    r = ait("status", cwd=project.root)
    assert r.exit_code == 0 and "No fine-tuning runs yet" in r.stdout
    assert json.loads(ait("status", "--all", "--json", cwd=project.root).stdout) == {"runs": []}
    assert json.loads(ait("status", "--json", cwd=project.root).stdout) == {"run": None}


def test_status_shows_the_latest_run_refreshed(ait, train_project, started):
    r = ait("status", cwd=train_project.root)
    assert r.exit_code == 0, r.output
    assert f"{started['id']} on together" in r.stdout and started["jobId"] in r.stdout
    assert "queued" in r.stdout and "job(s) ahead in the queue" in r.stdout
    assert "Fine tune request created" in r.stdout  # recent events
    assert "data/train.jsonl (60 examples" in r.stdout


def test_status_json(ait, train_project, started):
    out = json.loads(ait("status", "--json", cwd=train_project.root).stdout)
    assert out["run"]["id"] == started["id"] and out["job"]["status"] == "queued"
    assert out["job"]["providerStatus"] == "queued" and out["job"]["progress"]["queueDepth"] == 2
    assert out["events"][0]["message"] == "Fine tune request created"


def test_watch_follows_to_success_and_saves_the_model(ait, train_project, started, runs_of):
    r = ait("status", "--watch", cwd=train_project.root)
    assert r.exit_code == 0, r.output
    out = r.stdout
    for text in ("Training started", "Step 2/10", "step 5/10 (50%)", "epoch 1/3", "Job finished"):
        assert text in out
    assert "succeeded (completed); model user/" in out
    assert "* training loss" in out and "o validation loss" in out  # the loss plot
    # each event printed once
    assert out.count("Training started") == 1
    (run,) = runs_of(train_project)
    assert (
        run["status"] == "completed"
        and run["modelId"] == run["fineTunedModel"]
        and run["providerStatus"] == "completed"
    )
    assert run["fineTunedModel"].startswith("user/") and run["finishedAt"]


def test_status_of_a_finished_run_shows_the_loss_curve(ait, train_project, started):
    assert ait("status", "--watch", cwd=train_project.root).exit_code == 0
    r = ait("status", started["jobId"], cwd=train_project.root)
    assert r.exit_code == 0 and "Loss:" in r.stdout and "model       user/" in r.stdout


def test_watch_exits_5_when_the_job_fails(ait, train_project, together_env, runs_of):
    together_env.script = [{"status": "queued"}, {"status": "error", "message": "CUDA out of memory"}]
    assert ait("train", "--yes", cwd=train_project.root).exit_code == 0
    r = ait("status", "--watch", cwd=train_project.root)
    assert r.exit_code == 5
    assert "ended failed (error): CUDA out of memory" in r.stderr
    run = runs_of(train_project)[0]
    assert run["status"] == "failed" and run["error"] == "CUDA out of memory" and run["finishedAt"]


def test_watch_exits_5_when_the_job_is_cancelled(ait, train_project, started, together_env):
    together_env.jobs[started["jobId"]]["_script"] = [{"status": "running", "step": 1, "loss": 2.0}]
    assert ait("cancel", "--yes", cwd=train_project.root).exit_code == 0
    r = ait("status", "--watch", cwd=train_project.root)
    assert r.exit_code == 5 and "ended cancelled" in r.stderr


def test_watch_rides_out_a_transient_error(ait, train_project, started, together_env, monkeypatch):
    monkeypatch.setenv("AITELIER_MAX_RETRIES", "0")
    together_env.fault("GET", "/v1/fine-tunes/ft-.*", "500", times=2)
    r = ait("status", "--watch", cwd=train_project.root)
    assert r.exit_code == 0, r.output
    assert r.stderr.count("trying again in") == 2


def test_watch_gives_up_on_a_permanent_error(ait, train_project, started, together_env):
    together_env.fault("GET", "/v1/fine-tunes/ft-.*", "401", times=1)
    r = ait("status", "--watch", cwd=train_project.root)
    assert r.exit_code == 4 and "TOGETHER_API_KEY" in r.stderr


def test_unknown_provider_status_is_shown_raw(ait, train_project, together_env, runs_of):
    together_env.script = [{"status": "paused_for_maintenance"}]
    assert ait("train", "--yes", cwd=train_project.root).exit_code == 0
    r = ait("status", cwd=train_project.root)
    assert r.exit_code == 0 and "unknown (paused_for_maintenance)" in r.stdout
    run = runs_of(train_project)[0]
    assert run["status"] == "unknown" and run["providerStatus"] == "paused_for_maintenance"


def test_status_all_keeps_other_runs_updates_when_one_fails(
    ait, train_project, started, together_env, runs_of
):
    # a second, hand-made run on OpenAI whose key is missing: it cannot be refreshed
    cfg = json.loads(train_project.config_path.read_text())
    cfg["runs"].insert(
        0,
        {
            "id": "run-openai000001",
            "provider": "openai",
            "baseModel": "gpt-4.1-mini",
            "status": "running",
            "jobId": "ftjob-old",
            "startedAt": "2026-01-01T00:00:00.000Z",
        },
    )
    train_project.config_path.write_text(json.dumps(cfg))
    r = ait("status", "--all", cwd=train_project.root)
    assert r.exit_code == 4
    lines = r.stdout.splitlines()
    assert lines[0].split()[:3] == ["RUN", "PROVIDER", "STATUS"]
    assert "run-openai000001" in lines[1] and "[not refreshed]" in lines[1]
    assert started["id"] in lines[2] and "queued" in lines[2]
    assert "OPENAI_API_KEY is not set" in r.stderr
    runs = {x["id"]: x for x in runs_of(train_project)}
    assert runs[started["id"]]["status"] == "queued"  # the Together run was updated and saved
    assert runs["run-openai000001"]["status"] == "running"


def test_status_all_json(ait, train_project, started):
    out = json.loads(ait("status", "--all", "--json", cwd=train_project.root).stdout)
    assert [r["id"] for r in out["runs"]] == [started["id"]] and out["errors"] == {}


def test_status_all_of_finished_runs_needs_no_network(ait, train_project, started, together_env):
    assert ait("status", "--watch", cwd=train_project.root).exit_code == 0
    before = len(together_env.requests)
    r = ait("status", "--all", cwd=train_project.root)
    assert r.exit_code == 0 and " completed " in r.stdout
    assert len(together_env.requests) == before


def test_status_by_unknown_ref(ait, train_project, started):
    r = ait("status", "ft-nope", cwd=train_project.root)
    assert r.exit_code == 1 and "no run with id, job id or model 'ft-nope'" in r.stderr


def test_status_recovers_a_lost_create(ait, train_project, together_env, runs_of):
    together_env.fault("POST", "/v1/fine-tunes", "slow", process=True, delay=2.0)
    together_env.fault("GET", "/v1/fine-tunes", "500", times=3)
    assert ait("train", "--yes", cwd=train_project.root).exit_code == 4
    r = ait("status", cwd=train_project.root)
    assert r.exit_code == 0, r.output
    (run,) = runs_of(train_project)
    assert run["jobId"] == next(iter(together_env.jobs)) and "createMayHaveSucceeded" not in run


def test_status_shows_a_failed_start(ait, train_project, together_env):
    together_env.reject_files["train.jsonl"] = "bad line 2"
    ait("train", "--yes", cwd=train_project.root)
    before = len(together_env.requests)
    r = ait("status", cwd=train_project.root)
    assert r.exit_code == 0 and "failed_to_start" in r.stdout and "bad line 2" in r.stdout
    assert len(together_env.requests) == before  # nothing to ask the provider


# -- cancel -------------------------------------------------------------------------------------------------------
def test_cancel_needs_yes_without_a_terminal(ait, train_project, started, together_env):
    r = ait("cancel", cwd=train_project.root)
    assert r.exit_code == 2 and "--yes" in r.stderr
    assert together_env.calls("POST", "/v1/fine-tunes/.*/cancel") == []


def test_cancel_latest_active(ait, train_project, started, together_env, runs_of):
    r = ait("cancel", "--yes", cwd=train_project.root)
    assert r.exit_code == 0 and f"Cancel requested for {started['jobId']}" in r.stdout
    assert "cancelled (cancel_requested)" in r.stdout
    run = runs_of(train_project)[0]
    assert run["status"] == "cancelled" and run["providerStatus"] == "cancel_requested"
    assert "finishedAt" not in run  # not final until the provider says cancelled
    ait("status", cwd=train_project.root)
    run = runs_of(train_project)[0]
    assert run["providerStatus"] == "cancelled" and run["finishedAt"]
    r = ait("cancel", "--yes", cwd=train_project.root)
    assert r.exit_code == 1 and "no active fine-tune to cancel" in r.stderr


def test_cancel_by_job_id_of_an_ended_job(ait, train_project, started):
    assert ait("status", "--watch", cwd=train_project.root).exit_code == 0
    r = ait("cancel", "--yes", started["jobId"], cwd=train_project.root)
    assert r.exit_code == 2 and "already ended" in r.stderr


def test_openai_status_and_cancel(ait, openai_project, openai_env, runs_of):
    assert ait("train", "--yes", cwd=openai_project.root).exit_code == 0
    r = ait("status", cwd=openai_project.root)
    assert r.exit_code == 0 and "queued" in r.stdout
    r = ait("cancel", "--yes", cwd=openai_project.root)
    assert r.exit_code == 0 and "cancelled" in r.stdout
    assert runs_of(openai_project)[0]["finishedAt"]


def test_openai_status_keeps_working_after_the_wind_down(ait, openai_project, openai_env, runs_of):
    assert ait("train", "--yes", cwd=openai_project.root).exit_code == 0
    openai_env.closed = True
    r = ait("status", "--watch", cwd=openai_project.root)
    assert r.exit_code == 0, r.output
    assert runs_of(openai_project)[0]["fineTunedModel"].startswith("ft:")
    assert "step 8/12" in r.stdout and "* training loss" in r.stdout
