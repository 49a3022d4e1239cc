"""`ait train` end to end: the real CLI, the real SDKs, the loopback fake servers."""

from __future__ import annotations

import json
import os
import re
import socket

import pytest


def run_statuses(runs):
    return [r["status"] for r in runs]


# -- refusing before any work ---------------------------------------------------------------------------------------
def test_missing_train_file_advises_ait_format(ait, project, together_env):
    r = ait("train", "--yes", cwd=project.root)
    assert r.exit_code == 1
    assert "data/train.jsonl does not exist" in r.stderr and "ait format" in r.stderr
    assert together_env.requests == []


def test_empty_train_file_is_refused(ait, train_project, together_env):
    train_project.train_path.write_text("")
    r = ait("train", "--yes", cwd=train_project.root)
    assert r.exit_code == 3 and "data/train.jsonl is empty" in r.stderr
    assert together_env.requests == []


def test_train_file_older_than_the_examples_is_refused(ait, train_project, together_env):
    later = train_project.train_path.stat().st_mtime + 50
    os.utime(train_project.examples_path, (later, later))
    r = ait("train", "--yes", cwd=train_project.root)
    assert r.exit_code == 3 and "stale (the examples changed since `ait format`)" in r.stderr
    assert together_env.requests == []


def test_pending_ratings_in_the_journal_make_the_files_stale(ait, train_project, together_env):
    journal = train_project.store.journal_path
    journal.write_text("")
    later = train_project.train_path.stat().st_mtime + 50
    os.utime(journal, (later, later))
    r = ait("train", "--yes", cwd=train_project.root)
    assert r.exit_code == 3 and "stale (the examples changed since `ait format`)" in r.stderr


def test_broken_provider_rules_are_listed_by_line(ait, train_project, together_env):
    with train_project.train_path.open("a") as f:
        f.write(json.dumps({"messages": [{"role": "user", "content": "no answer"}]}) + "\n")
    os.utime(train_project.examples_path, (0, 0))
    r = ait("train", "--yes", cwd=train_project.root)
    assert r.exit_code == 3
    assert "data/train.jsonl:61" in r.stderr
    assert together_env.requests == []


def test_missing_key_fails_first_naming_the_variable(ait, train_project, fake_together, monkeypatch):
    monkeypatch.setenv("TOGETHER_BASE_URL", fake_together.url)
    r = ait("train", "--yes", cwd=train_project.root)
    assert r.exit_code == 1
    assert "TOGETHER_API_KEY is not set" in r.stderr and ".env" in r.stderr
    assert fake_together.requests == []


def test_key_from_the_project_dotenv(ait, train_project, fake_together, monkeypatch, runs_of):
    (train_project.root / ".env").write_text(
        f"TOGETHER_API_KEY={fake_together.api_key}\nTOGETHER_BASE_URL={fake_together.url}/v1\n"
    )
    monkeypatch.setenv("AITELIER_POLL_INTERVAL", "0.01")
    r = ait("train", "--yes", cwd=train_project.root)
    assert r.exit_code == 0, r.output
    assert runs_of(train_project)[0]["jobId"]
    assert fake_together.api_key not in train_project.config_path.read_text()


def test_without_a_terminal_or_yes_nothing_is_uploaded(ait, train_project, together_env, runs_of):
    r = ait("train", cwd=train_project.root)
    assert r.exit_code == 2 and "--yes" in r.stderr
    assert together_env.requests == [] and runs_of(train_project) == []


def test_hyperparameters_outside_the_model_limits_stop_before_upload(
    ait, train_project, together_env, runs_of
):
    r = ait("train", "--yes", "--lora-r", "128", "--epochs", "30", cwd=train_project.root)
    assert r.exit_code == 3
    assert "--epochs 30 is above" in r.stderr and "--lora-r 128 is above" in r.stderr
    assert [q.path for q in together_env.requests] == ["/v1/fine-tunes/models/limits"]
    assert runs_of(train_project) == []


def test_n_evals_without_a_validation_file(ait, train_project, together_env):
    train_project.val_path.unlink()
    r = ait("train", "--yes", "--n-evals", "4", cwd=train_project.root)
    assert r.exit_code == 3 and "--n-evals needs a validation file" in r.stderr
    assert together_env.requests == []


def test_unsupported_flag_for_the_provider(ait, train_project, together_env):
    r = ait("train", "--yes", "--lr-multiplier", "2", cwd=train_project.root)
    assert r.exit_code == 3 and "--lr-multiplier is not supported by Together" in r.stderr
    assert together_env.requests == []


