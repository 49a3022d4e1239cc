"""Together AI through the official ``together`` SDK (3.x).

The request body for ``POST /v1/fine-tunes`` is built by the SDK's own ``create_finetune_request`` (the same
validation and defaults ``client.fine_tuning.create`` applies) and sent with the client's ``post``, so what
``ait train --dry-run`` prints is byte for byte what is sent, and creating a job costs no second round of limit
and price calls. Job creation is never retried blindly: a lost answer is resolved by listing jobs first.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import MissingDependency, ValidationFailed
from ..formats.rules import ERROR, ProviderSpec
from .base import (
    RPO_ALPHA,
    Hyperparameter,
    Hyperparameters,
    Job,
    JobEvent,
    JobRequest,
    JobStatus,
    LossPoint,
    ModelLimits,
    PriceEstimate,
    ProviderRequestError,
    ProviderSettings,
    SDKProvider,
    UploadedFile,
    UploadProgress,
    field_of,
    loss_from_events,
    loss_points,
    parse_time,
)

if TYPE_CHECKING:
    import together

S = JobStatus
STATUS_MAP = {
    "pending": S.PENDING,
    "queued": S.QUEUED,
    "running": S.RUNNING,
    "compressing": S.RUNNING,  # training is over; the model is being packed
    "uploading": S.RUNNING,  # ... and stored
    "cancel_requested": S.CANCELLED,  # not final: the job stops shortly
    "cancelled": S.CANCELLED,
    "error": S.FAILED,
    "user_error": S.FAILED,  # the SDK knows it, the spec does not
    "completed": S.SUCCEEDED,
}
FINAL = frozenset({"completed", "error", "user_error", "cancelled"})
DEFAULT_N_EVALS = 5  # evaluations on the validation file over the run, when one is sent


def attempt_tag(attempt_id: str) -> str:
    """8 hex characters of the attempt id, sent in the suffix so a job whose create answer was lost can be
    recognised among the account's jobs."""
    return attempt_id.removeprefix("run-")[:8]


def tagged_suffix(suffix: str | None, attempt_id: str) -> str:
    tag = attempt_tag(attempt_id)
    return f"{suffix}-{tag}" if suffix else tag


def normalise_base_url(url: str | None) -> str | None:
    """The SDK's paths start with /v1, so a base URL ending in /v1 (the old SDK's convention) is trimmed."""
    if not url:
        return None
    url = url.rstrip("/")
    if url.endswith("/v1"):
        url = url[: -len("/v1")]
    return url


