"""A loopback OpenAI API (base URL ``<url>/v1``): files, fine_tuning/jobs (create, list with a metadata filter,
retrieve, cancel, events newest first with cursor paging) and chat completions, shaped like the spec extract.

``closed=True`` answers job creation the way the self-serve wind-down does (HTTP 403), while everything else
keeps working for existing jobs.
"""

from __future__ import annotations

import itertools
import re
import time
from typing import Any

from .server import FakeServer, Request, Response, error_body

CREATED = 1764064800


def default_script(total_steps: int = 12) -> list[dict[str, Any]]:
    return [
        {"status": "queued"},
        {"status": "running", "step": 4, "train_loss": 2.0, "valid_loss": 2.2},
        {"status": "running", "step": 8, "train_loss": 1.3, "valid_loss": 1.5},
        {"status": "running", "step": total_steps, "train_loss": 0.8, "valid_loss": 1.1},
        {"status": "succeeded"},
    ]


class FakeOpenAI(FakeServer):
    api_key = "sk-test-0123456789abcdefABCDEF"

    def __init__(self) -> None:
        super().__init__()
        self.files: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.closed = False
        self.script: list[dict[str, Any]] = default_script()
        self.total_steps = 12
        self.page_size = 100  # the most events one page holds, whatever `limit` asks for
        self.metadata_filter = True  # False: a server that ignores metadata[...] in the list query
        self.keep_metadata = True  # False: a server that drops the metadata it is sent
        self._ids = itertools.count(1)
        r = self.route
        r("POST", "/v1/files", self.create_file)
        r("GET", "/v1/files/(?P<fid>[^/]+)", self.get_file)
        r("POST", "/v1/fine_tuning/jobs", self.create_job)
        r("GET", "/v1/fine_tuning/jobs", self.list_jobs)
        r("GET", "/v1/fine_tuning/jobs/(?P<jid>[^/]+)/events", self.events)
        r("POST", "/v1/fine_tuning/jobs/(?P<jid>[^/]+)/cancel", self.cancel)
        r("GET", "/v1/fine_tuning/jobs/(?P<jid>[^/]+)", self.get_job)
        r("POST", "/v1/chat/completions", self.chat)

    def _deny(self, req: Request) -> Response | None:
        if not self.authorized(req):
            body = error_body("Incorrect API key provided: sk-te***CDEF.", "invalid_request_error")
            body["error"]["code"] = "invalid_api_key"
            return Response(401, body)
        return None

    def create_file(self, req: Request) -> Response:
        if (deny := self._deny(req)) is not None:
            return deny
        form = req.form
        filename, content = form.get("file", (None, b""))
        fid = f"file-{next(self._ids):04d}"
        self.files[fid] = {
            "id": fid,
            "object": "file",
            "bytes": len(content),
            "created_at": CREATED,
            "filename": filename,
            "purpose": form.get("purpose"),
            "status": "processed",
            "_content": content,
        }
        return Response(200, {k: v for k, v in self.files[fid].items() if not k.startswith("_")})

    def get_file(self, req: Request) -> Response:
        if (deny := self._deny(req)) is not None:
            return deny
        f = self.files.get(req.params["fid"])
        if f is None:
            return Response(404, error_body(f"No such File object: {req.params['fid']}"))
        return Response(200, {k: v for k, v in f.items() if not k.startswith("_")})

    def _job_json(self, job: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in job.items() if not k.startswith("_")}

    def create_job(self, req: Request) -> Response:
        if (deny := self._deny(req)) is not None:
            return deny
        if self.closed:
            body = error_body(
                "Fine-tuning is no longer available to your organization: self-serve fine-tuning has been wound down.",
                "invalid_request_error",
            )
            return Response(403, body)
        body = req.json or {}
        if body.get("training_file") not in self.files:
            return Response(400, error_body(f"invalid training_file: {body.get('training_file')}"))
        jid = f"ftjob-{next(self._ids):04d}"
        method = body.get("method") or {"type": "supervised", "supervised": {"hyperparameters": {}}}
        kind = method.get("type")  # FineTuneMethod: supervised, dpo or reinforcement
        if kind not in ("supervised", "dpo", "reinforcement"):
            return Response(400, error_body(f"invalid method.type: {kind}"))
        hyper = dict((method.get(kind) or {}).get("hyperparameters") or {})
        hyper.setdefault("n_epochs", "auto")
        hyper.setdefault("batch_size", "auto")
        hyper.setdefault("learning_rate_multiplier", "auto")
        if kind == "dpo":
            hyper.setdefault("beta", "auto")
        job = {
            "object": "fine_tuning.job",
            "id": jid,
            "model": body.get("model"),
            "created_at": CREATED + len(self.jobs),
            "finished_at": None,
            "fine_tuned_model": None,
            "organization_id": "org-test",
            "result_files": [],
            "status": "validating_files",
            "validation_file": body.get("validation_file"),
            "training_file": body["training_file"],
            "hyperparameters": hyper,
            "trained_tokens": None,
            "error": None,
            "seed": body.get("seed", 42),
            "estimated_finish": None,
            "integrations": [],
            "metadata": body.get("metadata") if self.keep_metadata else None,
            "user_provided_suffix": body.get("suffix"),
            "method": {"type": kind, kind: {"hyperparameters": hyper}},
            "_script": [dict(s) for s in self.script],
            "_events": [],
            "_suffix": body.get("suffix"),
        }
        self.jobs[jid] = job
        self._event(job, "info", f"Created fine-tuning job: {jid}")
        return Response(200, self._job_json(job))

    def _event(
        self, job: dict[str, Any], level: str, message: str, data: dict[str, Any] | None = None
    ) -> None:
        n = len(job["_events"])
        job["_events"].append(
            {
                "object": "fine_tuning.job.event",
                "id": f"ftevent-{job['id'][-4:]}-{n:04d}",
                "created_at": CREATED + 10 * n,
                "level": level,
                "message": message,
                "data": data or {},
                "type": "metrics" if data else "message",
            }
        )

    def advance(self, job: dict[str, Any]) -> None:
        if not job["_script"] or job["status"] in ("succeeded", "failed", "cancelled"):
            return
        step = job["_script"].pop(0)
        job["status"] = step["status"]
        if step["status"] == "queued":
            self._event(job, "info", "Validated training file")
        elif step["status"] == "running":
            data = {"step": step["step"], "total_steps": self.total_steps, "train_loss": step["train_loss"]}
            if "valid_loss" in step:
                data["valid_loss"] = step["valid_loss"]
            self._event(
                job,
                "info",
                f"Step {step['step']}/{self.total_steps}: training loss={step['train_loss']}",
                data,
            )
            job["estimated_finish"] = int(time.time()) + 600
        elif step["status"] == "succeeded":
            suffix = job.get("_suffix") or ""
            job["fine_tuned_model"] = f"ft:{job['model']}:org-test:{suffix}:{job['id'][-4:]}"
            job["finished_at"] = CREATED + 3600
            job["trained_tokens"] = 12345
            job["estimated_finish"] = None
            self._event(job, "info", "The job has successfully completed")
        elif step["status"] == "failed":
            job["error"] = {
                "code": "invalid_training_file",
                "message": step.get("message", "bad file"),
                "param": "training_file",
            }
            job["finished_at"] = CREATED + 60
            self._event(job, "error", job["error"]["message"])

    def list_jobs(self, req: Request) -> Response:
        if (deny := self._deny(req)) is not None:
            return deny
        wanted = {}
        for key, values in req.query.items():
            m = re.fullmatch(r"metadata\[(.+)\]", key)
            if m and self.metadata_filter:
                wanted[m.group(1)] = values[0]
        jobs = [
            j
            for j in reversed(self.jobs.values())
            if all((j.get("metadata") or {}).get(k) == v for k, v in wanted.items())
        ]
        limit = int(req.q("limit") or 20)
        return Response(
            200,
            {
                "object": "list",
                "data": [self._job_json(j) for j in jobs[:limit]],
                "has_more": len(jobs) > limit,
            },
        )

    def get_job(self, req: Request) -> Response:
        if (deny := self._deny(req)) is not None:
            return deny
        job = self.jobs.get(req.params["jid"])
        if job is None:
            return Response(404, error_body(f"Could not find fine-tune job {req.params['jid']}"))
        self.advance(job)
        return Response(200, self._job_json(job))

    def events(self, req: Request) -> Response:
        if (deny := self._deny(req)) is not None:
            return deny
        job = self.jobs.get(req.params["jid"])
        if job is None:
            return Response(404, error_body("not found"))
        newest_first = list(reversed(job["_events"]))
        after = req.q("after")
        if after:
            ids = [e["id"] for e in newest_first]
            newest_first = newest_first[ids.index(after) + 1 :] if after in ids else []
        limit = min(int(req.q("limit") or 20), self.page_size)
        page = newest_first[:limit]
        return Response(200, {"object": "list", "data": page, "has_more": len(newest_first) > limit})

    def cancel(self, req: Request) -> Response:
        if (deny := self._deny(req)) is not None:
            return deny
        job = self.jobs.get(req.params["jid"])
        if job is None:
            return Response(404, error_body("not found"))
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return Response(400, error_body(f"Job has already {job['status']}"))
        job["status"] = "cancelled"
        job["finished_at"] = CREATED + 120
        self._event(job, "info", "Fine-tuning job cancelled")
        return Response(200, self._job_json(job))

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
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": CREATED,
                "model": body.get("model"),
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": self.chat_text(body),
                            "refusal": None,
                            "annotations": [],
                        },
                        "finish_reason": "stop",
                        "logprobs": None,
                    }
                ],
                "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
            },
        )
