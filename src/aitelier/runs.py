"""Fine-tuning run records: the ``runs`` list in ``.aitelier.json``.

A run is recorded before anything is uploaded and updated at each step (uploaded files, created job, every
status change seen), each time with one short locked read-modify-write of the config, never holding the lock
across a network call. So whatever happens (a crash, Ctrl-C, a provider error between upload and job
creation), the record says how far the attempt got. Keys never reach a record: error text is scrubbed first.

Record fields (camelCase like the rest of the npm-compatible config)::

    id             "run-<12 hex>": the client-side attempt id, also sent to providers that accept metadata
                   (runs the npm tool recorded have none: their jobId identifies them)
    provider       "together" | "openai" | a plugin's name
    baseModel      the model that was fine-tuned
    status         uploading | uploaded | creating | failed_to_start | declined | abandoned   (before a job)
                   pending | queued | running | completed | failed | cancelled | unknown   (the job's;
                   "completed" is the npm tool's word for a job that succeeded, so its `eval` finds our models)
    providerStatus the provider's own status word, shown beside ours
    jobId, fineTunedModel, modelId (the same model name, under the npm tool's key)
    files          {"train": {path, sha256, examples, bytes, fileId}, "val": {...}}
    hyperparameters, estimate
    startedAt, createdAt, updatedAt, finishedAt   (ISO-8601 UTC)
    error          what went wrong (scrubbed), createMayHaveSucceeded when the answer to the create was lost
    pid, host      the `ait train` process working on the run, while it uploads (a dead one: abandoned)
"""

from __future__ import annotations

import os
import socket
import uuid
from typing import Any

from .credentials import known_secrets, scrub
from .errors import NotFound, UsageError
from .fsutil import now_iso
from .project import Project

# "succeeded" is what aitelier wrote before it used the npm tool's "completed"; both mean the same
FINISHED = ("completed", "succeeded")
ENDED = (*FINISHED, "failed", "cancelled")
SUCCEEDED = "completed"
REMOVE = object()  # a value for update() that deletes the field
WORKING = ("uploading", "uploaded")  # a live `ait train` process owns runs in these states


def run_id(record: dict[str, Any]) -> str:
    """The run's id: ours, or the job id for runs the npm tool recorded (they have no ``id``)."""
    return str(record.get("id") or record.get("jobId") or "")


def model_of(record: dict[str, Any]) -> str | None:
    """The fine-tuned model's name, under our key or the npm tool's."""
    value = record.get("fineTunedModel") or record.get("modelId")
    return str(value) if value else None


def owner() -> dict[str, Any]:
    """Fields that say which process is working on a run (see :func:`abandoned`)."""
    return {"pid": os.getpid(), "host": socket.gethostname()}


def abandoned(record: dict[str, Any]) -> bool:
    """An upload that no process is working on any more (killed at the price question, say)."""
    if record.get("status") == "abandoned":
        return True
    if record.get("status") not in WORKING or record.get("host") != socket.gethostname():
        return False
    pid = record.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, owned by someone else
        return False
    return False


def finished(record: dict[str, Any]) -> bool:
    """The run's job succeeded (whichever word the record uses)."""
    return record.get("status") in FINISHED


def shown_status(record: dict[str, Any]) -> str:
    return "abandoned" if abandoned(record) else str(record.get("status", ""))


def new_run_id() -> str:
    return f"run-{uuid.uuid4().hex[:12]}"


def all_runs(project: Project) -> list[dict[str, Any]]:
    return project.runs  # the config is checked on reading: every run is a JSON object


def add(project: Project, record: dict[str, Any]) -> dict[str, Any]:
    record = {**record}
    record.setdefault("id", new_run_id())
    record.setdefault("startedAt", now_iso())
    record["updatedAt"] = now_iso()

    def fn(cfg: dict[str, Any]) -> None:
        runs = cfg.setdefault("runs", [])
        if any(run_id(r) == record["id"] for r in runs):
            raise UsageError(f"a run with id {record['id']} already exists")
        runs.append(record)

    project.update_config(fn)
    return record


def update(project: Project, rid: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Apply ``changes`` to the run (``REMOVE`` deletes a field); returns the updated record."""
    out: dict[str, Any] = {}
    secrets = known_secrets(project.root) if isinstance(changes.get("error"), str) else []

    def fn(cfg: dict[str, Any]) -> None:
        for r in cfg.get("runs", []):
            if run_id(r) == rid:
                for k, v in changes.items():
                    if v is REMOVE:
                        r.pop(k, None)
                    else:
                        r[k] = scrub(v, secrets) if k == "error" and isinstance(v, str) else v
                r["updatedAt"] = now_iso()
                out.update(r)
                return
        raise NotFound(f"run {rid} is no longer in .aitelier.json")

    project.update_config(fn)
    return out


def create_unanswered(record: dict[str, Any]) -> bool:
    """No job id, but the create was sent and its answer lost (or never came): the job may exist."""
    if record.get("jobId"):
        return False
    return bool(record.get("createMayHaveSucceeded")) or record.get("status") == "creating"


def is_active(record: dict[str, Any]) -> bool:
    """A job exists (or may exist) and has not reached a final status."""
    if not record.get("jobId"):
        return create_unanswered(record)
    return not record.get("finishedAt") and record.get("status") not in ENDED


def require_finished(record: dict[str, Any], why: str = "") -> None:
    """A usage error (exit 2) unless the run's job succeeded; ``why`` ends the message ("; --from needs ...")."""
    if not finished(record) or not record.get("jobId"):
        raise UsageError(
            f"run {run_id(record)} has not finished (status {shown_status(record)}){why}",
            hint="`ait status --watch` follows it",
        )


def latest_finished(project: Project) -> dict[str, Any] | None:
    """The latest run whose job succeeded with a model (what `ait eval` and `ait pull` take by default)."""
    return next((r for r in reversed(all_runs(project)) if finished(r) and model_of(r)), None)


def find(project: Project, ref: str) -> dict[str, Any]:
    """A run by run id, job id, fine-tuned model name, or a unique prefix of one of them."""
    runs = all_runs(project)
    for r in reversed(runs):
        if ref in (run_id(r), r.get("jobId"), model_of(r)):
            return r
    matches = [
        r for r in runs if any(str(v or "").startswith(ref) for v in (run_id(r), r.get("jobId"), model_of(r)))
    ]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise UsageError(f"{ref!r} matches {len(matches)} runs; give more of the id")
    raise NotFound(
        f"no run with id, job id or model {ref!r} in this project", hint="`ait status --all` lists them"
    )


def known_job_ids(project: Project) -> set[str]:
    return {str(r["jobId"]) for r in all_runs(project) if r.get("jobId")}


def same_attempt(
    record: dict[str, Any], *, provider: str, model: str, shas: dict[str, str | None], hyper: dict[str, Any]
) -> bool:
    """Whether ``record`` trains the same model on the same bytes with the same settings."""
    files = record.get("files") or {}
    return (
        record.get("provider") == provider
        and record.get("baseModel") == model
        and (files.get("train") or {}).get("sha256") == shas.get("train")
        and (files.get("val") or {}).get("sha256") == shas.get("val")
        and (record.get("hyperparameters") or {}) == hyper
    )
