"""Run records (runs.py) and the watch loop's polling policy, without a network: a scripted in-memory provider."""

from __future__ import annotations

import pytest

from aitelier import runs, training
from aitelier.credentials import Credentials
from aitelier.errors import NotFound, UsageError
from aitelier.providers.base import (
    ChatResult,
    Hyperparameters,
    Job,
    JobEvent,
    JobRequest,
    JobStatus,
    Provider,
    ProviderRequestError,
    ProviderSettings,
    UploadedFile,
)


class ScriptedProvider(Provider):
    """Answers get_job from a list of (raw status, step) or exceptions; records every call."""

    name = "scripted"
    title = "Scripted"
    status_map = {"queued": JobStatus.QUEUED, "running": JobStatus.RUNNING, "done": JobStatus.SUCCEEDED}
    final_statuses = frozenset({"done"})
    supported = frozenset({"epochs"})

    def __init__(self, script):
        super().__init__(
            ProviderSettings(Credentials("scripted", "k" * 10, "SCRIPTED_API_KEY", "environment"))
        )
        self.script = list(script)
        self.events: list[JobEvent] = []

    def get_job(self, job_id):
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        raw, n = step
        if n is not None:
            self.events.append(JobEvent(f"e{len(self.events)}", float(len(self.events)), f"step {n}", step=n))
        return Job(job_id, self.map_status(raw), raw, self.is_final(raw), steps_completed=n, total_steps=10)

    def list_events(self, job_id, *, known=()):
        return [e for e in self.events if e.key not in known]

    def upload_file(self, path, *, on_progress=None):  # pragma: no cover - not used here
        return UploadedFile("f", path.name)

    def build_request(self, model, hp, **kw):  # pragma: no cover
        raise NotImplementedError

    def create_job(self, request):  # pragma: no cover
        raise NotImplementedError

    def find_job(self, request, *, exclude):
        return None

    def cancel_job(self, job_id):  # pragma: no cover
        raise NotImplementedError

    def chat(self, model, messages, **kw):  # pragma: no cover
        return ChatResult("")


@pytest.fixture
def record(project):
    return runs.add(
        project,
        {
            "id": "run-000000000001",
            "provider": "scripted",
            "baseModel": "m",
            "status": "queued",
            "jobId": "job-1",
        },
    )


def watch(project, provider, record, **kw):
    sleeps: list[float] = []
    polls: list[tuple[str, list[str]]] = []
    errors: list[str] = []
    snap = training.watch(
        project,
        provider,
        record,
        on_poll=lambda s, new: polls.append((s.job.raw_status, [e.message for e in new])),
        on_error=lambda e, wait: errors.append(str(e)),
        interval=1.0,
        max_interval=4.0,
        sleep=sleeps.append,
        **kw,
    )
    return snap, sleeps, polls, errors


def test_watch_backs_off_while_nothing_changes_and_resets_on_change(project, record):
    p = ScriptedProvider([("queued", None)] * 5 + [("running", 1), ("running", 2), ("done", None)])
    snap, sleeps, polls, _ = watch(project, p, record)
    assert snap.job.status is JobStatus.SUCCEEDED
    assert sleeps == [1.0, 1.5, 2.25, 3.375, 4.0, 1.0, 1.0]
    assert polls[5] == ("running", ["step 1"]) and polls[-1] == ("done", [])
    assert [e.message for e in snap.events] == ["step 1", "step 2"]  # all events, not only the last poll's
    saved = runs.find(project, "job-1")
    assert saved["status"] == "completed" and saved["finishedAt"]


def test_watch_retries_transient_errors_then_gives_up(project, record):
    flaky = ProviderRequestError("Scripted: fetching job failed: HTTP 503", retryable=True)
    p = ScriptedProvider([flaky, flaky, ("done", None)])
    snap, sleeps, _, errors = watch(project, p, record)
    assert snap.job.final and len(errors) == 2 and sleeps[:2] == [1.0, 1.5]
    p = ScriptedProvider([flaky] * 3)
    with pytest.raises(ProviderRequestError):
        watch(project, p, record, max_failures=3)


def test_watch_stops_at_once_on_a_permanent_error(project, record):
    p = ScriptedProvider([ProviderRequestError("HTTP 401", status_code=401), ("done", None)])
    with pytest.raises(ProviderRequestError, match="401"):
        watch(project, p, record)