# -- dry run ------------------------------------------------------------------------------------------------------
def test_dry_run_prints_the_exact_request_and_creates_nothing(ait, train_project, together_env, runs_of):
    r = ait("train", "--dry-run", "--epochs", "2", "--suffix", "v1", cwd=train_project.root)
    assert r.exit_code == 0, r.output
    assert "Dry run: nothing was uploaded and no job was created." in r.stdout
    assert '"n_epochs": 2' in r.stdout and re.search(r'"suffix": "v1-[0-9a-f]{8}"', r.stdout)
    assert "<file id of data/train.jsonl once uploaded>" in r.stdout
    assert "epochs <= 20" in r.stdout and "LoRA rank <= 64" in r.stdout
    assert [q.path for q in together_env.requests] == ["/v1/fine-tunes/models/limits"]
    assert runs_of(train_project) == []


def test_dry_run_json(ait, train_project, together_env):
    r = ait("train", "--dry-run", "--json", cwd=train_project.root)
    plan = json.loads(r.stdout)
    assert plan["dryRun"] is True and plan["provider"] == "together"
    assert plan["files"]["train"]["examples"] == 60 and len(plan["files"]["train"]["sha256"]) == 64
    assert plan["request"]["endpoint"] == "POST /v1/fine-tunes"
    assert plan["request"]["body"]["n_evals"] == 5  # a validation file is sent, so it is evaluated
    assert plan["hyperparameters"] == {
        "epochs": 3,
        "learningRate": 1e-05,
        "loraR": 16,
        "loraAlpha": 32,
        "loraDropout": 0.0,
        "nEvals": 5,
    }
    assert list(plan["limits"].items()) == [  # the model's published bounds, as the fake server sends them
        ("maxEpochs", 20),
        ("minLearningRate", 1e-06),
        ("maxLearningRate", 1.0),
        ("minBatchSize", 8),
        ("maxBatchSize", 32),
        ("maxLoraR", 64),
        ("maxEvals", 100),
    ]


def test_dry_run_without_validation_file_sends_none(ait, train_project, together_env):
    train_project.val_path.unlink()
    plan = json.loads(ait("train", "--dry-run", "--json", cwd=train_project.root).stdout)
    assert "validation_file" not in plan["request"]["body"] and plan["request"]["body"]["n_evals"] == 0
    assert "val" not in plan["files"]


# -- creating -----------------------------------------------------------------------------------------------------
def test_train_records_the_run_before_and_after(ait, train_project, together_env, runs_of):
    r = ait("train", "--yes", cwd=train_project.root)
    assert r.exit_code == 0, r.output
    assert "Started fine-tune ft-" in r.stdout and "$4.25" in r.stdout
    (run,) = runs_of(train_project)
    assert run["provider"] == "together" and run["baseModel"] == train_project.model
    assert (
        run["status"] == "pending" and run["providerStatus"] == "pending" and run["jobId"].startswith("ft-")
    )
    assert run["files"]["train"]["fileId"] and run["files"]["val"]["fileId"]
    assert run["files"]["train"]["examples"] == 60 and run["files"]["val"]["examples"] == 10
    import hashlib

    assert (
        run["files"]["train"]["sha256"] == hashlib.sha256(train_project.train_path.read_bytes()).hexdigest()
    )
    assert run["hyperparameters"]["epochs"] == 3 and run["estimate"]["usd"] == 4.25
    assert run["startedAt"].endswith("Z") and run["createRequestedAt"]
    assert len(together_env.calls("POST", "/v1/fine-tunes")) == 1
    text = train_project.config_path.read_text()
    assert together_env.api_key not in text


def test_json_prints_the_run(ait, train_project, together_env):
    r = ait("train", "--yes", "--json", cwd=train_project.root)
    record = json.loads(r.stdout)
    assert record["jobId"].startswith("ft-") and record["status"] == "pending"


def test_train_and_watch(ait, train_project, together_env, runs_of):
    r = ait("train", "--yes", "--watch", cwd=train_project.root)
    assert r.exit_code == 0, r.output
    assert "succeeded (completed)" in r.stdout and "Job finished" in r.stdout
    assert runs_of(train_project)[0]["fineTunedModel"].startswith("user/")


def test_a_rejected_file_leaves_a_failed_to_start_record(ait, train_project, together_env, runs_of):
    together_env.reject_files["train.jsonl"] = "Line 3: expected role assistant"
    r = ait("train", "--yes", cwd=train_project.root)
    assert r.exit_code == 3 and "Line 3: expected role assistant" in r.stderr
    (run,) = runs_of(train_project)
    assert run["status"] == "failed_to_start" and "Line 3" in run["error"] and "jobId" not in run
    assert together_env.calls("POST", "/v1/fine-tunes") == []


