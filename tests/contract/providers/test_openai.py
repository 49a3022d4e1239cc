"""The OpenAI provider driven through the real `openai` SDK (httpx2) against the loopback fake server."""

from __future__ import annotations

import json

import pytest

from aitelier.credentials import Credentials
from aitelier.providers.base import (
    FineTuningClosed,
    Hyperparameters,
    JobStatus,
    ProviderRequestError,
    ProviderSettings,
)
from aitelier.providers.openai import OpenAIProvider, is_fine_tuning_closed

MODEL = "gpt-4.1-mini-2025-04-14"


@pytest.fixture
def provider(fake_openai):
    creds = Credentials(
        "openai", fake_openai.api_key, "OPENAI_API_KEY", "environment", fake_openai.url + "/v1"
    )
    p = OpenAIProvider(ProviderSettings(creds, timeout=1.0, max_retries=2))
    yield p
    p.close()


@pytest.fixture
def uploaded(provider, tmp_path):
    path = tmp_path / "train.jsonl"
    line = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    path.write_text(json.dumps(line) + "\n")
    return provider.upload_file(path)


def request(provider, file_id, attempt="run-abc", **hp):
    return provider.build_request(
        MODEL,
        Hyperparameters(**hp),
        training_file=file_id,
        validation_file=None,
        attempt_id=attempt,
        limits=None,
    )


def test_upload_sends_the_file_for_fine_tuning(provider, fake_openai, uploaded):
    form = fake_openai.calls("POST", "/v1/files")[0].form
    assert form["purpose"] == "fine-tune" and form["file"][0] == "train.jsonl"
    assert form["file"][1].startswith(b'{"messages"')
    assert uploaded.id.startswith("file-") and not uploaded.failed


def test_request_uses_the_supervised_method_and_tags_the_attempt(provider, uploaded):
    req = request(provider, uploaded.id, epochs=4, batch_size=8, lr_multiplier=0.5, suffix="support", seed=7)
    assert req.payload == {
        "model": MODEL,
        "training_file": uploaded.id,
        "suffix": "support",
        "seed": 7,
        "method": {
            "type": "supervised",
            "supervised": {
                "hyperparameters": {"n_epochs": 4, "batch_size": 8, "learning_rate_multiplier": 0.5}
            },
        },
        "metadata": {"aitelier_attempt": "run-abc"},
    }


def test_lifecycle_events_and_loss(provider, fake_openai, uploaded):
    job = provider.create_job(request(provider, uploaded.id))
    assert job.status is JobStatus.PENDING and job.raw_status == "validating_files"
    seen = []
    while not job.final:
        job = provider.get_job(job.id)
        seen.append(job.status.value)
    assert seen == ["queued", "running", "running", "running", "succeeded"]
    assert job.output_model.startswith(f"ft:{MODEL}:")
    events = provider.list_events(job.id)
    assert events[0].message.startswith("Created fine-tuning job") and events[-1].message.endswith(
        "completed"
    )
    loss = provider.loss_curve(job.id, events)
    assert [(p.step, p.train, p.val) for p in loss] == [(4.0, 2.0, 2.2), (8.0, 1.3, 1.5), (12.0, 0.8, 1.1)]


def test_events_are_paged_until_a_known_event(provider, fake_openai, uploaded):
    job = provider.create_job(request(provider, uploaded.id))
    for _ in range(5):
        provider.get_job(job.id)
    fake_openai.page_size = 2  # newest first, two per page: every event needs three pages
    everything = provider.list_events(job.id)
    assert len(everything) == 6 and [e.created_at for e in everything] == sorted(
        e.created_at for e in everything
    )
    assert len(fake_openai.calls("GET", f"/v1/fine_tuning/jobs/{job.id}/events")) == 3
    before = len(fake_openai.calls("GET", f"/v1/fine_tuning/jobs/{job.id}/events"))
    newer = provider.list_events(job.id, known={e.key for e in everything[:-1]})
    assert [e.key for e in newer] == [everything[-1].key]
    assert len(fake_openai.calls("GET", f"/v1/fine_tuning/jobs/{job.id}/events")) == before + 1


