"""The Together provider driven through the real `together` SDK against the loopback fake server."""

from __future__ import annotations

import json
import socket

import pytest

from aitelier.credentials import Credentials
from aitelier.errors import ValidationFailed
from aitelier.providers.base import Hyperparameters, JobStatus, ProviderRequestError, ProviderSettings
from aitelier.providers.together import TogetherProvider, metrics_to_points, normalise_base_url


def make(server, *, key=None, base_url=None, timeout=1.0, retries=2):
    creds = Credentials(
        "together", key or server.api_key, "TOGETHER_API_KEY", "environment", base_url or server.url
    )
    return TogetherProvider(ProviderSettings(creds, timeout=timeout, max_retries=retries))


@pytest.fixture
def provider(fake_together):
    p = make(fake_together)
    yield p
    p.close()


@pytest.fixture
def train_file(tmp_path):
    path = tmp_path / "train.jsonl"
    line = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    path.write_text(json.dumps(line) + "\n")
    return path


def test_base_url_may_not_end_in_v1():
    assert normalise_base_url("https://api.together.xyz/v1") == "https://api.together.xyz"
    assert normalise_base_url("https://api.together.xyz/v1/") == "https://api.together.xyz"
    assert normalise_base_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080"
    assert normalise_base_url(None) is None


def test_upload_is_the_sdks_three_step_flow(provider, fake_together, train_file):
    up = provider.upload_file(train_file)
    post, put, pre = fake_together.requests[:3]
    assert (post.method, post.path) == ("POST", "/v1/files")
    assert post.form["purpose"] == "fine-tune" and post.form["file_name"] == "train.jsonl"
    assert "file" not in post.form  # the bytes go to the storage URL, not the API
    assert (put.method, put.path) == ("PUT", f"/upload/{up.id}") and put.body == train_file.read_bytes()
    assert "authorization" not in put.headers  # the key is never sent to the storage host
    assert (pre.method, pre.path) == ("POST", f"/v1/files/{up.id}/preprocess")
    assert up.processed is False and up.raw_status == "PENDING"
    done = provider.wait_until_processed(up, poll_interval=0.001)
    assert done.processed is True and fake_together.calls("GET", f"/v1/files/{up.id}")


def test_a_rejected_file_shows_togethers_validation_report(provider, fake_together, train_file):
    fake_together.reject_files["train.jsonl"] = "Line 1: messages must alternate user/assistant"
    up = provider.upload_file(train_file)
    with pytest.raises(ValidationFailed, match="must alternate"):
        provider.wait_until_processed(up, poll_interval=0.001)


def test_a_file_rejected_at_once_still_shows_the_report(provider, fake_together, train_file):
    fake_together.processing_polls = 0  # preprocess answers INVALID_FORMAT; the SDK's upload drops the report
    fake_together.reject_files["train.jsonl"] = "Line 1: no assistant message"
    up = provider.upload_file(train_file)
    assert up.failed and up.report is None
    with pytest.raises(ValidationFailed, match="Line 1: no assistant message"):
        provider.wait_until_processed(up, poll_interval=0.001)