def test_save_job_writes_only_when_something_changed(project, record):
    job = Job("job-1", JobStatus.QUEUED, "queued", False)
    before = project.config_path.stat().st_mtime_ns
    saved = training.save_job(project, {**record, "providerStatus": "queued"}, job)
    assert project.config_path.stat().st_mtime_ns == before and saved["status"] == "queued"


def test_update_and_remove_fields(project, record):
    out = runs.update(project, record["id"], {"error": "boom", "createMayHaveSucceeded": True})
    assert out["error"] == "boom" and out["createMayHaveSucceeded"] is True
    out = runs.update(project, record["id"], {"createMayHaveSucceeded": runs.REMOVE})
    assert "createMayHaveSucceeded" not in out
    with pytest.raises(NotFound):
        runs.update(project, "run-nope", {"status": "x"})


def test_errors_saved_in_runs_are_scrubbed(project, record, monkeypatch):
    monkeypatch.setenv("TOGETHER_API_KEY", "tok-very-secret-123")
    out = runs.update(
        project, record["id"], {"error": "rejected key tok-very-secret-123 (Bearer abcdefgh123)"}
    )
    assert "tok-very-secret-123" not in out["error"] and "abcdefgh123" not in out["error"]
    assert "tok-very-secret-123" not in project.config_path.read_text()


def test_keys_from_the_project_dotenv_are_scrubbed_too(project, record):
    (project.root / ".env").write_text("OPENAI_API_KEY=plainsecret-from-dotenv-999\n")
    out = runs.update(project, record["id"], {"error": "echoed plainsecret-from-dotenv-999 back"})
    assert out["error"] == "echoed *** back"


def test_find_by_run_id_job_id_model_or_prefix(project, record):
    runs.update(project, record["id"], {"fineTunedModel": "user/m-ft"})
    runs.add(project, {"id": "run-000000000002", "provider": "scripted", "status": "declined"})
    assert runs.find(project, "job-1")["id"] == record["id"]
    assert runs.find(project, "user/m-ft")["id"] == record["id"]
    assert runs.find(project, "run-000000000002")["status"] == "declined"
    with pytest.raises(UsageError, match="matches 2 runs"):
        runs.find(project, "run-0000")
    with pytest.raises(NotFound):
        runs.find(project, "nothing")


@pytest.mark.parametrize(
    ("record", "active"),
    [
        ({"jobId": "j", "status": "running"}, True),
        ({"jobId": "j", "status": "cancelled"}, False),  # cancel requested: not active for a new train
        ({"jobId": "j", "status": "succeeded", "finishedAt": "x"}, False),
        ({"status": "creating"}, True),
        ({"status": "failed_to_start", "createMayHaveSucceeded": True}, True),
        ({"status": "failed_to_start"}, False),
        ({"status": "uploading"}, False),
        ({"status": "declined"}, False),
    ],
)
def test_is_active(record, active):
    assert runs.is_active(record) is active


def test_identical_compares_files_model_and_settings():
    base = {
        "provider": "together",
        "baseModel": "m",
        "files": {"train": {"sha256": "a"}, "val": {"sha256": "b"}},
        "hyperparameters": {"epochs": 3},
    }
    kw = {"provider": "together", "model": "m", "shas": {"train": "a", "val": "b"}, "hyper": {"epochs": 3}}
    assert runs.same_attempt(base, **kw)
    assert not runs.same_attempt(base, **{**kw, "shas": {"train": "a", "val": None}})
    assert not runs.same_attempt(base, **{**kw, "hyper": {"epochs": 2}})
    assert not runs.same_attempt(base, **{**kw, "model": "other"})


def test_hyperparameters_record_round_trip():
    hp = Hyperparameters(epochs=2, batch_size=8, learning_rate=1e-4, lora_r=8, suffix="x")
    assert hp.to_record() == {"epochs": 2, "batchSize": 8, "learningRate": 1e-4, "loraR": 8, "suffix": "x"}
    assert Hyperparameters.from_record(hp.to_record()) == hp


def test_request_from_record_is_enough_to_find_the_job():
    rec = {
        "id": "run-1",
        "provider": "together",
        "baseModel": "m",
        "files": {"train": {"fileId": "f1"}},
        "hyperparameters": {"epochs": 3, "suffix": "s"},
    }
    req = training.request_from_record(rec)
    assert isinstance(req, JobRequest)
    assert (req.training_file, req.validation_file, req.model, req.attempt_id) == ("f1", None, "m", "run-1")
    assert req.hyperparameters["suffix"] == "s"
