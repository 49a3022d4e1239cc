"""A loopback Together API: the routes and JSON shapes of the spec extract in ``tests/contract/providers/specs`` and the
upload flow of the together 3.x SDK (POST /v1/files -> 302 + X-Together-File-Id, PUT the bytes to Location,
POST /v1/files/{id}/preprocess, then GET /v1/files/{id} until the file is processed).

Job progress is scripted: each ``GET /v1/fine-tunes/{id}`` applies the next step of :attr:`script`
(queued -> running with steps -> completed by default), appending the events and metrics that step implies.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from datetime import datetime, timezone
from typing import Any

from .server import FakeServer, Request, Response, error_body

_last = 0.0


def _now(offset: float = 0.0) -> str:
    """The real UTC time (plus ``offset``: a server whose clock disagrees with ours), strictly increasing so
    events keep order."""
    global _last
    t = max(time.time(), _last + 0.001)
    _last = t
    return (
        datetime.fromtimestamp(t + offset, timezone.utc)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


DEFAULT_LIMITS = {
    "model_name": "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
    "max_num_epochs": 20,
    "max_num_evals": 100,
    "max_learning_rate": 1.0,
    "min_learning_rate": 1e-6,
    "lora_training": {
        "max_batch_size": 32,
        "max_batch_size_dpo": 16,
        "min_batch_size": 8,
        "max_rank": 64,
        "default_rank": 16,
        "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"],
    },
    "full_training": {"max_batch_size": 16, "max_batch_size_dpo": 8, "min_batch_size": 8},
    "supports_vision": False,
    "supports_tools": True,
    "supports_reasoning": False,
    "supports_full_training": True,
    "merge_output_lora": True,
    "min_max_seq_length": 512,
    "max_seq_length_sft": 8192,
    "max_seq_length_dpo": 8192,
    "default_gradient_accumulation_steps": 1,
    "max_num_checkpoints": 10,
}


def default_script(total_steps: int = 10) -> list[dict[str, Any]]:
    return [
        {"status": "queued", "queue_depth": 2},
        {"status": "running", "step": 2, "epochs_completed": 0, "loss": 2.1},
        {"status": "running", "step": 5, "epochs_completed": 1, "loss": 1.4, "eval_loss": 1.6},
        {"status": "running", "step": total_steps, "epochs_completed": 3, "loss": 0.9, "eval_loss": 1.2},
        {"status": "completed"},
    ]


class FakeTogether(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.files: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.limits: dict[str, dict[str, Any]] = {}  # model -> limits; unknown models get DEFAULT_LIMITS
        self.unknown_models: set[str] = set()
        self.processing_polls = 1  # GETs of a file before it is processed
        self.reject_files: dict[str, str] = {}  # file name -> validation error message
        self.script: list[dict[str, Any]] = default_script()
        self.clock_offset = 0.0  # seconds the server's clock is ahead of ours (negative: behind)
        self.total_steps = 10
        self.price = 4.25
        self.allowed_to_proceed = True
        self.metrics_supported = True
        self._ids = itertools.count(1)
        r = self.route
        r("POST", "/v1/files", self.create_file)
        r("PUT", "/upload/(?P<fid>[^/]+)", self.put_bytes)
        r("POST", "/v1/files/(?P<fid>[^/]+)/preprocess", self.preprocess)
        r("GET", "/v1/files/(?P<fid>[^/]+)", self.get_file)
        r("GET", "/v1/fine-tunes/models/limits", self.model_limits)
        r("POST", "/v1/fine-tunes/estimate-price", self.estimate_price)
        r("POST", "/v1/fine-tunes", self.create_job)
        r("GET", "/v1/fine-tunes", self.list_jobs)
        r("GET", "/v1/fine-tunes/(?P<jid>[^/]+)/events", self.events)
        r("GET", "/v1/fine-tunes/(?P<jid>[^/]+)/metrics", self.metrics)
        r("POST", "/v1/fine-tunes/(?P<jid>[^/]+)/cancel", self.cancel)
        r("GET", "/v1/fine-tunes/(?P<jid>[^/]+)", self.get_job)
        r("POST", "/v1/chat/completions", self.chat)
        r("GET", "/v1/finetune/download", self.download)
        # what GET /finetune/download sends for checkpoint=adapter, as a tar.gz (the spec says only "binary")
        self.checkpoint = {
            "adapter_config.json": b'{"peft_type": "LORA", "r": 8, "lora_alpha": 16}',
            "adapter_model.safetensors": bytes(range(256)) * 4,
        }

    def _deny(self, req: Request) -> Response | None:
        if not self.authorized(req):
            return Response(401, error_body("Invalid API key provided", "invalid_api_key"))
        return None

    # -- files --------------------------------------------------------------------------------------------------
    def create_file(self, req: Request) -> Response:
        if (deny := self._deny(req)) is not None:
            return deny
        form = req.form
        fid = f"file-{next(self._ids):04d}"
        self.files[fid] = {
            "id": fid,
            "filename": form.get("file_name"),
            "purpose": form.get("purpose"),
            "file_type": form.get("file_type"),
            "checksum": form.get("checksum"),
            "content": None,
            "polls": self.processing_polls,
            "status": "PENDING",
            "created_at": 1764064800,
        }
        return Response(302, None, {"location": f"{self.url}/upload/{fid}", "x-together-file-id": fid})

    def put_bytes(self, req: Request) -> Response:
        f = self.files.get(req.params["fid"])
        if f is None:
            return Response(404, b"no such upload")
        f["content"] = req.body
        return Response(200, b"")

    def _file_json(self, f: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": f["id"],
            "object": "file",
            "created_at": f["created_at"],
            "filename": f["filename"],
            "bytes": len(f["content"] or b""),
            "purpose": f["purpose"],
            "FileType": f["file_type"],
            "Processed": f["status"] == "COMPLETED",
            "processing_status": f["status"],
        }
        if f["status"] in ("COMPLETED", "INVALID_FORMAT"):
            report: dict[str, Any] = {"valid": f["status"] == "COMPLETED", "file_id": f["id"]}
            if f["status"] == "COMPLETED":
                report.update(dataset_format="CONVERSATION", nlines=(f["content"] or b"").count(b"\n"))
            else:
                report.update(error=f["error"], error_type="INVALID_FORMAT")
            out["validation_report"] = report
        return out

    def preprocess(self, req: Request) -> Response:
        if (deny := self._deny(req)) is not None:
            return deny
        f = self.files.get(req.params["fid"])
        if f is None or f["content"] is None:
            return Response(404, error_body("file not uploaded"))
        if f["checksum"] and f["checksum"] != hashlib.sha256(f["content"]).hexdigest():
            return Response(400, error_body("checksum mismatch"))
        if self.processing_polls == 0:
            self._finish_processing(f)
        return Response(200, self._file_json(f))

    def _finish_processing(self, f: dict[str, Any]) -> None:
        if f["filename"] in self.reject_files:
            f["status"] = "INVALID_FORMAT"
            f["error"] = self.reject_files[f["filename"]]
        else:
            f["status"] = "COMPLETED"

    def get_file(self, req: Request) -> Response:
        if (deny := self._deny(req)) is not None:
            return deny
        f = self.files.get(req.params["fid"])
        if f is None:
            return Response(404, error_body("no such file"))
        if f["status"] == "PENDING":
            f["polls"] -= 1
            if f["polls"] <= 0:
                self._finish_processing(f)
        return Response(200, self._file_json(f))

    # -- limits and price -----------------------------------------------------------------------------------------
    def model_limits(self, req: Request) -> Response:
        if (deny := self._deny(req)) is not None:
            return deny
        model = req.q("model_name") or ""
        if model in self.unknown_models:
            return Response(404, {"message": f"Model {model} is not available for fine-tuning"})
        return Response(200, {**DEFAULT_LIMITS, **self.limits.get(model, {}), "model_name": model})

    def estimate_price(self, req: Request) -> Response:
        if (deny := self._deny(req)) is not None:
            return deny
        body = req.json or {}
        f = self.files.get(body.get("training_file", ""))
        if f is None:
            return Response(400, error_body("training_file not found"))
        return Response(
            200,
            {
                "estimation_available": True,
                "estimated_total_price": self.price,
                "allowed_to_proceed": self.allowed_to_proceed,
                "user_limit": 100.0,
                "estimated_train_token_count": 12345.0 * (body.get("n_epochs") or 1),
                "estimated_eval_token_count": 2000.0 if body.get("validation_file") else 0.0,
            },
        )

    # -- jobs -------------------------------------------------------------------------------------------------
    def create_job(self, req: Request) -> Response:
        if (deny := self._deny(req)) is not None:
            return deny
        body = req.json or {}
        train = self.files.get(body.get("training_file", ""))
        if train is None or train["status"] != "COMPLETED":
            return Response(400, error_body("training file is not processed"))
        model = body.get("model", "")
        parent = None
        if body.get("from_checkpoint"):  # `{job id}` or `{output model name}`, optionally `:{step}`
            ref = str(body["from_checkpoint"]).partition(":")[0]
            parent = next(
                (
                    j
                    for j in self.jobs.values()
                    if ref in (j["id"], j["_output"]) and j["status"] == "completed"
                ),
                None,
            )
            if parent is None:
                return Response(400, error_body(f"checkpoint {body['from_checkpoint']} not found"))
            model = model or parent["model"]
        jid = f"ft-{next(self._ids):04d}-{hashlib.sha1(str(body).encode()).hexdigest()[:8]}"
        now = _now(self.clock_offset)
        suffix = body.get("suffix")
        job = {
            "id": jid,
            "status": "pending",
            "created_at": now,
            "updated_at": now,
            "user_id": "user_0001",
            "owner_address": "user@example.com",
            "model": model,
            "training_file": body["training_file"],
            "n_epochs": body.get("n_epochs"),
            "n_evals": body.get("n_evals"),
            # the service reports the batch size it chose for "max"
            "batch_size": DEFAULT_LIMITS["lora_training"]["max_batch_size"]
            if body.get("batch_size") in (None, "max")
            else body["batch_size"],
            "learning_rate": body.get("learning_rate"),
            "training_type": body.get("training_type"),
            "training_method": body.get("training_method"),
            "token_count": 0,
            "total_price": 0,
            "events": [],
            "_script": [dict(s) for s in self.script],
            "_events": [],
            "_metrics": [],
            "_output": f"user/{model.split('/')[-1]}-{suffix or 'ft'}-{jid[-8:]}",
        }
        if body.get("validation_file"):
            job["validation_file"] = body["validation_file"]
        if suffix:
            job["suffix"] = suffix
        if parent is not None:
            job["from_checkpoint"] = body["from_checkpoint"]
        self.jobs[jid] = job
        self._event(job, "job_pending", "Fine tune request created")
        return Response(200, self._truncated(job))

    def _event(
        self, job: dict[str, Any], etype: str, message: str, level: str = "info", step: int = 0
    ) -> None:
        job["_events"].append(
            {
                "object": "fine-tune-event",
                "created_at": _now(),
                "level": level,
                "message": message,
                "type": etype,
                "param_count": 8030261248,
                "token_count": 12345,
                "total_steps": self.total_steps,
                "wandb_url": "",
                "step": step,
                "checkpoint_path": "",
                "model_path": "",
                "training_offset": 0,
                "hash": f"h{len(job['_events']):04d}",
            }
        )

    def _truncated(self, job: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in job.items() if not k.startswith("_") and k not in ("steps_completed",)}
        if job["status"] == "completed":
            out["model_output_name"] = job["_output"]
        return out

    def _public(self, job: dict[str, Any]) -> dict[str, Any]:
        out = self._truncated(job)
        out.pop("owner_address", None)
        out.pop("suffix", None)
        if job.get("steps_completed") is not None:
            out["steps_completed"] = job["steps_completed"]
            out["total_steps"] = self.total_steps
        if job["status"] in ("completed",):
            out["model_output_name"] = job["_output"]
        return out

    def advance(self, job: dict[str, Any]) -> None:
        if not job["_script"] or job["status"] in ("completed", "error", "user_error", "cancelled"):
            return
        step = job["_script"].pop(0)
        prev = job["status"]
        job["status"] = step["status"]
        job["updated_at"] = _now()
        if "queue_depth" in step:
            job["queue_depth"] = step["queue_depth"]
        if step["status"] == "running":
            job.pop("queue_depth", None)
            if prev != "running":
                self._event(job, "training_start", "Training started")
            job["steps_completed"] = step.get("step", 0)
            job["epochs_completed"] = step.get("epochs_completed", 0)
            job["progress"] = {
                "estimate_available": True,
                "seconds_remaining": 60 * (self.total_steps - step["step"]),
            }
            self._event(job, "checkpoint_save", f"Step {step['step']}/{self.total_steps}", step=step["step"])
            metric: dict[str, float] = {"train/global_step": float(step["step"]), "train/loss": step["loss"]}
            job["_metrics"].append(metric)
            if "eval_loss" in step:
                job["_metrics"].append(
                    {"eval/global_step": float(step["step"]), "eval/loss": step["eval_loss"]}
                )
                self._event(
                    job, "epoch_complete", f"Epoch completed, at step {step['step']}", step=step["step"]
                )
        elif step["status"] == "completed":
            job.pop("progress", None)
            self._event(job, "job_complete", f"Job finished. Model: {job['_output']}", step=self.total_steps)
        elif step["status"] == "cancelled":
            self._event(job, "job_stopped", "Job cancelled by user")
        elif step["status"] in ("error", "user_error"):
            self._event(job, "job_error", step.get("message", "Training failed: CUDA out of memory"), "error")

    def download(self, req: Request) -> Response:
        if (deny := self._deny(req)) is not None:
            return deny
        job = self.jobs.get((req.query.get("ft_id") or [""])[0])
        if job is None:
            return Response(404, error_body("fine-tune job not found"))
        if job["status"] != "completed" or (req.query.get("checkpoint") or [""])[0] not in (
            "adapter",
            "merged",
        ):
            return Response(400, error_body("the job has no such checkpoint yet"))
        import io
        import tarfile

        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            for name, data in self.checkpoint.items():
                info = tarfile.TarInfo(f"{job['_output'].split('/')[-1]}/{name}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return Response(200, buf.getvalue(), {"content-type": "application/octet-stream"})

    def list_jobs(self, req: Request) -> Response:
        if (deny := self._deny(req)) is not None:
            return deny
        return Response(200, {"data": [self._truncated(j) for j in self.jobs.values()]})

    def get_job(self, req: Request) -> Response:
        if (deny := self._deny(req)) is not None:
            return deny
        job = self.jobs.get(req.params["jid"])
        if job is None:
            return Response(404, error_body("fine-tune job not found"))
        self.advance(job)
        out = self._public(job)
        out["events"] = list(job["_events"])
        return Response(200, out)

    def events(self, req: Request) -> Response:
        if (deny := self._deny(req)) is not None:
            return deny
        job = self.jobs.get(req.params["jid"])
        if job is None:
            return Response(404, error_body("fine-tune job not found"))
        return Response(200, {"data": list(job["_events"])})

    def metrics(self, req: Request) -> Response:
        if (deny := self._deny(req)) is not None:
            return deny
        if not self.metrics_supported:
            return Response(404, error_body("not found"))
        job = self.jobs.get(req.params["jid"])
        if job is None:
            return Response(404, error_body("fine-tune job not found"))
        return Response(200, {"metrics": list(job["_metrics"])})

    def cancel(self, req: Request) -> Response:
        if (deny := self._deny(req)) is not None:
            return deny
        job = self.jobs.get(req.params["jid"])
        if job is None:
            return Response(404, error_body("fine-tune job not found"))
        if job["status"] in ("completed", "error", "user_error", "cancelled"):
            return Response(400, error_body(f"job is already {job['status']}"))
        job["status"] = "cancel_requested"
        job["_script"] = [{"status": "cancelled"}]
        self._event(job, "cancel_requested", "Cancel requested by user")
        return Response(200, self._truncated(job))

    # -- inference --------------------------------------------------------------------------------------------
    def chat(self, req: Request) -> Response:
        if (deny := self._deny(req)) is not None:
            return deny
        body = req.json or {}
        if body.get("model") in self.unservable:
            status, error = self.unservable[body["model"]]
            return Response(status, error)
        return Response(
            200,
            {
                "id": "chat-0001",
                "object": "chat.completion",
                "created": 1764064800,
                "model": body.get("model"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": self.chat_text(body)},
                        "finish_reason": "stop",
                    }
                ],
                "prompt": [],
                "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
            },
        )
