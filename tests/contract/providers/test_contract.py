"""Contract: what our code sends (captured by the fake servers) validates against the providers' published
request schemas, and what the fakes answer validates against the response schemas, so the fakes cannot drift
into a dialect only our code speaks. Schemas come from the trimmed extracts in tests/contract/providers/specs.
"""

from __future__ import annotations

import json
import re

import pytest


@pytest.fixture
def together_flow(ait, train_project, together_env):
    """A whole Together run: train with a validation file, watch to the end, then one chat call."""
    r = ait("train", "--yes", "--suffix", "support-v1", "--seed", "7", cwd=train_project.root)
    assert r.exit_code == 0, r.output
    r = ait("status", "--watch", cwd=train_project.root)
    assert r.exit_code == 0, r.output
    ait("cancel", "--yes", cwd=train_project.root)  # nothing active: refused locally, no request
    from aitelier.providers import registry
    from aitelier.training import request_from_record

    p = registry.connect("together", train_project.root)
    record = json.loads(train_project.config_path.read_text())["runs"][-1]
    assert p.find_job(request_from_record(record), exclude=()).id == record["jobId"]  # GET /v1/fine-tunes
    p.chat(
        "m", [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}], max_tokens=16
    )
    p.close()
    return together_env


@pytest.fixture
def openai_flow(ait, openai_project, openai_env):
    r = ait(
        "train",
        "--yes",
        "--suffix",
        "support",
        "--batch-size",
        "4",
        "--lr-multiplier",
        "0.5",
        cwd=openai_project.root,
    )
    assert r.exit_code == 0, r.output
    r = ait("status", "--watch", cwd=openai_project.root)
    assert r.exit_code == 0, r.output
    from aitelier.providers import registry

    p = registry.connect("openai", openai_project.root)
    p.chat("gpt-4.1-mini", [{"role": "user", "content": "hi"}], max_tokens=16, temperature=0)
    p.close()
    return openai_env


def _check(spec, pointer, bodies):
    assert bodies, f"nothing captured for {pointer}"
    for body in bodies:
        errors = spec.errors(pointer, body)
        assert not errors, f"{pointer}: {errors}\n{json.dumps(body, indent=1)[:2000]}"


def test_together_requests_match_the_spec(together_flow, together_spec):
    s = together_flow
    _check(
        together_spec,
        together_spec.request_schema("/fine-tunes", "post"),
        [r.json for r in s.calls("POST", "/v1/fine-tunes")],
    )
    _check(
        together_spec,
        together_spec.request_schema("/fine-tunes/estimate-price", "post"),
        [r.json for r in s.calls("POST", "/v1/fine-tunes/estimate-price")],
    )
    _check(
        together_spec,
        together_spec.request_schema("/chat/completions", "post"),
        [r.json for r in s.calls("POST", "/v1/chat/completions")],
    )
    create = s.calls("POST", "/v1/fine-tunes")[0].json
    assert create["n_evals"] > 0 and create["validation_file"]  # validation data only counts with n_evals > 0
    # the suffix carries 8 hex of the run id, so a lost create's job can be recognised
    assert re.fullmatch(r"support-v1-[0-9a-f]{8}", create["suffix"]) and create["random_seed"] == 7
    limits = s.calls("GET", "/v1/fine-tunes/models/limits")[0]
    assert limits.query["model_name"] == [create["model"]]
    # every path we called is one the spec (or, for the upload flow, the SDK) defines
    spec_paths = {"/v1" + p for p in together_spec.doc["paths"]}
    sdk_upload_flow = {"/v1/files", "/v1/files/{id}/preprocess", "/upload/{id}"}
    for req in s.requests:
        path = req.path
        for prefix in ("/v1/files/", "/v1/fine-tunes/", "/upload/"):
            rest = path[len(prefix) :] if path.startswith(prefix) else None
            if rest and not rest.startswith("models") and not rest.startswith("estimate"):
                head, _, tail = rest.partition("/")
                path = prefix + "{id}" + (f"/{tail}" if tail else "")
        assert path in spec_paths | sdk_upload_flow, f"{req.method} {req.path} is not in the spec"


