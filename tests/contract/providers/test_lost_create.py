"""A create whose answer is lost never leads to a second job, whatever either clock says: the job is found by
what the provider echoes (our attempt tag in the suffix, the files, the model, OpenAI's metadata)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from aitelier.providers import registry
from aitelier.providers.base import Hyperparameters
from aitelier.training import request_from_record


def _runs(project):
    return json.loads(project.config_path.read_text())["runs"]


@pytest.mark.parametrize("offset", [-7200.0, 7200.0])
def test_a_lost_create_is_found_whatever_the_providers_clock_says(offset, ait, train_project, together_env):
    together_env.clock_offset = offset  # the provider's clock two hours behind (or ahead of) ours
    together_env.fault("POST", "/v1/fine-tunes", "500", process=True)
    r = ait("train", "--yes", cwd=train_project.root)
    assert r.exit_code == 0, r.output
    assert len(together_env.jobs) == 1 and len(together_env.calls("POST", "/v1/fine-tunes")) == 1
    assert _runs(train_project)[0]["jobId"] == next(iter(together_env.jobs))


def test_openai_create_is_never_resent_by_the_sdk(ait, openai_project, openai_env):
    openai_env.fault("POST", "/v1/fine_tuning/jobs", "500", process=True)
    r = ait("train", "--yes", cwd=openai_project.root)
    assert r.exit_code == 0, r.output
    assert len(openai_env.jobs) == 1 and len(openai_env.calls("POST", "/v1/fine_tuning/jobs")) == 1


def test_openai_server_without_metadata_is_matched_on_files_model_and_suffix(ait, openai_project, openai_env):
    openai_env.metadata_filter = False
    openai_env.keep_metadata = False
    openai_env.fault("POST", "/v1/fine_tuning/jobs", "500", process=True)
    r = ait("train", "--yes", "--suffix", "support", cwd=openai_project.root)
    assert r.exit_code == 0, r.output
    assert len(openai_env.jobs) == 1 and _runs(openai_project)[0]["jobId"] in openai_env.jobs


# -- the Together matching filters ---------------------------------------------------------------------------------
def test_together_matching_needs_our_tag_files_and_model(train_project, together_env, formatted):
    r_ok = _started_by_hand(train_project, together_env, attempt="run-aaaaaaaa0000")
    p = registry.connect("together", train_project.root)
    try:
        request = request_from_record(r_ok)
        job = p.find_job(request, exclude=())
        assert job is not None and job.id == r_ok["jobId"]
        assert p.find_job(request, exclude={job.id}) is None  # a job another run already owns
        for changed in (
            {"id": "run-bbbbbbbb0000"},  # another attempt's tag
            {"baseModel": "another/model"},
            {"files": {"train": {"fileId": "file-other"}}},
            {"files": {**r_ok["files"], "val": {"fileId": "file-val"}}},
        ):
            assert p.find_job(request_from_record({**r_ok, **changed}), exclude=()) is None, changed
    finally:
        p.close()


def _started_by_hand(project, server, *, attempt):
    """A job created through the provider with attempt id ``attempt``, and the run record that made it."""
    p = registry.connect("together", project.root)
    try:
        up = p.wait_until_processed(p.upload_file(project.train_path), poll_interval=0.001)
        limits = p.model_limits(project.model)
        req = p.build_request(
            project.model,
            Hyperparameters(),
            training_file=up.id,
            validation_file=None,
            attempt_id=attempt,
            limits=limits,
        )
        job = p.create_job(req)
    finally:
        p.close()
    return {
        "id": attempt,
        "provider": "together",
        "baseModel": project.model,
        "files": {"train": {"fileId": up.id}},
        "jobId": job.id,
    }


# -- the job never created ------------------------------------------------------------------------------------------
def test_a_create_that_never_happened_is_recorded_as_such(ait, train_project, together_env, monkeypatch):
    monkeypatch.setenv("AITELIER_MAX_RETRIES", "0")
    together_env.fault("POST", "/v1/fine-tunes", "slow", delay=2.0)  # times out; the job is never made
    r = ait("train", "--yes", cwd=train_project.root)
    assert r.exit_code == 4 and "may have created the job" in r.stderr
    (run,) = _runs(train_project)
    assert run["createMayHaveSucceeded"] is True and not together_env.jobs
    r = ait("status", cwd=train_project.root)
    assert r.exit_code == 0, r.output
    (run,) = _runs(train_project)
    assert "createMayHaveSucceeded" not in run and run["status"] == "failed_to_start"
    r = ait("train", "--yes", cwd=train_project.root)  # now a fresh attempt creates exactly one job
    assert r.exit_code == 0, r.output
    assert len(together_env.jobs) == 1


def test_a_run_stuck_in_creating_with_no_job_becomes_never_created(ait, train_project, together_env):
    up = _started_by_hand(train_project, together_env, attempt="run-cccccccc0000")
    together_env.jobs.clear()  # the create never reached the provider
    record = {**up, "status": "creating"}
    del record["jobId"]
    train_project.update_config(lambda c: c["runs"].append(record))
    r = ait("status", cwd=train_project.root)
    assert r.exit_code == 0, r.output
    (run,) = _runs(train_project)
    assert run["status"] == "failed_to_start" and "never created" in run["error"]


# -- SIGKILL while the create is in flight --------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("trial", range(3))
def test_sigkill_during_the_create_then_status_and_train_make_no_second_job(
    trial, ait, train_project, together_env
):
    together_env.fault("POST", "/v1/fine-tunes", "slow", process=True, delay=30.0)
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
        while (
            not together_env.jobs and time.monotonic() < deadline
        ):  # the job exists; the answer has not come
            time.sleep(0.02)
        assert together_env.jobs
        time.sleep(0.05 * trial)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    together_env.faults.clear()
    (run,) = _runs(train_project)
    assert run["status"] == "creating" and "jobId" not in run
    r = ait("status", cwd=train_project.root)
    assert r.exit_code == 0, r.output
    (run,) = _runs(train_project)
    assert run["jobId"] == next(iter(together_env.jobs))
    r = ait("train", "--yes", cwd=train_project.root)
    assert r.exit_code == 2 and "already trains" in r.stderr  # no second job, and it says why
    assert len(together_env.jobs) == 1 and len(together_env.calls("POST", "/v1/fine-tunes")) == 1
