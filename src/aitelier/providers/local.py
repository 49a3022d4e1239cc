"""Training and generation on this machine: LoRA through TRL + peft (the ``local`` extra).

A local job is a detached process with a run directory in the project (``runs/<run id>/``, git-ignored; see
:mod:`aitelier.local.jobs`), so `ait train` returns at once and `ait status`, `--watch` and `ait cancel` work
as for a remote provider. "Uploading" a file only checks it: nothing leaves the machine. The fine-tuned model
is the adapter directory (``runs/<run id>/adapter``), which `ait eval` can ask this provider to run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from ..errors import NotFound, UsageError
from ..formats.rules import ERROR, WARNING, ProviderSpec
from .base import (
    RPO_ALPHA,
    ChatResult,
    Hyperparameter,
    Hyperparameters,
    Job,
    JobEvent,
    JobRequest,
    JobStatus,
    ModelLimits,
    Provider,
    ProviderSettings,
    UploadedFile,
    UploadProgress,
)

DEFAULT_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"


class LocalProvider(Provider):
    name = "local"
    title = "local"
    status_map = {
        "pending": JobStatus.PENDING,
        "running": JobStatus.RUNNING,
        "succeeded": JobStatus.SUCCEEDED,
        "failed": JobStatus.FAILED,
        "cancelled": JobStatus.CANCELLED,
    }
    final_statuses = frozenset({"succeeded", "failed", "cancelled"})
    hyperparameters = (
        Hyperparameter("epochs", int, "Passes over the data.", default=3, minimum=1, maximum=1000),
        Hyperparameter("batch_size", int, "Examples per step.", default=4, minimum=1, maximum=4096),
        Hyperparameter(
            "learning_rate", float, "The learning rate.", default=2e-4, minimum=0, exclusive_minimum=True
        ),
        Hyperparameter("lora_r", int, "LoRA rank.", default=8, minimum=1, maximum=1024),
        Hyperparameter("lora_alpha", int, "LoRA alpha.", default=16, minimum=1),
        Hyperparameter(
            "lora_dropout", float, "LoRA dropout.", default=0.05, minimum=0, maximum=1, exclusive_maximum=True
        ),
        Hyperparameter(
            "max_length", int, "Tokens per example; longer ones are cut.", default=1024, minimum=16
        ),
        Hyperparameter("seed", int, "Random seed, for a reproducible run.", minimum=0, maximum=2147483647),
        # DPO (TRL's DPOTrainer)
        Hyperparameter(
            "dpo_beta",
            float,
            "DPO: how far the model may move from the reference; higher stays closer.",
            default=0.1,
            minimum=0,
            exclusive_minimum=True,
            method="dpo",
        ),
        RPO_ALPHA,
    )
    methods = ("sft", "dpo")
    continues_runs = True  # --from RUN: that run's adapter merged into the base model, a new adapter on top
    create_endpoint = "python -m aitelier.local.worker RUN_DIR"

    def __init__(self, settings: ProviderSettings) -> None:
        from ..local import INSTALL, missing

        super().__init__(settings)
        lacking = missing()
        if lacking:
            raise UsageError(f"the local provider needs {', '.join(lacking)}: {INSTALL}")
        self.root = settings.project_root or Path.cwd()
        self._models: dict[str, Any] = {}
        self._load_lock = threading.Lock()
        self._batcher: Any = None

    # -- files and jobs -------------------------------------------------------------------------------------
    def _dir(self, job_id: str) -> Path:
        from ..local import jobs

        return jobs.run_dir(self.root, job_id)

    def upload_file(self, path: Path, *, on_progress: UploadProgress | None = None) -> UploadedFile:
        size = path.stat().st_size
        return UploadedFile(str(path.resolve()), path.name, bytes=size, processed=True)

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
        payload = {
            "model": model,
            "method": method,
            "trainingFile": training_file,
            "validationFile": validation_file,
            "hyperparameters": dict(hp),
            "runDir": f"runs/{attempt_id}",
        }
        if from_run is not None:
            payload["fromAdapter"] = str(from_run.get("fineTunedModel") or "")
        return self.job_request(model, hp, training_file, validation_file, attempt_id, payload)

    def create_job(self, request: JobRequest) -> Job:
        from ..local import jobs

        jobs.start(self.root, request.attempt_id, request.payload)
        return self.get_job(request.attempt_id)

    def find_job(self, request: JobRequest, *, exclude: Collection[str]) -> Job | None:
        if request.attempt_id in exclude or not (self._dir(request.attempt_id) / "process.json").exists():
            return None
        return self.get_job(request.attempt_id)

    def get_job(self, job_id: str) -> Job:
        from ..local import jobs

        d = self._dir(job_id)
        if not (d / "request.json").exists():
            raise NotFound(f"no local run directory {d}")
        st = jobs.state(d)
        adapter = None
        if st.adapter:
            adapter = str(Path(st.adapter).resolve())
        return Job(
            id=job_id,
            status=self.map_status(st.status),
            raw_status=st.status,
            final=st.status in jobs.FINAL,
            model=None,
            output_model=adapter,
            created_at=st.started,
            finished_at=st.finished,
            steps_completed=st.step,
            total_steps=st.total_steps,
            epochs_completed=st.epoch,
            total_epochs=st.total_epochs,
            seconds_remaining=st.seconds_remaining,
            error=st.error,
        )

    def list_events(self, job_id: str, *, known: Collection[str] = ()) -> list[JobEvent]:
        from ..local import jobs

        out = []
        for i, e in enumerate(jobs.read_events(self._dir(job_id))):
            message = e.get("message") or e.get("error") or ""
            if e.get("loss") is not None:
                message = f"step {e['step']}/{e.get('totalSteps')}: training loss {e['loss']:.4f}"
            elif e.get("valLoss") is not None and not message:
                message = f"step {e['step']}: validation loss {e['valLoss']:.4f}"
            elif e.get("valLoss") is not None:
                message = f"{message}: {e['valLoss']:.4f}"
            level = "error" if e.get("status") == "failed" else "info"
            out.append(
                JobEvent(
                    key=str(i),
                    created_at=e.get("time"),
                    message=message,
                    level=level,
                    type=e.get("status"),
                    step=e.get("step"),
                    total_steps=e.get("totalSteps"),
                    train_loss=e.get("loss"),
                    val_loss=e.get("valLoss"),
                )
            )
        job = self.get_job(job_id)
        if job.final and job.error and not any(ev.level == "error" for ev in out):
            out.append(JobEvent(str(len(out)), job.finished_at, job.error, "error", "failed"))
        return out

    def cancel_job(self, job_id: str) -> Job:
        from ..local import jobs

        job = self.get_job(job_id)
        if not job.final:
            jobs.cancel(self._dir(job_id))
        return self.get_job(job_id)

    # -- generation -----------------------------------------------------------------------------------------
    def _model(self, name: str) -> Any:
        from ..local import infer

        path = Path(name)
        if not path.is_absolute() and (self.root / path).exists():
            name = str(self.root / path)
        with self._load_lock:
            if name not in self._models:
                self._models[name] = infer.load(name)
            return self._models[name]

    def _run_batch(self, key: tuple[str, int, float, int | None], items: list[Any]) -> list[ChatResult]:
        from ..local import infer

        name, max_tokens, temperature, seed = key
        loaded = self._model(name)
        out = infer.generate(loaded, items, max_tokens=max_tokens, temperature=temperature, seed=seed)
        return [ChatResult(text, name) for text in out]

    def chat(
        self,
        model: str,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        seed: int | None = None,
    ) -> ChatResult:
        from ..local import infer

        with self._load_lock:
            if self._batcher is None:
                self._batcher = infer.Batcher(self._run_batch)
        plain = [{"role": m["role"], "content": m["content"]} for m in messages]
        key = (model, max_tokens or 256, float(temperature or 0.0), seed)
        result: ChatResult = self._batcher.submit(key, plain)
        return result


def register(register: Callable[..., Any]) -> None:
    register(
        "local",
        LocalProvider,
        title="local",
        default_model=DEFAULT_MODEL,
        key_var="-",  # no key: nothing leaves the machine
        base_url_var="-",
        # what the local trainer reads: one {"messages": [...]} per line, fed to the model's chat template;
        # `weight: 0` on an assistant turn keeps it out of the loss
        file_format=ProviderSpec("local", message_keys=frozenset({"role", "content", "weight"})),
        rules={"line-keys": WARNING, "consecutive-roles": ERROR},  # chat templates need alternating roles
        pricing="free",
        capabilities=frozenset({"train", "chat"}),
    )
