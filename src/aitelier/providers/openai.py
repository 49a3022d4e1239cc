"""OpenAI through the official ``openai`` SDK (3.x).

OpenAI is winding down self-serve fine-tuning (new organisations blocked from 2026-05-07, every organisation
loses job creation on 2027-01-06). Creating a job may therefore be refused with HTTP 403; that refusal becomes
one line pointing to Together or the local backend, while status, events, cancel and chat keep working for
existing fine-tunes (``ft:`` models stay usable for inference until their base model retires).

Every job we create carries ``metadata.aitelier_attempt`` so a create whose answer was lost can be found again
by listing jobs with that metadata filter instead of creating a second job.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from ..errors import MissingDependency
from .base import (
    ChatResult,
    FineTuningClosed,
    Hyperparameters,
    Job,
    JobEvent,
    JobRequest,
    JobStatus,
    ModelLimits,
    Provider,
    ProviderRequestError,
    ProviderSettings,
    UploadedFile,
    UploadProgress,
    chat_request,
    chat_result,
    field_of,
    parse_time,
)

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
# the spec's bounds for method.supervised.hyperparameters
LIMITS = {"max_epochs": 50, "min_batch_size": 1, "max_batch_size": 256}
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


class OpenAIProvider(Provider):
    name = "openai"
    title = "OpenAI"
    status_map = STATUS_MAP
    final_statuses = FINAL
    supported = frozenset({"epochs", "batch_size", "lr_multiplier", "suffix", "seed"})
    max_suffix = 64
    min_examples = 10
    create_endpoint = "POST /v1/fine_tuning/jobs"

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

    # -- files ------------------------------------------------------------------------------------------------
    def upload_file(self, path: Path, *, on_progress: UploadProgress | None = None) -> UploadedFile:
        size = path.stat().st_size
        resp = self._call(f"uploading {path.name}", self._client.files.create, file=path, purpose="fine-tune")
        if on_progress is not None:
            on_progress(size, size)
        status = field_of(resp, "status")
        return UploadedFile(
            id=str(field_of(resp, "id")),
            filename=str(field_of(resp, "filename", path.name)),
            bytes=field_of(resp, "bytes"),
            # OpenAI validates the data when the job starts (status validating_files), not at upload
            processed=None,
            failed=status == "error",
            report=field_of(resp, "status_details"),
            raw_status=status,
        )

    # -- limits and request -------------------------------------------------------------------------------------
    def model_limits(self, model: str) -> ModelLimits:
        return ModelLimits(model=model, **LIMITS)

    def build_request(
        self,
        model: str,
        hp: Hyperparameters,
        *,
        training_file: str,
        validation_file: str | None,
        attempt_id: str,
        limits: ModelLimits | None,
    ) -> JobRequest:
        hyper: dict[str, Any] = {"n_epochs": hp.epochs}
        if hp.batch_size is not None:
            hyper["batch_size"] = hp.batch_size
        if hp.lr_multiplier is not None:
            hyper["learning_rate_multiplier"] = hp.lr_multiplier
        payload: dict[str, Any] = {"model": model, "training_file": training_file}
        if validation_file:
            payload["validation_file"] = validation_file
        if hp.suffix:
            payload["suffix"] = hp.suffix
        if hp.seed is not None:
            payload["seed"] = hp.seed
        payload["method"] = {"type": "supervised", "supervised": {"hyperparameters": hyper}}
        payload["metadata"] = {ATTEMPT_KEY: attempt_id}
        return JobRequest(
            provider=self.name,
            model=model,
            hyperparameters=hp,
            training_file=training_file,
            validation_file=validation_file,
            attempt_id=attempt_id,
            endpoint=self.create_endpoint,
            payload=payload,
        )

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

    def find_job(self, request: JobRequest, *, exclude: Collection[str], since: float) -> Job | None:
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
            # the filter is the server's; check it here too, and fall back to the files for old servers
            if job.metadata.get(ATTEMPT_KEY) == request.attempt_id:
                return job
        return None

    def get_job(self, job_id: str) -> Job:
        return self._job(self._call(f"fetching job {job_id}", self._client.fine_tuning.jobs.retrieve, job_id))

    def cancel_job(self, job_id: str) -> Job:
        return self._job(self._call(f"cancelling job {job_id}", self._client.fine_tuning.jobs.cancel, job_id))

    def _job(self, r: Any) -> Job:
        raw = str(field_of(r, "status", ""))
        hyper = field_of(r, "hyperparameters")
        method = field_of(r, "method")
        supervised = field_of(field_of(method, "supervised"), "hyperparameters")
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
            trained_tokens=field_of(r, "trained_tokens"),
            error=field_of(err, "message") if err else None,
            metadata={str(k): str(v) for k, v in dict(metadata).items()},
        )

    # -- events -----------------------------------------------------------------------------------------------
    def list_events(self, job_id: str, *, known: Collection[str] = ()) -> list[JobEvent]:
        """Newest first from the API, paged until an event we already have; returned oldest first."""
        out: list[JobEvent] = []
        page = self._call(
            f"fetching the events of {job_id}", self._client.fine_tuning.jobs.list_events, job_id, limit=100
        )
        while True:
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
            page = self._call(
                f"fetching the events of {job_id}",
                self._client.fine_tuning.jobs.list_events,
                job_id,
                limit=100,
                after=out[-1].key,
            )
        out.reverse()
        return out

    # -- inference --------------------------------------------------------------------------------------------
    def chat(
        self,
        model: str,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        seed: int | None = None,
    ) -> ChatResult:
        kwargs = chat_request(
            model,
            messages,
            max_tokens_field="max_completion_tokens",
            max_tokens=max_tokens,
            temperature=temperature,
            seed=seed,
        )
        resp = self._call(f"asking {model}", self._client.chat.completions.create, **kwargs)
        return chat_result(resp)

    def close(self) -> None:
        self._client.close()


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def register(register: Callable[..., None]) -> None:
    register(
        "openai",
        OpenAIProvider,
        key_var="OPENAI_API_KEY",
        base_url_var="OPENAI_BASE_URL",
        extra_vars=("OPENAI_ORG_ID", "OPENAI_PROJECT_ID"),
        description="OpenAI (closing self-serve fine-tuning on 2027-01-06; existing fine-tunes keep working)",
    )