def test_the_sdk_local_check_runs_before_any_byte_is_sent(provider, fake_together, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "cut off"\n')
    with pytest.raises(ValidationFailed, match="pre-upload check"):
        provider.upload_file(bad)
    assert fake_together.requests == []


def test_limits_request_price_and_job_lifecycle(provider, fake_together, train_file):
    up = provider.wait_until_processed(provider.upload_file(train_file), poll_interval=0.001)
    limits = provider.model_limits("meta-llama/Meta-Llama-3.1-8B-Instruct-Reference")
    assert (limits.max_epochs, limits.max_lora_r, limits.default_lora_r) == (20, 64, 16)
    hp = provider.resolve_hyperparameters(
        Hyperparameters(epochs=2, suffix="support"), limits, has_validation=False
    )
    assert (hp.get("lora_r"), hp.get("lora_alpha"), hp.get("n_evals")) == (16, 32, None)
    req = provider.build_request(
        limits.model,
        hp,
        training_file=up.id,
        validation_file=None,
        attempt_id="run-0123456789ab",
        limits=limits,
    )
    assert req.payload["n_epochs"] == 2 and req.payload["suffix"] == "support-01234567"
    assert req.payload["training_type"]["type"] == "Lora" and req.payload["n_evals"] == 0
    est = provider.estimate_price(req)
    assert est.available and est.total == 4.25 and est.allowed_to_proceed
    job = provider.create_job(req)
    assert job.status is JobStatus.PENDING and not job.final
    assert (
        json.loads(fake_together.calls("POST", "/v1/fine-tunes")[0].body) == req.payload
    )  # exactly what we built
    statuses = []
    while not job.final:
        job = provider.get_job(job.id)
        statuses.append(job.raw_status)
    assert statuses == ["queued", "running", "running", "running", "completed"]
    assert job.status is JobStatus.SUCCEEDED and job.output_model.startswith("user/")
    events = provider.list_events(job.id)
    assert events[0].message == "Fine tune request created" and events[-1].type == "job_complete"
    assert [p.train for p in provider.loss_curve(job.id, events)] == [2.1, 1.4, 0.9]


def test_validation_file_means_n_evals(provider, fake_together, train_file):
    limits = provider.model_limits("m")
    hp = provider.resolve_hyperparameters(Hyperparameters(), limits, has_validation=True)
    assert hp["n_evals"] == 5
    req = provider.build_request(
        "m", hp, training_file="f1", validation_file="f2", attempt_id="a", limits=limits
    )
    assert req.payload["validation_file"] == "f2" and req.payload["n_evals"] == 5


def test_hyperparameters_are_checked_against_the_model_limits(provider):
    limits = provider.model_limits("m")
    hp = Hyperparameters(epochs=40, batch_size=4, learning_rate=5.0, lora_r=128, lr_multiplier=2.0)
    problems = provider.check_hyperparameters(hp, limits)
    text = "\n".join(problems)
    for expected in (
        "--epochs 40 is above",
        "--batch-size 4 is below",
        "--learning-rate 5 is above",
        "--lora-r 128 is above",
        "--lr-multiplier is not supported by Together",
    ):
        assert expected in text


def test_unknown_model_is_a_clear_error(provider, fake_together):
    fake_together.unknown_models.add("no/such-model")
    with pytest.raises(ProviderRequestError) as e:
        provider.model_limits("no/such-model")
    assert e.value.status_code == 404 and "not available for fine-tuning" in str(e.value)


def test_cancel(provider, fake_together, train_file):
    up = provider.wait_until_processed(provider.upload_file(train_file), poll_interval=0.001)
    limits = provider.model_limits("m")
    req = provider.build_request(
        "m", Hyperparameters(), training_file=up.id, validation_file=None, attempt_id="a", limits=limits
    )
    job = provider.create_job(req)
    job = provider.cancel_job(job.id)
    assert job.status is JobStatus.CANCELLED and not job.final  # cancel_requested
    job = provider.get_job(job.id)
    assert job.raw_status == "cancelled" and job.final


def test_find_job_matches_an_unrecorded_job_with_our_files(provider, fake_together, train_file):
    up = provider.wait_until_processed(provider.upload_file(train_file), poll_interval=0.001)
    limits = provider.model_limits("m")
    req = provider.build_request(
        "m", Hyperparameters(), training_file=up.id, validation_file=None, attempt_id="a", limits=limits
    )
    assert provider.find_job(req, exclude=set()) is None
    job = provider.create_job(req)
    assert provider.find_job(req, exclude=set()).id == job.id
    assert provider.find_job(req, exclude={job.id}) is None  # already recorded by another run


def test_chat_honours_the_base_url_override(provider, fake_together):
    result = provider.chat("m", [{"role": "user", "content": "ping"}], max_tokens=8, temperature=0.0, seed=1)
    assert result.text == "echo: ping"
    sent = fake_together.calls("POST", "/v1/chat/completions")[0].json
    assert sent["max_tokens"] == 8 and sent["temperature"] == 0.0 and sent["seed"] == 1


# -- faults ------------------------------------------------------------------------------------------------------
def test_429_with_retry_after_is_retried(provider, fake_together):
    fake_together.fault("GET", "/v1/fine-tunes/models/limits", "429", times=2)
    assert provider.model_limits("m").max_epochs == 20
    assert len(fake_together.calls("GET", "/v1/fine-tunes/models/limits")) == 3


def test_plain_retry_after_seconds_is_honoured(fake_together):
    p = make(fake_together, retries=1)
    fake_together.fault("GET", "/v1/fine-tunes/models/limits", "429", retry_after="0.05")
    assert p.model_limits("m").max_epochs == 20


def test_persistent_429_is_one_clear_line(fake_together):
    p = make(fake_together, retries=1)
    fake_together.fault("GET", "/v1/fine-tunes", "429", times=5)
    with pytest.raises(ProviderRequestError) as e:
        p.find_job(
            p.build_request(
                "m",
                Hyperparameters(),
                training_file="f",
                validation_file=None,
                attempt_id="a",
                limits=p.model_limits("m"),
            ),
            exclude=(),
        )
    assert e.value.retryable and e.value.status_code == 429
    assert "\n" not in str(e.value) and "rate limited (HTTP 429) after 1 retries" in str(e.value)


def test_500_is_retried_by_the_sdk_for_reads(provider, fake_together):
    fake_together.fault("GET", "/v1/fine-tunes/models/limits", "500")
    assert provider.model_limits("m").max_epochs == 20


def test_401_names_the_variable_and_never_the_key(fake_together):
    p = make(fake_together, key="wrong-key-that-must-not-leak")
    with pytest.raises(ProviderRequestError) as e:
        p.model_limits("m")
    text = str(e.value)
    assert "API key was refused (HTTP 401)" in text and "TOGETHER_API_KEY" in text
    assert "wrong-key-that-must-not-leak" not in text and not e.value.retryable


def test_slow_response_times_out_as_ambiguous(fake_together):
    p = make(fake_together, timeout=0.2, retries=0)
    fake_together.fault("GET", "/v1/fine-tunes/models/limits", "slow", delay=1.0)
    with pytest.raises(ProviderRequestError) as e:
        p.model_limits("m")
    assert e.value.ambiguous and e.value.retryable and "no answer within 0.2s" in str(e.value)


def test_malformed_json_is_a_clear_error(provider, fake_together):
    fake_together.fault("GET", "/v1/fine-tunes/models/limits", "malformed")
    with pytest.raises(ProviderRequestError, match="not valid JSON"):
        provider.model_limits("m")


def test_connection_refused_is_not_ambiguous(fake_together):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = make(fake_together, base_url=f"http://127.0.0.1:{port}", retries=0)
    with pytest.raises(ProviderRequestError) as e:
        p.model_limits("m")
    assert "could not reach Together" in str(e.value) and e.value.retryable and not e.value.ambiguous


def test_metrics_404_falls_back_to_events(provider, fake_together):
    fake_together.metrics_supported = False
    from aitelier.providers.base import JobEvent

    events = [JobEvent("k", None, "m", step=3, train_loss=1.0)]
    assert [(p.step, p.train) for p in provider.loss_curve("ft-x", events)] == [(3.0, 1.0)]


def test_metrics_to_points_merges_train_and_eval():
    pts = metrics_to_points(
        [
            {"train/global_step": 1, "train/loss": 2.0},
            {"eval/global_step": 1, "eval/loss": 2.5},
            {"train/global_step": 2, "train/loss": 1.5, "train/learning_rate": 1e-5},
            {"something": 1},
        ]
    )
    assert [(p.step, p.train, p.val) for p in pts] == [(1.0, 2.0, 2.5), (2.0, 1.5, None)]
