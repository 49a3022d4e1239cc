"""OpenAI through the official ``openai`` SDK (3.x).

OpenAI is winding down self-serve fine-tuning (new organisations blocked from 2026-05-07, every organisation
loses job creation on 2027-01-06). Creating a job may therefore be refused with HTTP 403; that refusal becomes
one line pointing to Together or the local backend, while status, events, cancel and chat keep working for
existing fine-tunes (``ft:`` models stay usable for inference until their base model retires).

Every job we create carries ``metadata.aitelier_attempt`` so a create whose answer was lost can be found again
by listing jobs with that metadata filter instead of creating a second job; a server that keeps no metadata is
matched on the files, model and suffix it echoes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import MissingDependency
from ..formats.rules import ERROR, WARNING, ProviderSpec
from ..pricing import base_model
from .base import (
    FineTuningClosed,
    Hyperparameter,
    Hyperparameters,
    Job,
    JobEvent,
    JobRequest,
    JobStatus,
    ModelLimits,
    ProviderRequestError,
    ProviderSettings,
    SDKProvider,
    UploadedFile,
    UploadProgress,
    field_of,
    parse_time,
)

if TYPE_CHECKING:
    import openai

S = JobStatus
STATUS_MAP = {
    "validating_files": S.PENDING,
    "queued": S.QUEUED,
    "running": S.RUNNING,
    "succeeded": S.SUCCEEDED,
    "failed": S.FAILED,
    "cancelled": S.CANCELLED,
}
FINAL = frozenset({"succeeded", "failed", "cancelled"})
ATTEMPT_KEY = "aitelier_attempt"
CLOSED_WORDS = (
    "no longer",
    "not available",
    "not enabled",
    "disabled",
    "wound down",
    "wind down",
    "winding down",
    "not allowed",
    "does not have access",
    "do not have access",
    "self-serve",
)


def is_fine_tuning_closed(status: int | None, message: str) -> bool:
    """Whether a refused create means "this account may not create fine-tuning jobs" (the wind-down)."""
    text = message.lower()
    if status == 403:
        return True
    return status in (400, 404) and "fine-tun" in text and any(w in text for w in CLOSED_WORDS)


class OpenAIProvider(SDKProvider):
    _client: openai.OpenAI  # the SDK's own types, so mypy checks every call
    name = "openai"
    title = "OpenAI"
    status_map = STATUS_MAP
    final_statuses = FINAL
    hyperparameters = (
        Hyperparameter("epochs", int, "Passes over the data.", default=3, minimum=1, maximum=50),
        Hyperparameter(
            "batch_size", int, "Examples per step (default: OpenAI's choice).", minimum=1, maximum=256
        ),
        Hyperparameter(
            "lr_multiplier",
            float,
            "The learning-rate multiplier (default: OpenAI's choice).",
            minimum=0,
            exclusive_minimum=True,
        ),
        Hyperparameter("suffix", str, "Added to the fine-tuned model's name", maximum=64),
        Hyperparameter("seed", int, "Random seed, for a reproducible run.", minimum=0, maximum=2147483647),
        Hyperparameter(
            "dpo_beta",
            float,
            "DPO: how far the model may move from the reference; higher stays closer (default: OpenAI's).",
            minimum=0,
            maximum=2,
            exclusive_minimum=True,
            method="dpo",
        ),
    )
    methods = ("sft", "dpo")
    continues_runs = True  # a fine-tuned model (ft:...) can be fine-tuned again: `--from RUN` trains on it
    create_endpoint = "POST /v1/fine_tuning/jobs"
    max_tokens_field = "max_completion_tokens"

    def __init__(self, settings: ProviderSettings) -> None:
        super().__init__(settings)
        try:
            import openai
        except ImportError as e:  # pragma: no cover - the package is a dependency
            raise MissingDependency("openai", "pip install 'openai>=3,<4'") from e
        extra = settings.credentials.extra
        self.base_url = settings.credentials.base_url
        self._client = openai.OpenAI(
            api_key=settings.credentials.api_key,
            base_url=self.base_url,
            organization=extra.get("OPENAI_ORG_ID"),
            project=extra.get("OPENAI_PROJECT_ID"),
            timeout=settings.timeout,
            max_retries=settings.max_retries,
        )
        self._jobs = self._client.fine_tuning.jobs

    # -- files ------------------------------------------------------------------------------------------------
    def upload_file(self, path: Path, *, on_progress: UploadProgress | None = None) -> UploadedFile:
        size = path.stat().st_size
        resp = self._call(f"uploading {path.name}", self._client.files.create, file=path, purpose="fine-tune")
        if on_progress is not None:
            on_progress(size, size)
        return self._file(resp, path.name)

    def _file(self, resp: Any, name: str = "") -> UploadedFile:
        status = field_of(resp, "status")
        return UploadedFile(
            id=str(field_of(resp, "id")),
            filename=str(field_of(resp, "filename", name)),
            bytes=field_of(resp, "bytes"),
            # OpenAI validates the data when the job starts (status validating_files), not at upload
            processed=None,
            failed=status in ("error", "deleted"),
            report=field_of(resp, "status_details"),
            raw_status=status,
        )

    # -- request ---------------------------------------------------------------------------------------------
    def build_request(
        self,
        model: str,
        hp: Hyperparameters,
        *,
        training_file: str,
        validation_file: str | None,
        attempt_id: str,
        limits: ModelLimits | None,
        method: str = "sft",
        from_run: dict[str, Any] | None = None,
    ) -> JobRequest:
        hp = self.with_defaults(hp, method)
        names = {"batch_size": "batch_size", "lr_multiplier": "learning_rate_multiplier"}  # ours -> OpenAI's
        if method == "dpo":
            names["dpo_beta"] = "beta"
        hyper: dict[str, Any] = {"n_epochs": hp["epochs"]}
        hyper.update({theirs: hp[ours] for ours, theirs in names.items() if ours in hp})
        if from_run is not None:  # fine-tune the earlier run's model further
            model = str(from_run.get("fineTunedModel") or from_run.get("modelId"))
        payload: dict[str, Any] = {"model": model, "training_file": training_file}
        if validation_file:
            payload["validation_file"] = validation_file
        payload.update({k: hp[k] for k in ("suffix", "seed") if k in hp})
        kind = "supervised" if method == "sft" else method  # FineTuneMethod: supervised, dpo, ...
        payload["method"] = {"type": kind, kind: {"hyperparameters": hyper}}
        payload["metadata"] = {ATTEMPT_KEY: attempt_id}
        return self.job_request(model, hp, training_file, validation_file, attempt_id, payload)

    # -- jobs -------------------------------------------------------------------------------------------------
    def create_job(self, request: JobRequest) -> Job:
        client = self._client.with_options(max_retries=0)  # a retried create could start a second job
        try:
            resp = self._call(
                "creating the fine-tuning job", client.fine_tuning.jobs.create, **request.payload
            )
        except ProviderRequestError as e:
            if is_fine_tuning_closed(e.status_code, e.detail or e.message):
                raise FineTuningClosed(
                    "OpenAI no longer lets this account create fine-tuning jobs (self-serve fine-tuning is being "
                    f"wound down; HTTP {e.status_code})",
                    hint="use `ait train --provider together` or `--provider local`; existing OpenAI fine-tunes "
                    "keep working for status and eval",
                ) from e
            raise
        return self._job(resp)

    def find_job(self, request: JobRequest, *, exclude: Collection[str]) -> Job | None:
        page = self._call(
            "listing fine-tuning jobs",
            self._client.fine_tuning.jobs.list,
            metadata={ATTEMPT_KEY: request.attempt_id},
            limit=20,
        )
        for item in field_of(page, "data", []) or []:
            job = self._job(item)
            if job.id in exclude:
                continue
            # the filter is the server's; check it here too (a server may ignore it)
            if job.metadata.get(ATTEMPT_KEY) == request.attempt_id:
                return job
            # a server that keeps no metadata: the files, model and suffix we sent, echoed back
            if not job.metadata and (
                job.training_file == request.training_file
                and (job.validation_file or None) == (request.validation_file or None)
                and job.model in (None, request.model)
                and (job.suffix or None) == (request.hyperparameters.get("suffix") or None)
            ):
                return job
        return None

    def _job(self, r: Any) -> Job:
        raw = str(field_of(r, "status", ""))
        hyper = field_of(r, "hyperparameters")
        method = field_of(r, "method")
        kind = field_of(method, "type") or "supervised"
        supervised = field_of(field_of(method, str(kind)), "hyperparameters")
        epochs = field_of(supervised, "n_epochs") or field_of(hyper, "n_epochs")
        finish = field_of(r, "estimated_finish")
        seconds = max(0.0, float(finish) - time.time()) if isinstance(finish, (int, float)) else None
        err = field_of(r, "error")
        metadata = field_of(r, "metadata") or {}
        return Job(
            id=str(field_of(r, "id", "")),
            status=self.map_status(raw),
            raw_status=raw,
            final=self.is_final(raw),
            model=field_of(r, "model"),
            output_model=field_of(r, "fine_tuned_model"),
            created_at=parse_time(field_of(r, "created_at")),
            finished_at=parse_time(field_of(r, "finished_at")),
            training_file=field_of(r, "training_file"),
            validation_file=field_of(r, "validation_file"),
            suffix=field_of(r, "user_provided_suffix"),
            total_epochs=epochs if isinstance(epochs, int) else None,
            seconds_remaining=seconds,
            error=field_of(err, "message") if err else None,
            metadata={str(k): str(v) for k, v in dict(metadata).items()},
        )

    # -- events -----------------------------------------------------------------------------------------------
    def list_events(self, job_id: str, *, known: Collection[str] = ()) -> list[JobEvent]:
        """Newest first from the API, paged until an event we already have; returned oldest first."""
        out: list[JobEvent] = []
        fetch = self._client.fine_tuning.jobs.list_events
        after: dict[str, str] = {}  # the page after the oldest event so far
        while True:
            page = self._call(f"fetching the events of {job_id}", fetch, job_id, limit=100, **after)
            stop = False
            for e in field_of(page, "data", []) or []:
                key = str(field_of(e, "id", ""))
                if key in known:
                    stop = True
                    break
                data = field_of(e, "data") or {}
                if not isinstance(data, dict):
                    data = {}
                val = data.get("valid_loss", data.get("full_valid_loss"))
                out.append(
                    JobEvent(
                        key=key,
                        created_at=parse_time(field_of(e, "created_at")),
                        message=str(field_of(e, "message", "")),
                        level=str(field_of(e, "level", "info")),
                        type=field_of(e, "type"),
                        step=data.get("step") if isinstance(data.get("step"), int) else None,
                        total_steps=data.get("total_steps")
                        if isinstance(data.get("total_steps"), int)
                        else None,
                        train_loss=_num(data.get("train_loss")),
                        val_loss=_num(val),
                    )
                )
            if stop or not field_of(page, "has_more") or not out:
                break
            after = {"after": out[-1].key}
        out.reverse()
        return out


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


_O200K_PREFIXES = ("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "chatgpt-4o")
_CL100K_PREFIXES = ("gpt-3.5", "gpt-4", "gpt-35")


def encoding(model: str) -> tuple[str, bool]:
    """o200k_base for the gpt-4o/4.1 family and newer, cl100k_base for older models; unknown: o200k, estimated."""
    name = base_model(model)
    if name.startswith(_O200K_PREFIXES):
        return "o200k_base", True
    if name.startswith(_CL100K_PREFIXES):
        return "cl100k_base", True
    return "o200k_base", False


def register(register: Callable[..., Any]) -> None:
    register(
        "openai",
        OpenAIProvider,
        default_model="gpt-4.1-mini-2025-04-14",
        key_var="OPENAI_API_KEY",
        base_url_var="OPENAI_BASE_URL",
        extra_vars=("OPENAI_ORG_ID", "OPENAI_PROJECT_ID"),
        file_format=ProviderSpec(
            "openai",
            line_keys=frozenset({"messages", "tools", "functions", "parallel_tool_calls"}),
            message_keys=frozenset({"role", "content", "name", "function_call", "weight"}),
            roles=frozenset({"system", "user", "assistant", "function"}),
            min_examples=10,
            max_tokens=16385,
            truncates=True,
        ),
        rules={
            "blank-line": ERROR,  # OpenAI's validator is not documented to skip blank lines
            "line-keys": WARNING,
            "unknown-message-key": ERROR,
            "weight-value": ERROR,
            "weight-role": ERROR,
            "context-length": WARNING,  # OpenAI truncates a longer example rather than refusing the file
        },
        encoding=encoding,
        pricing="table",
        capabilities=frozenset({"train", "chat"}),
        notice="OpenAI stops accepting new fine-tuning jobs on 2027-01-06 (see the manual's providers page); "
        "together or local keep working",
    )