def test_identical_active_run_is_not_duplicated(ait, train_project, together_env, runs_of):
    assert ait("train", "--yes", cwd=train_project.root).exit_code == 0
    r = ait("train", "--yes", cwd=train_project.root)
    assert r.exit_code == 2
    assert "already trains" in r.stderr and "--force-new" in r.stderr
    assert len(together_env.calls("POST", "/v1/fine-tunes")) == 1 and len(runs_of(train_project)) == 1
    # a different setting is a different run
    assert ait("train", "--yes", "--epochs", "2", cwd=train_project.root).exit_code == 0
    assert ait("train", "--yes", "--force-new", cwd=train_project.root).exit_code == 0
    assert len(together_env.calls("POST", "/v1/fine-tunes")) == 3


def test_price_over_the_credit_limit_is_warned(ait, train_project, together_env):
    together_env.allowed_to_proceed = False
    r = ait("train", "--yes", cwd=train_project.root)
    assert r.exit_code == 0 and "more than your credit limit" in r.stderr


def test_other_provider_uses_its_default_model(ait, train_project, openai_env, runs_of):
    r = ait("train", "--yes", "--provider", "openai", cwd=train_project.root)
    assert r.exit_code == 0, r.output
    (run,) = runs_of(train_project)
    assert run["provider"] == "openai" and run["baseModel"].startswith("gpt-")
    assert openai_env.calls("POST", "/v1/fine_tuning/jobs")[0].json["metadata"] == {
        "aitelier_attempt": run["id"]
    }


def test_unknown_provider(ait, train_project):
    r = ait("train", "--yes", "--provider", "nosuch", "--model", "x", cwd=train_project.root)
    assert r.exit_code == 2 and "no provider named 'nosuch'" in r.stderr


def test_a_provider_without_a_trainer_says_so(ait, train_project):
    from aitelier.providers import registry

    registry.register("soon", None, default_model="m", unavailable="soon training is not available yet")
    try:
        r = ait("train", "--yes", "--provider", "soon", cwd=train_project.root)
    finally:
        registry.reset()
    assert r.exit_code == 2 and "soon training is not available yet" in r.stderr


# -- OpenAI -------------------------------------------------------------------------------------------------------
def test_openai_wind_down_is_one_line(ait, openai_project, openai_env, runs_of):
    openai_env.closed = True
    r = ait("train", "--yes", cwd=openai_project.root)
    assert r.exit_code == 4
    lines = r.stderr.strip().splitlines()
    error = [ln for ln in lines if ln.startswith("ait: error:")]
    assert len(error) == 1 and "--provider together" in error[0] and "--provider local" in error[0]
    (run,) = runs_of(openai_project)
    assert run["status"] == "failed_to_start" and "wound down" in run["error"]
    assert not run.get("createMayHaveSucceeded")


def test_openai_needs_ten_examples(ait, openai_project, openai_env, formatted):
    formatted(openai_project, n_train=5, n_val=0)
    r = ait("train", "--yes", cwd=openai_project.root)
    assert r.exit_code == 3 and "at least 10" in r.stderr
    assert openai_env.requests == []


def test_openai_dry_run_shows_a_local_price_estimate(ait, openai_project, openai_env):
    r = ait("train", "--dry-run", cwd=openai_project.root)
    assert r.exit_code == 0, r.output
    assert "local estimate" in r.stdout and "$" in r.stdout
    assert openai_env.requests == []  # OpenAI publishes no limits API: a dry run makes no request at all


# -- faults on job creation: retried where safe, never a second job, the record stays true -------------------------
def test_500_on_create_is_retried_once_nothing_was_created(ait, train_project, together_env, runs_of):
    together_env.fault("POST", "/v1/fine-tunes", "500")
    r = ait("train", "--yes", cwd=train_project.root)
    assert r.exit_code == 0, r.output
    assert len(together_env.calls("POST", "/v1/fine-tunes")) == 2 and len(together_env.jobs) == 1
    assert runs_of(train_project)[0]["jobId"] in together_env.jobs


@pytest.mark.parametrize("kind", ["500", "slow", "malformed", "close"])
def test_a_lost_answer_after_the_job_was_created_finds_it(kind, ait, train_project, together_env, runs_of):
    together_env.fault("POST", "/v1/fine-tunes", kind, process=True, delay=2.0)
    r = ait("train", "--yes", cwd=train_project.root)
    assert r.exit_code == 0, r.output
    assert len(together_env.jobs) == 1 and len(together_env.calls("POST", "/v1/fine-tunes")) == 1
    (run,) = runs_of(train_project)
    assert run["jobId"] == next(iter(together_env.jobs)) and not run.get("createMayHaveSucceeded")