class TogetherProvider(SDKProvider):
    _client: together.Together  # the SDK's own types, so mypy checks every call
    name = "together"
    title = "Together"
    status_map = STATUS_MAP
    final_statuses = FINAL
    hyperparameters = (
        Hyperparameter("epochs", int, "Passes over the data.", default=3, minimum=1),
        Hyperparameter("batch_size", int, "Examples per step (default: the model's maximum).", minimum=1),
        Hyperparameter(
            "learning_rate", float, "The learning rate (default 1e-5).", minimum=0, exclusive_minimum=True
        ),
        Hyperparameter("lora_r", int, "LoRA rank (default: the model's).", minimum=1),
        Hyperparameter("lora_alpha", int, "LoRA alpha (default: 2 x rank).", minimum=1),
        Hyperparameter(
            "lora_dropout", float, "LoRA dropout (default 0).", minimum=0, maximum=1, exclusive_maximum=True
        ),
        Hyperparameter(
            "n_evals",
            int,
            "Evaluations on data/val.jsonl during training (default 5 when it exists).",
            minimum=0,
        ),
        # Together allows 40 characters; `-` and the 8-character attempt tag take the rest
        Hyperparameter(
            "suffix",
            str,
            "Added to the fine-tuned model's name, before an 8-character attempt tag",
            maximum=31,
        ),
        Hyperparameter("seed", int, "Random seed, for a reproducible run.", minimum=0, maximum=2147483647),
        # DPO (training_method {"method": "dpo", ...}, schema TrainingMethodDPO)
        Hyperparameter(
            "dpo_beta",
            float,
            "DPO: how far the model may move from the reference; higher stays closer (default 0.1).",
            minimum=0,
            exclusive_minimum=True,
            method="dpo",
        ),
        RPO_ALPHA,
        Hyperparameter(
            "dpo_normalize_logratios_by_length",
            bool,
            "DPO: divide the log-ratios by the output length (default false).",
            method="dpo",
        ),
        Hyperparameter(
            "simpo_gamma",
            float,
            "DPO: SimPO target margin; above 0 trains without a reference model and length-normalised "
            "(default 0).",
            minimum=0,
            method="dpo",
        ),
    )
    methods = ("sft", "dpo")
    continues_runs = True  # from_checkpoint: a finished job's id (Together's advice: SFT first, then DPO)
    create_endpoint = "POST /v1/fine-tunes"

    def __init__(self, settings: ProviderSettings) -> None:
        super().__init__(settings)
        try:
            import together
        except ImportError as e:  # pragma: no cover - the package is a dependency; plugins may drop it
            raise MissingDependency("together", "pip install 'together>=3,<4'") from e
        self.base_url = normalise_base_url(settings.credentials.base_url)
        self._client = together.Together(
            api_key=settings.credentials.api_key,
            base_url=self.base_url,
            timeout=settings.timeout,
            max_retries=settings.max_retries,
        )
        self._jobs = self._client.fine_tuning

    # -- files ------------------------------------------------------------------------------------------------
    def upload_file(self, path: Path, *, on_progress: UploadProgress | None = None) -> UploadedFile:
        from together.lib import check_file

        report = check_file(path, "fine-tune")  # the SDK's local structure check, before any byte is sent
        if not report.get("is_check_passed"):
            raise ValidationFailed(
                f"{path}: the together SDK's pre-upload check failed: {report.get('message')}",
                hint="run `ait format` to rewrite the file, or `ait validate` to see every problem",
            )
        callback = None
        if on_progress is not None:

            def callback(p: Any) -> None:
                on_progress(p.uploaded_bytes, p.total_bytes)

        # POST /v1/files (302 + X-Together-File-Id), PUT the bytes to Location, POST /v1/files/{id}/preprocess
        resp = self._call(
            f"uploading {path.name}",
            self._client.files.upload,
            path,
            purpose="fine-tune",
            check=False,
            progress_callback=callback,
        )
        return self._file(resp)

    def _file(self, resp: Any, name: str = "") -> UploadedFile:
        status = field_of(resp, "processing_status")
        report = field_of(resp, "validation_report")
        processed: bool | None = None  # the provider does not say
        failed = report is not None and field_of(report, "valid") is False
        if status is not None:
            status = str(status)
            processed = status == "COMPLETED"
            failed = failed or status in ("INVALID_FORMAT", "FAILED")
        elif field_of(resp, "Processed") is not None:  # the spec's older shape
            processed = bool(field_of(resp, "Processed"))
        return UploadedFile(
            id=str(field_of(resp, "id")),
            filename=str(field_of(resp, "filename", name)),
            bytes=field_of(resp, "bytes"),
            processed=processed,
            failed=failed,
            report=field_of(report, "error") if failed else None,
            raw_status=status,
        )

    def wait_until_processed(
        self,
        file: UploadedFile,
        *,
        poll_interval: float = 2.0,
        timeout: float = 600.0,
        on_wait: Callable[[UploadedFile], None] | None = None,
    ) -> UploadedFile:
        deadline = time.monotonic() + timeout
        while True:
            if file.failed:
                if file.report is None:  # the upload's answer carries no report; the file's record does
                    file = self._file(
                        self._call("reading the validation report", self._client.files.retrieve, file.id)
                    )
                raise ValidationFailed(
                    f"Together rejected {file.filename or file.id}: {file.report or f'status {file.raw_status}'}",
                    hint="fix the file (`ait validate`, `ait format`) and run `ait train` again",
                )
            if file.processed or file.processed is None:  # None: this server does not report processing
                return file
            if time.monotonic() > deadline:
                raise ProviderRequestError(
                    f"Together is still validating {file.filename or file.id} after {timeout:.0f}s",
                    hint="run `ait train` again later",
                    retryable=True,
                )
            if on_wait is not None:
                on_wait(file)
            time.sleep(poll_interval)
            file = self._file(self._call("checking the uploaded file", self._client.files.retrieve, file.id))

    # -- limits, request, price ---------------------------------------------------------------------------------
    def model_limits(self, model: str) -> ModelLimits:
        lim = self._call(
            f"fetching the limits of {model}", self._client.fine_tuning.model_limits, model_name=model
        )
        lora = field_of(lim, "lora_training")
        return ModelLimits(
            model=model,
            max_epochs=field_of(lim, "max_num_epochs"),
            min_learning_rate=field_of(lim, "min_learning_rate"),
            max_learning_rate=field_of(lim, "max_learning_rate"),
            min_batch_size=field_of(lora, "min_batch_size"),
            max_batch_size=field_of(lora, "max_batch_size"),
            max_lora_r=field_of(lora, "max_rank"),
            default_lora_r=field_of(lora, "default_rank"),
            max_evals=field_of(lim, "max_num_evals"),
            sdk_object=lim,
        )

    def resolve_hyperparameters(
        self, hp: Hyperparameters, limits: ModelLimits | None, *, has_validation: bool
    ) -> Hyperparameters:
        lora_r = hp.get("lora_r", limits.default_lora_r if limits else None)
        n_evals = hp.get("n_evals")
        if has_validation and n_evals is None:
            n_evals = DEFAULT_N_EVALS
            if limits is not None and limits.max_evals is not None:
                n_evals = min(n_evals, limits.max_evals)
        return hp.replace(
            lora_r=lora_r,
            lora_alpha=hp.get("lora_alpha", lora_r * 2 if lora_r else None),
            lora_dropout=hp.get("lora_dropout", 0.0),
            learning_rate=hp.get("learning_rate", 1e-5),
            n_evals=n_evals if has_validation else None,
        )

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
        from together.lib.resources.fine_tuning import create_finetune_request

        hp = self.with_defaults(hp, method)
        if limits is None or limits.sdk_object is None:
            limits = self.model_limits(model)
        checkpoint = str(from_run["jobId"]) if from_run is not None else None
        dpo: dict[str, Any] = {}
        if method == "dpo":
            dpo = {
                k: hp[k]
                for k in ("dpo_beta", "rpo_alpha", "simpo_gamma", "dpo_normalize_logratios_by_length")
                if k in hp
            }
        try:
            request, _, _ = create_finetune_request(
                model_limits=limits.sdk_object,
                training_file=training_file,
                validation_file=validation_file,
                # a job continued from a checkpoint names the checkpoint, not the model: the SDK refuses both
                # (the spec lists `model` as required; the SDK and Together's own CLI send none)
                model=None if checkpoint else model,
                from_checkpoint=checkpoint,
                training_method=method,
                **dpo,
                n_epochs=hp["epochs"],
                # validation data is only used when n_evals > 0
                n_evals=hp.get("n_evals", 0) if validation_file else 0,
                batch_size=hp.get("batch_size", "max"),
                learning_rate=hp.get("learning_rate"),
                lora=True,
                lora_r=hp.get("lora_r"),
                lora_alpha=hp.get("lora_alpha"),
                lora_dropout=hp.get("lora_dropout"),
                suffix=tagged_suffix(hp.get("suffix"), attempt_id),
                random_seed=hp.get("seed"),
                # explicit rather than "auto": for chat data both mean "train on the assistant turns only"
                train_on_inputs=False if method == "sft" else None,
            )
        except ValueError as e:  # the SDK's own hyperparameter checks
            raise ValidationFailed(f"Together would refuse these settings: {e}") from e
        payload = request.model_dump(exclude_none=True)
        return self.job_request(model, hp, training_file, validation_file, attempt_id, payload)

    def estimate_price(self, request: JobRequest) -> PriceEstimate:
        p = request.payload
        kwargs: dict[str, Any] = {
            "training_file": p["training_file"],
            "n_epochs": p.get("n_epochs"),
            "n_evals": p.get("n_evals") or 0,
            "training_method": p.get("training_method"),
            "training_type": p.get("training_type"),
        }
        # a continued job names its checkpoint instead of a model
        for key in ("validation_file", "model", "from_checkpoint"):
            if p.get(key):
                kwargs[key] = p[key]
        est = self._call("estimating the price", self._client.fine_tuning.estimate_price, **kwargs)
        available = field_of(est, "estimation_available")
        if available is False:
            return PriceEstimate(
                available=False, reason=str(field_of(est, "unavailable_reason", "unavailable"))
            )
        return PriceEstimate(
            available=field_of(est, "estimated_total_price") is not None,
            total=field_of(est, "estimated_total_price"),
            train_tokens=field_of(est, "estimated_train_token_count"),
            eval_tokens=field_of(est, "estimated_eval_token_count"),
            user_limit=field_of(est, "user_limit"),
            allowed_to_proceed=field_of(est, "allowed_to_proceed"),
        )

    # -- jobs -------------------------------------------------------------------------------------------------
    def create_job(self, request: JobRequest) -> Job:
        from together.lib.types.fine_tuning import FinetuneResponse

        client = self._client.with_options(max_retries=0)  # a retried create could start a second job
        resp = self._call(
            "creating the fine-tuning job",
            client.post,
            "/v1/fine-tunes",
            body=request.payload,
            cast_to=FinetuneResponse,
        )
        return self._job(resp)

    def find_job(self, request: JobRequest, *, exclude: Collection[str]) -> Job | None:
        """The job whose suffix carries this attempt's tag, on the same files and model. No clock is consulted:
        this machine's clock and the provider's may disagree by any amount."""
        tag = attempt_tag(request.attempt_id)
        resp = self._call("listing fine-tuning jobs", self._client.fine_tuning.list)
        for item in field_of(resp, "data", []) or []:
            job = self._job(item)
            if job.id in exclude or job.training_file != request.training_file:
                continue
            if (job.validation_file or None) != (request.validation_file or None):
                continue
            if job.model and job.model != request.model:
                continue
            echoed = [t for t in (job.suffix, job.output_model) if t]
            if echoed and not any(tag in t for t in echoed):
                continue  # another attempt (or another tool) on the same uploaded files
            return job
        return None

    def _job(self, r: Any) -> Job:
        raw = field_of(r, "status")
        raw = str(getattr(raw, "value", raw)) if raw is not None else ""
        progress = field_of(r, "progress")
        seconds = None
        if progress is not None and field_of(progress, "estimate_available"):
            seconds = field_of(progress, "seconds_remaining")
        training_type = field_of(r, "training_type")
        error = None
        if self.map_status(raw) is JobStatus.FAILED:
            events = field_of(r, "events") or []
            errs = [
                field_of(e, "message") for e in events if str(field_of(e, "level", "")).lower() == "error"
            ]
            error = errs[-1] if errs else None
        return Job(
            id=str(field_of(r, "id", "")),
            status=self.map_status(raw),
            raw_status=raw,
            final=self.is_final(raw),
            model=field_of(r, "model"),
            output_model=field_of(r, "x_model_output_name") or field_of(r, "model_output_name"),
            created_at=parse_time(field_of(r, "created_at")),
            finished_at=parse_time(field_of(r, "updated_at")) if self.is_final(raw) else None,
            training_file=field_of(r, "training_file"),
            validation_file=field_of(r, "validation_file") or None,
            suffix=field_of(r, "suffix"),
            steps_completed=field_of(r, "steps_completed"),
            total_steps=field_of(r, "total_steps"),
            epochs_completed=field_of(r, "epochs_completed"),
            total_epochs=field_of(r, "n_epochs"),
            seconds_remaining=seconds,
            queue_depth=field_of(r, "queue_depth"),
            error=error,
            metadata={"trainingType": str(field_of(training_type, "type"))}
            if training_type is not None
            else {},
        )

    # -- events and loss ----------------------------------------------------------------------------------------
    def list_events(self, job_id: str, *, known: Collection[str] = ()) -> list[JobEvent]:
        resp = self._call(f"fetching the events of {job_id}", self._client.fine_tuning.list_events, job_id)
        out = []
        for i, e in enumerate(field_of(resp, "data", []) or []):
            created = field_of(e, "created_at")
            etype = field_of(e, "type")
            etype = str(getattr(etype, "value", etype)) if etype is not None else None
            message = str(field_of(e, "message", ""))
            key = field_of(e, "hash") or f"{created}|{etype}|{message}|{i}"
            level = field_of(e, "level") or "info"
            out.append(
                JobEvent(
                    key=str(key),
                    created_at=parse_time(created),
                    message=message,
                    level=str(getattr(level, "value", level)).lower() or "info",
                    type=etype,
                    step=field_of(e, "step"),
                    total_steps=field_of(e, "total_steps"),
                    train_loss=field_of(e, "train_loss") or field_of(e, "loss"),
                    val_loss=field_of(e, "eval_loss") or field_of(e, "val_loss"),
                )
            )
        out.sort(key=lambda ev: ev.created_at or 0)
        return out

    def loss_curve(self, job_id: str, events: list[JobEvent]) -> list[LossPoint]:
        """From the metrics API (``GET /v1/fine-tunes/{id}/metrics``); the events when it has nothing."""
        try:
            resp = self._call(
                f"fetching the metrics of {job_id}", self._client.fine_tuning.list_metrics, job_id
            )
        except ProviderRequestError as e:
            if e.status_code in (404, 405, 501):  # older deployments without the endpoint
                return loss_from_events(events)
            raise
        points = metrics_to_points(field_of(resp, "metrics") or [])
        return points or loss_from_events(events)

    def download(self, job_id: str, checkpoint: str, dest: Path) -> Path:
        def fetch() -> None:
            stream = self._client.fine_tuning.with_streaming_response.content
            with stream(ft_id=job_id, checkpoint=checkpoint) as resp, dest.open("wb") as f:  # type: ignore[arg-type]
                for chunk in resp.iter_bytes():
                    f.write(chunk)

        self._call(f"downloading the {checkpoint} of {job_id}", fetch)
        return dest