def test_together_fake_answers_match_the_spec(together_flow, together_spec):
    s = together_flow
    ts = together_spec
    _check(ts, ts.response_schema("/fine-tunes/{id}", "get"), s.answers("GET", "/v1/fine-tunes/[^/]+"))
    _check(ts, ts.response_schema("/fine-tunes", "get"), s.answers("GET", "/v1/fine-tunes"))
    _check(ts, ts.response_schema("/fine-tunes", "post"), s.answers("POST", "/v1/fine-tunes"))
    _check(
        ts,
        ts.response_schema("/fine-tunes/{id}/events", "get"),
        s.answers("GET", "/v1/fine-tunes/[^/]+/events"),
    )
    _check(
        ts,
        ts.response_schema("/fine-tunes/{id}/metrics", "get"),
        s.answers("GET", "/v1/fine-tunes/[^/]+/metrics"),
    )
    _check(
        ts,
        ts.response_schema("/fine-tunes/models/limits", "get"),
        s.answers("GET", "/v1/fine-tunes/models/limits"),
    )
    _check(
        ts,
        ts.response_schema("/fine-tunes/estimate-price", "post"),
        s.answers("POST", "/v1/fine-tunes/estimate-price"),
    )
    _check(ts, ts.response_schema("/files/{id}", "get"), s.answers("GET", "/v1/files/[^/]+"))
    _check(ts, ts.response_schema("/chat/completions", "post"), s.answers("POST", "/v1/chat/completions"))


def test_openai_requests_match_the_spec(openai_flow, openai_spec):
    s = openai_flow
    _check(
        openai_spec,
        openai_spec.request_schema("/fine_tuning/jobs", "post"),
        [r.json for r in s.calls("POST", "/v1/fine_tuning/jobs")],
    )
    _check(
        openai_spec,
        openai_spec.request_schema("/chat/completions", "post"),
        [r.json for r in s.calls("POST", "/v1/chat/completions")],
    )
    upload_fields = [
        {k: (v if isinstance(v, str) else "<binary>") for k, v in r.form.items()}
        for r in s.calls("POST", "/v1/files")
    ]
    _check(openai_spec, openai_spec.request_schema("/files", "post", "multipart/form-data"), upload_fields)
    body = s.calls("POST", "/v1/fine_tuning/jobs")[0].json
    assert body["method"]["supervised"]["hyperparameters"] == {
        "n_epochs": 3,
        "batch_size": 4,
        "learning_rate_multiplier": 0.5,
    }
    assert "hyperparameters" not in body  # the deprecated top-level form is not used


def test_openai_fake_answers_match_the_spec(openai_flow, openai_spec):
    s = openai_flow
    os_ = openai_spec
    _check(os_, os_.response_schema("/files", "post"), s.answers("POST", "/v1/files"))
    _check(os_, os_.response_schema("/fine_tuning/jobs", "post"), s.answers("POST", "/v1/fine_tuning/jobs"))
    _check(
        os_,
        os_.response_schema("/fine_tuning/jobs/{fine_tuning_job_id}", "get"),
        s.answers("GET", "/v1/fine_tuning/jobs/[^/]+"),
    )
    _check(
        os_,
        os_.response_schema("/fine_tuning/jobs/{fine_tuning_job_id}/events", "get"),
        s.answers("GET", "/v1/fine_tuning/jobs/[^/]+/events"),
    )
    _check(os_, os_.response_schema("/chat/completions", "post"), s.answers("POST", "/v1/chat/completions"))


def test_why_one_of_is_checked_as_any_of(together_spec):
    # the SDK's cosine scheduler arguments match both alternatives of the spec's oneOf
    args = {"lr_scheduler_type": "cosine", "lr_scheduler_args": {"min_lr_ratio": 0.0, "num_cycles": 0.5}}
    pointer = together_spec.schema("LRScheduler")
    assert together_spec.errors(pointer, args) == []
    assert any("is valid under each of" in e for e in together_spec.errors(pointer, args, strict=True))
    bad = {"lr_scheduler_type": "cosine", "lr_scheduler_args": {"min_lr_ratio": "zero"}}
    assert together_spec.errors(pointer, bad)  # lenient is not blind: a wrong shape still fails


def test_the_extract_keeps_what_the_tests_need(together_spec, openai_spec):
    assert "user_error" not in together_spec.enum("FinetuneJobStatus")  # the SDK knows it, the spec does not
    assert {"/fine-tunes", "/fine-tunes/{id}/cancel", "/chat/completions"} <= set(together_spec.doc["paths"])
    assert together_spec.doc["x-source"]["commit"] == "090263a"
    assert openai_spec.doc["x-source"]["commit"] == "f85dbe2"