def test_connection_dropped_before_processing_is_retried(ait, train_project, together_env):
    together_env.fault("POST", "/v1/fine-tunes", "close")
    r = ait("train", "--yes", cwd=train_project.root)
    assert r.exit_code == 0, r.output
    assert len(together_env.jobs) == 1 and len(together_env.calls("POST", "/v1/fine-tunes")) == 2


def test_429_on_create_waits_and_retries(ait, train_project, together_env):
    together_env.fault("POST", "/v1/fine-tunes", "429")
    r = ait("train", "--yes", cwd=train_project.root)
    assert r.exit_code == 0, r.output
    assert len(together_env.jobs) == 1 and len(together_env.calls("POST", "/v1/fine-tunes")) == 2
    assert together_env.calls("GET", "/v1/fine-tunes") == []  # a 429 was never processed: nothing to look up


def test_401_on_create_is_one_clear_line(ait, train_project, together_env, runs_of):
    together_env.fault("POST", "/v1/fine-tunes", "401")
    r = ait("train", "--yes", cwd=train_project.root)
    assert r.exit_code == 4
    assert "API key was refused (HTTP 401)" in r.stderr and "TOGETHER_API_KEY" in r.stderr
    (run,) = runs_of(train_project)
    assert (
        run["status"] == "failed_to_start" and "401" in run["error"] and not run.get("createMayHaveSucceeded")
    )
    assert together_env.api_key not in train_project.config_path.read_text()


def test_connection_refused_from_the_start(ait, train_project, together_env, monkeypatch, runs_of):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("TOGETHER_BASE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AITELIER_MAX_RETRIES", "0")
    r = ait("train", "--yes", cwd=train_project.root)
    assert r.exit_code == 4 and f"could not reach Together at http://127.0.0.1:{port}" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert runs_of(train_project) == []


def test_connection_refused_at_create_time_leaves_a_true_record(
    ait, train_project, together_env, runs_of, monkeypatch
):
    monkeypatch.setenv("AITELIER_MAX_RETRIES", "0")
    together_env.go_down_after(
        "POST", "/v1/fine-tunes/estimate-price"
    )  # the service vanishes before the create
    r = ait("train", "--yes", cwd=train_project.root)
    assert r.exit_code == 4
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("ait: error:")]
    assert len(errors) == 1 and "could not reach Together" in errors[0]
    (run,) = runs_of(train_project)
    # refused connections never carried the request: no job can exist, so none is looked for later
    assert run["status"] == "failed_to_start" and "could not reach Together" in run["error"]
    assert not run.get("createMayHaveSucceeded") and not together_env.jobs


def test_a_lost_create_is_recovered_by_the_next_train(ait, train_project, together_env, runs_of):
    # the create times out after the job was made, and the provider cannot be asked about it right away
    together_env.fault("POST", "/v1/fine-tunes", "slow", process=True, delay=2.0)
    together_env.fault("GET", "/v1/fine-tunes", "500", times=3)
    r = ait("train", "--yes", cwd=train_project.root)
    assert r.exit_code == 4
    assert "may have created the job" in r.stderr
    (run,) = runs_of(train_project)
    assert run["status"] == "failed_to_start" and run["createMayHaveSucceeded"] is True
    # running the same command again looks first, adopts the job, and creates nothing
    r = ait("train", "--yes", cwd=train_project.root)
    assert r.exit_code == 0, r.output
    assert "Not creating another one" in r.stderr
    (run,) = runs_of(train_project)
    assert run["jobId"] == next(iter(together_env.jobs)) and "createMayHaveSucceeded" not in run
    assert len(together_env.jobs) == 1 and len(together_env.calls("POST", "/v1/fine-tunes")) == 1


def test_upload_failure_is_recorded(ait, train_project, together_env, runs_of):
    together_env.fault("POST", "/v1/files", "500", times=5)
    r = ait("train", "--yes", cwd=train_project.root)
    assert r.exit_code == 4 and "server error (HTTP 500)" in r.stderr
    (run,) = runs_of(train_project)
    assert run["status"] == "failed_to_start" and "uploading train.jsonl failed" in run["error"]


def test_a_lost_create_stays_ambiguous_when_the_lookup_is_refused(ait, train_project, together_env, runs_of):
    together_env.fault("POST", "/v1/fine-tunes", "slow", process=True, delay=2.0)
    together_env.fault("GET", "/v1/fine-tunes", "401")
    r = ait("train", "--yes", cwd=train_project.root)
    assert r.exit_code == 4 and "looking for the job failed too" in r.stderr
    (run,) = runs_of(train_project)
    assert run["createMayHaveSucceeded"] is True  # the job does exist: the record must not say otherwise
    r = ait("status", cwd=train_project.root)
    assert r.exit_code == 0 and runs_of(train_project)[0]["jobId"] in together_env.jobs