def test_find_job_uses_the_attempt_metadata(provider, fake_openai, uploaded):
    req = request(provider, uploaded.id)
    assert provider.find_job(req, exclude=()) is None
    job = provider.create_job(req)
    other = provider.create_job(request(provider, uploaded.id, attempt="run-other"))
    assert other.id != job.id
    found = provider.find_job(req, exclude=())
    assert found is not None and found.id == job.id
    query = fake_openai.calls("GET", "/v1/fine_tuning/jobs")[-1].query
    assert query["metadata[aitelier_attempt]"] == ["run-abc"]


def test_find_job_checks_the_metadata_itself(provider, fake_openai, uploaded):
    fake_openai.metadata_filter = False  # a server that ignores the filter must not match other jobs
    provider.create_job(request(provider, uploaded.id, attempt="someone-else"))
    assert provider.find_job(request(provider, uploaded.id), exclude=()) is None


def test_wind_down_refusal_is_one_line_pointing_elsewhere(provider, fake_openai, uploaded):
    fake_openai.closed = True
    with pytest.raises(FineTuningClosed) as e:
        provider.create_job(request(provider, uploaded.id))
    text = str(e.value)
    assert "\n" not in text
    assert "no longer lets this account create fine-tuning jobs" in text
    assert "--provider together" in text and "--provider local" in text


def test_existing_jobs_keep_working_after_the_wind_down(provider, fake_openai, uploaded):
    job = provider.create_job(request(provider, uploaded.id))
    fake_openai.closed = True
    assert provider.get_job(job.id).id == job.id
    assert provider.cancel_job(job.id).status is JobStatus.CANCELLED
    assert provider.chat("ft:gpt-4.1-mini:org::abc", [{"role": "user", "content": "hi"}]).text == "echo: hi"


@pytest.mark.parametrize(
    ("status", "message", "closed"),
    [
        (403, "You do not have access to fine-tuning", True),
        (400, "Fine-tuning is not available for your organization", True),
        (400, "invalid training_file: file-x", False),
        (404, "model not found", False),
        (None, "fine-tuning is disabled", False),
    ],
)
def test_closed_detection(status, message, closed):
    assert is_fine_tuning_closed(status, message) is closed


def test_chat_sends_max_completion_tokens(provider, fake_openai):
    r = provider.chat(MODEL, [{"role": "user", "content": "ping"}], max_tokens=5, temperature=0.2)
    assert r.text == "echo: ping"
    sent = fake_openai.calls("POST", "/v1/chat/completions")[0].json
    assert sent["max_completion_tokens"] == 5 and sent["temperature"] == 0.2


def test_suffix_and_unsupported_flags_are_checked(provider):
    problems = provider.check_hyperparameters(
        Hyperparameters(suffix="x" * 65, lora_r=8, learning_rate=1e-4), None
    )
    text = "\n".join(problems)
    assert "--suffix is 65 characters; OpenAI allows 64" in text
    assert (
        "--lora-r is not supported by OpenAI" in text and "--learning-rate is not supported by OpenAI" in text
    )
    # the spec's bounds for method.supervised.hyperparameters, declared with the hyperparameters
    assert provider.check_hyperparameters(Hyperparameters(epochs=60, batch_size=0), None) == [
        "--epochs must be in [1, 50], got 60",
        "--batch-size must be in [1, 256], got 0",
    ]


def test_401_from_openai(fake_openai):
    creds = Credentials(
        "openai", "sk-wrong-0000000000", "OPENAI_API_KEY", "/proj/.env", fake_openai.url + "/v1"
    )
    p = OpenAIProvider(ProviderSettings(creds, timeout=1.0, max_retries=0))
    with pytest.raises(ProviderRequestError) as e:
        p.get_job("ftjob-1")
    assert "OPENAI_API_KEY (read from /proj/.env)" in str(e.value) and "sk-wrong" not in str(e.value)
