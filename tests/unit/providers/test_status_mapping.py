"""Every job status the installed SDKs and the specs know maps to exactly one of ours; anything else is
`unknown` and shown raw, never silently `pending`."""

from __future__ import annotations

import typing

import pytest

from aitelier.providers.base import Job, JobStatus
from aitelier.providers.openai import OpenAIProvider
from aitelier.providers.together import TogetherProvider


def _literal_values(annotation: object) -> set[str]:
    """The string values of a Literal, also inside Optional/Union."""
    out: set[str] = set()
    for arg in typing.get_args(annotation):
        if isinstance(arg, str):
            out.add(arg)
        else:
            out |= _literal_values(arg)
    return out


def together_sdk_statuses() -> set[str]:
    from together.lib.types.fine_tuning import FinetuneJobStatus
    from together.types.fine_tuning_cancel_response import FineTuningCancelResponse
    from together.types.fine_tuning_list_response import Data
    from together.types.finetune_response import FinetuneResponse

    values = {s.value for s in FinetuneJobStatus}
    for model in (FinetuneResponse, Data, FineTuningCancelResponse):
        values |= _literal_values(model.model_fields["status"].annotation)
    return values


def openai_sdk_statuses() -> set[str]:
    from openai.types.fine_tuning import FineTuningJob

    return _literal_values(FineTuningJob.model_fields["status"].annotation)


def test_the_sdks_are_introspected():
    # guard against the introspection silently finding nothing (which would make the next tests vacuous)
    assert {"pending", "running", "completed", "user_error", "cancel_requested"} <= together_sdk_statuses()
    assert {"validating_files", "succeeded", "failed"} <= openai_sdk_statuses()


@pytest.mark.parametrize(
    ("provider", "sdk_values", "spec_fixture", "spec_enum"),
    [
        (TogetherProvider, together_sdk_statuses, "together_spec", "FinetuneJobStatus"),
        (OpenAIProvider, openai_sdk_statuses, "openai_spec", None),
    ],
)
def test_every_known_status_maps_to_exactly_one_of_ours(
    provider, sdk_values, spec_fixture, spec_enum, request
):
    spec = request.getfixturevalue(spec_fixture)
    if spec_enum:
        spec_values = set(spec.enum(spec_enum))
    else:
        spec_values = set(spec.doc["components"]["schemas"]["FineTuningJob"]["properties"]["status"]["enum"])
    known = sdk_values() | spec_values
    unmapped = known - set(provider.status_map)
    assert not unmapped, f"{provider.__name__} has no mapping for {sorted(unmapped)}: add them to STATUS_MAP"
    for raw in known:
        ours = provider.map_status(raw)
        assert isinstance(ours, JobStatus) and ours is not JobStatus.UNKNOWN
    # and nothing we map is invented: every key is a value the SDK or the spec knows
    assert set(provider.status_map) <= known


def test_together_specifics():
    m = TogetherProvider.map_status
    assert m("completed") is JobStatus.SUCCEEDED
    assert m("user_error") is JobStatus.FAILED and m("error") is JobStatus.FAILED
    assert m("compressing") is JobStatus.RUNNING and m("uploading") is JobStatus.RUNNING
    # a requested cancel is not final yet: watching goes on until the job reports cancelled
    assert m("cancel_requested") is JobStatus.CANCELLED
    assert not TogetherProvider.is_final("cancel_requested") and TogetherProvider.is_final("cancelled")
    assert TogetherProvider.final_statuses == {"completed", "error", "user_error", "cancelled"}


def test_openai_specifics():
    m = OpenAIProvider.map_status
    assert m("validating_files") is JobStatus.PENDING
    assert OpenAIProvider.final_statuses == {"succeeded", "failed", "cancelled"}


@pytest.mark.parametrize("provider", [TogetherProvider, OpenAIProvider])
@pytest.mark.parametrize("raw", ["paused", "PENDING", "", None, "weird_new_state"])
def test_unknown_values_are_unknown_and_shown_raw(provider, raw):
    status = provider.map_status(raw)
    assert status is JobStatus.UNKNOWN
    assert not provider.is_final(raw)
    job = Job(id="j", status=status, raw_status=raw or "", final=False)
    if raw:
        assert job.status_text == f"unknown ({raw})"


def test_final_statuses_are_ended_ones():
    for provider in (TogetherProvider, OpenAIProvider):
        for raw in provider.final_statuses:
            assert provider.map_status(raw) in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)