def metrics_to_points(metrics: list[Any]) -> list[LossPoint]:
    """Together's flat metric snapshots (``train/loss``, ``eval/loss``, ``train/global_step`` ...) as points."""
    rows: list[tuple[float, float | None, float | None]] = []
    for i, m in enumerate(metrics):
        if not isinstance(m, dict):
            m = dict(getattr(m, "__dict__", {}))
        steps = ("train/global_step", "global_step", "eval/global_step", "step")
        step = next((float(m[k]) for k in steps if isinstance(m.get(k), (int, float))), float(i))
        train = val = None
        for k, v in m.items():
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                continue
            name = k.lower()
            if name in ("train/loss", "train_loss", "training/loss", "loss"):
                train = float(v)
            elif name in ("eval/loss", "eval_loss", "validation/loss", "val/loss", "valid_loss", "val_loss"):
                val = float(v)
        rows.append((step, train, val))
    return loss_points(rows)


def register(register: Callable[..., Any]) -> None:
    register(
        "together",
        TogetherProvider,
        default_model="meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
        key_var="TOGETHER_API_KEY",
        base_url_var="TOGETHER_BASE_URL",
        file_format=ProviderSpec(
            "together",
            message_keys=frozenset({"role", "content", "weight"}),
            file_formats=("conversation", "instruction", "general"),
        ),
        rules={
            "mixed-formats": ERROR,
            "text-field": ERROR,
            "consecutive-roles": ERROR,
            "weight-value": ERROR,
        },
        pricing="provider",
        capabilities=frozenset({"train", "chat", "download"}),
        unservable_hint="Together serves a LoRA fine-tune serverless only on some base models: deploy it on a "
        "dedicated endpoint, fine-tune a base model with serverless LoRA inference, or serve it yourself and "
        "pass --base-url URL",
    )
