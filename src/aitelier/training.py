"""Train, follow and cancel fine-tunes: the library behind ``ait train``, ``ait status`` and ``ait cancel``.

The order of ``ait train`` is chosen so that money is spent last and nothing is done twice:

1. :func:`preflight` (local): the formatted files exist, are not empty, are newer than the examples, pass the
   provider's rules; their SHA-256 and example counts.
2. :func:`plan` (one cheap call): the model's limits; every hyperparameter checked against them before
   anything is uploaded; the exact request body built (file ids as placeholders) for ``--dry-run``.
3. :func:`start`: an identical run that is still active is reported (the front end asks); a run whose create
   answer was lost is looked up on the provider instead of creating a second job. Then the run is recorded
   (``uploading``), files uploaded and validated by the provider (``uploaded`` + file ids), the price fetched
   and confirmed, and the job created once (``creating`` -> the job's status + job id). Any failure on the way
   leaves ``failed_to_start`` with the error; a create whose answer was lost is checked for before any retry.

Front ends talk to this module through :class:`TrainUI` (questions and progress notes), so the library never
prints and never holds the project lock while a person or the network is being waited for.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from . import freshness, runs
from .errors import AitelierError, DataProblem, JobFailed, NotFound, UsageError, ValidationFailed
from .fsutil import now_iso
from .project import Project
from .providers import registry
from .providers.base import (
    FineTuningClosed,
    Hyperparameters,
    Job,
    JobEvent,
    JobRequest,
    JobStatus,
    ModelLimits,
    PriceEstimate,
    Provider,
    ProviderRequestError,
    UploadedFile,
)

PLACEHOLDER = "<file id of {path} once uploaded>"


# -- 1. the formatted files ----------------------------------------------------------------------------------------
@dataclass
class DataFile:
    role: str  # "train" or "val"
    path: Path
    rel: str  # as shown to the user: data/train.jsonl
    sha256: str
    examples: int
    bytes: int

    def to_record(self, file_id: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "path": self.rel,
            "sha256": self.sha256,
            "examples": self.examples,
            "bytes": self.bytes,
        }
        if file_id:
            out["fileId"] = file_id
        return out


@dataclass
class Preflight:
    train: DataFile
    val: DataFile | None
    train_tokens: int | None = None  # every token of every training example (an estimate), when counted
    token_note: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def shas(self) -> dict[str, str | None]:
        return {"train": self.train.sha256, "val": self.val.sha256 if self.val else None}


def _hash_and_count(path: Path) -> tuple[str, int, int]:
    h = hashlib.sha256()
    lines = 0
    size = 0
    last = b"\n"
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            lines += chunk.count(b"\n")
            size += len(chunk)
            last = chunk[-1:]
    if size and last != b"\n":
        lines += 1
    return h.hexdigest(), lines, size


def preflight(
    project: Project, provider: str, model: str, *, epochs: int | None = None, method: str = "sft"
) -> Preflight:
    """Refuse (with advice) when the formatted files (of ``method``: sft or dpo) are missing, empty, stale or
    break the provider's rules."""
    train_path, val_path = freshness.files(project, method)
    command = "ait format" if method == "sft" else f"ait format --method {method}"
    fix = f"run `{command}` to write it from your " + (
        "rated examples" if method == "sft" else "preference pairs (`ait pairs`)"
    )
    if not train_path.exists():
        raise NotFound(f"{project.relative(train_path)} does not exist", hint=fix)
    fresh = freshness.check(project, provider, method)
    if fresh.state == "stale":
        raise ValidationFailed(
            f"{project.relative(train_path)} and {project.relative(val_path)} are stale ({'; '.join(fresh.reasons)})",
            hint=f"run `{command}` so the upload holds your latest examples, ratings and settings",
        )
    files: list[DataFile] = []
    for role, path in (("train", train_path), ("val", val_path)):
        if not path.exists():
            continue
        sha, count, size = _hash_and_count(path)
        rel = project.relative(path)
        if size == 0 or count == 0:
            if role == "val":
                continue  # no validation set: the job runs without one
            raise ValidationFailed(f"{rel} is empty", hint=fix)
        files.append(DataFile(role, path, rel, sha, count, size))
    train = files[0]
    val = files[1] if len(files) > 1 else None
    result = Preflight(train, val)
    _validate(project, provider, model, result, method)
    return result


def _validate(project: Project, provider: str, model: str, result: Preflight, method: str) -> None:
    """The provider's data rules (its registered file format and rule severities), by path and line."""
    from . import formats

    report = formats.validate_file(
        result.train.path,
        provider,
        val_path=result.val.path if result.val else None,
        model=model,
        method=method,
    )
    if report.errors:
        problems = [p.as_data_problem() for p in report.errors]
        raise ValidationFailed(
            f"the formatted files break {provider}'s rules: {problems[0]}",
            problems,
            hint="fix the examples, then `ait format` again (`ait validate` lists every problem)",
        )
    result.warnings = [str(p) for p in report.warnings]
    stats = report.stats.get("train")
    if stats is not None:
        result.train_tokens = int(stats.total)
        enc = report.encoding
        result.token_note = None if enc is None else (enc.note or enc.name)


# -- 2. the plan ---------------------------------------------------------------------------------------------------
@dataclass
class Plan:
    provider: Provider
    model: str
    hyperparameters: Hyperparameters  # effective: the provider's defaults filled in
    data: Preflight
    limits: ModelLimits | None
    request: JobRequest  # with placeholder file ids
    attempt_id: str
    local_estimate: PriceEstimate | None = None
    method: str = "sft"
    from_run: dict[str, Any] | None = None  # `--from RUN`: the earlier run this job continues from

    def request_options(self) -> dict[str, Any]:
        """What ``build_request`` takes beyond the SFT basics (nothing for a plain SFT job, so a provider that
        only knows SFT is called as before)."""
        out: dict[str, Any] = {}
        if self.method != "sft":
            out["method"] = self.method
        if self.from_run is not None:
            out["from_run"] = self.from_run
        return out


def continued_run(project: Project, provider: Provider, ref: str) -> dict[str, Any]:
    """The run `ait train --from REF` continues: one of this provider's, finished with a model (exit 2 when the
    provider cannot continue a run, or the run is not one it can continue from)."""
    if not provider.continues_runs:
        raise UsageError(
            f"{provider.title} cannot continue from an earlier run (--from)",
            hint="train without --from, or on a provider that can (`ait init --help` lists them)",
        )
    record = runs.find(project, ref)
    rid = runs.run_id(record)
    if record.get("provider") != provider.name:
        raise UsageError(f"run {rid} was trained on {record.get('provider')}, not {provider.title}")
    runs.require_finished(record, "; --from needs a finished run")
    return record


def plan(
    project: Project,
    provider: Provider,
    model: str,
    hp: Hyperparameters,
    data: Preflight,
    *,
    method: str = "sft",
    from_run: dict[str, Any] | None = None,
) -> Plan:
    """Check ``hp`` against the model's limits and build the exact request, before anything is uploaded."""
    registry.get(provider.name).check_method(method)
    if from_run is not None:
        model = str(from_run.get("baseModel") or model)  # the limits are the base model's
    hp = provider.with_defaults(hp, method)
    problems = provider.check_hyperparameters(hp, None, method)
    if hp.get("n_evals") and data.val is None:
        problems.append(
            "--n-evals needs a validation file, and data/val.jsonl is missing or empty "
            "(`ait split` then `ait format` write one)"
        )
    needed = registry.get(provider.name).spec.min_examples
    if data.train.examples < needed:
        problems.append(
            f"{data.train.rel} has {data.train.examples} examples; {provider.title} needs at least {needed}"
        )
    _refuse(problems)
    limits = provider.model_limits(model)
    resolved = provider.resolve_hyperparameters(hp, limits, has_validation=data.val is not None)
    _refuse(
        provider.check_hyperparameters(resolved, limits, method),
        hint="change the flags and run `ait train` again; nothing was uploaded",
    )
    attempt_id = runs.new_run_id()
    result = Plan(
        provider,
        model,
        resolved,
        data,
        limits,
        JobRequest(provider.name, model, resolved, "", None, attempt_id, "", {}),
        attempt_id,
        _local_estimate(project, provider, model, resolved, data),
        method,
        from_run,
    )
    result.request = provider.build_request(
        model,
        resolved,
        training_file=PLACEHOLDER.format(path=data.train.rel),
        validation_file=PLACEHOLDER.format(path=data.val.rel) if data.val else None,
        attempt_id=attempt_id,
        limits=limits,
        **result.request_options(),
    )
    return result


def _refuse(problems: list[str], hint: str | None = None) -> None:
    """Stop on the first problem with the settings (all of them listed with it), if there is one."""
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        problem_list = [DataProblem("hyperparameters", None, p) for p in problems]
        raise ValidationFailed(problems[0] + more, problem_list, hint=hint)


def _local_estimate(
    project: Project, provider: Provider, model: str, hp: Hyperparameters, data: Preflight
) -> PriceEstimate | None:
    """For providers without a price API: training tokens x epochs x the dated per-token price table."""
    if data.train_tokens is None or registry.get(provider.name).pricing != "table":
        return None
    from .pricing import training_price

    tokens = data.train_tokens * hp["epochs"]
    price = training_price(model, config=project.config)
    return PriceEstimate(
        available=price is not None,
        total=None if price is None else tokens * price.per_1m / 1_000_000,
        train_tokens=tokens,
        reason=None if price is not None else f"no training price known for {model}",
        source="local estimate" + (f" ({price.source})" if price is not None else ""),
    )


# -- 3. starting ---------------------------------------------------------------------------------------------------
class TrainUI(Protocol):
    def another_identical_run(self, record: dict[str, Any]) -> bool:
        """An identical run is active: True starts another one anyway."""

    def confirm(self, plan: Plan, request: JobRequest, estimate: PriceEstimate | None) -> bool:
        """The last question before money is spent."""

    def note(self, message: str) -> None:
        """Progress (uploading, waiting for validation ...)."""


def request_from_record(record: dict[str, Any]) -> JobRequest:
    """Enough of the original request to find its job again (ids, model, suffix, attempt id)."""
    files = record.get("files") or {}
    hp = Hyperparameters.from_record(record.get("hyperparameters") or {})
    return JobRequest(
        provider=str(record.get("provider")),
        model=str(record.get("baseModel")),
        hyperparameters=hp,
        training_file=str((files.get("train") or {}).get("fileId") or ""),
        validation_file=(files.get("val") or {}).get("fileId"),
        attempt_id=str(record.get("id")),
        endpoint="",
        payload={},
    )


def _job_fields(job: Job) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "jobId": job.id,
        "status": runs.SUCCEEDED if job.status is JobStatus.SUCCEEDED else job.status.value,
        "providerStatus": job.raw_status,
        "createMayHaveSucceeded": runs.REMOVE,
        "pid": runs.REMOVE,
        "host": runs.REMOVE,
    }
    if job.output_model:
        fields["fineTunedModel"] = job.output_model
        fields["modelId"] = job.output_model  # the npm tool's key: its `eval` reads it
    if job.created_at:
        fields["createdAt"] = now_iso(job.created_at)
    if job.final:
        fields["finishedAt"] = now_iso(job.finished_at or None)
        if job.error:
            fields["error"] = job.error
    return fields


def recover_lost_create(
    project: Project, provider: Provider, record: dict[str, Any]
) -> dict[str, Any] | None:
    """For a run whose create answer was lost: the job it created, adopted into the run; None if none exists."""
    request = request_from_record(record)
    if not request.training_file:
        return None
    job = provider.find_job(request, exclude=runs.known_job_ids(project))
    if job is None:
        changes: dict[str, Any] = {"createMayHaveSucceeded": runs.REMOVE}
        if record.get("status") == "creating":
            changes.update(
                status="failed_to_start", error="the job was never created (checked with the provider)"
            )
        runs.update(project, runs.run_id(record), changes)
        return None
    return runs.update(project, runs.run_id(record), _job_fields(job))


def start(
    project: Project, p: Plan, ui: TrainUI, *, force_new: bool = False, poll_interval: float = 2.0
) -> dict[str, Any]:
    provider = p.provider
    hyper = p.hyperparameters.to_record()
    same = [
        r
        for r in runs.all_runs(project)
        if runs.same_attempt(r, provider=provider.name, model=p.model, shas=p.data.shas, hyper=hyper)
    ]
    for record in same:
        if runs.create_unanswered(record):
            ui.note(f"Checking whether the earlier attempt {record['id']} created a job after all...")
            found = recover_lost_create(project, provider, record)
            if found is not None:
                ui.note(f"It did: job {found['jobId']}. Not creating another one.")
                return found
    active = [r for r in same if r.get("jobId") and runs.is_active(r)]
    if active and not force_new and not ui.another_identical_run(active[-1]):
        raise UsageError(
            f"not starting: run {active[-1]['id']} (job {active[-1]['jobId']}) already trains the same data",
            hint="`ait status --watch` follows it; `ait train --force-new` starts another anyway",
        )

    for old in runs.all_runs(project):  # an earlier `ait train` killed while it uploaded or asked
        if old.get("status") in runs.WORKING and runs.abandoned(old):
            runs.update(project, runs.run_id(old), {"status": "abandoned", "pid": runs.REMOVE})

    files = {data.role: data.to_record() for data in (p.data.train, p.data.val) if data is not None}
    record = runs.add(
        project,
        {
            "id": p.attempt_id,
            "provider": provider.name,
            "baseModel": p.model,
            "status": "uploading",
            "method": p.method,
            **({"fromRun": runs.run_id(p.from_run)} if p.from_run is not None else {}),
            "files": files,
            "hyperparameters": hyper,
            **runs.owner(),
        },
    )
    run_id = str(record["id"])
    done = {"pid": runs.REMOVE, "host": runs.REMOVE}

    def failed(e: BaseException, *, may_exist: bool = False) -> None:
        changes: dict[str, Any] = {"status": "failed_to_start", "error": _error_text(e), **done}
        if may_exist:
            changes["createMayHaveSucceeded"] = True
        runs.update(project, run_id, changes)

    # upload (or reuse an earlier upload of the same bytes) and wait for the provider's own validation
    ids: dict[str, str] = {}
    try:
        for data in (p.data.train, p.data.val):
            if data is None:
                continue
            up = _earlier_upload(project, provider, data)
            if up is not None:
                ui.note(f"Reusing {data.rel}: uploaded before as {up.id} (same sha256).")
            else:
                ui.note(f"Uploading {data.rel} ({data.examples} examples, {data.bytes:,} bytes)...")
                up = provider.upload_file(data.path)
            up = provider.wait_until_processed(
                up,
                poll_interval=poll_interval,
                on_wait=_waiting_note(ui, f"{provider.title} is validating {data.rel}..."),
            )
            ids[data.role] = up.id
            files[data.role] = data.to_record(up.id)
        record = runs.update(project, run_id, {"status": "uploaded", "files": files})
        request = provider.build_request(
            p.model,
            p.hyperparameters,
            training_file=ids["train"],
            validation_file=ids.get("val"),
            attempt_id=run_id,
            limits=p.limits,
            **p.request_options(),
        )
        estimate = provider.estimate_price(request) or p.local_estimate
        if estimate is not None and estimate.available:
            record = runs.update(project, run_id, {"estimate": estimate.to_record()})
    except (AitelierError, KeyboardInterrupt) as e:
        failed(e)
        raise

    try:
        go = ui.confirm(p, request, estimate)
    except BaseException as e:  # no terminal, Ctrl-C at the prompt: nothing was created
        failed(e)
        raise
    if not go:
        return runs.update(project, run_id, {"status": "declined", **done})

    runs.update(project, run_id, {"status": "creating", "createRequestedAt": now_iso(), **done})
    try:
        job = _create_exactly_once(project, provider, request)
    except ProviderRequestError as e:
        failed(e, may_exist=e.ambiguous)
        if e.ambiguous:
            raise ProviderRequestError(
                e.message,
                hint="the provider may have created the job anyway; `ait status` checks, and a repeated "
                "`ait train` looks for it before creating another",
                status_code=e.status_code,
            ) from e
        raise
    except (AitelierError, KeyboardInterrupt) as e:
        failed(e, may_exist=isinstance(e, KeyboardInterrupt))
        raise
    return runs.update(project, run_id, _job_fields(job))


def _earlier_upload(project: Project, provider: Provider, data: DataFile) -> UploadedFile | None:
    """A file an earlier run uploaded with the same bytes (sha256), if the provider still has it."""
    seen: set[str] = set()
    for r in reversed(runs.all_runs(project)):
        if r.get("provider") != provider.name:
            continue
        for f in (r.get("files") or {}).values():
            file_id = f.get("fileId") if isinstance(f, dict) else None
            if not file_id or f.get("sha256") != data.sha256 or file_id in seen:
                continue
            seen.add(file_id)
            found = provider.existing_file(str(file_id))
            if found is not None and not found.failed and found.bytes in (None, data.bytes):
                return found
    return None


def _waiting_note(ui: TrainUI, message: str) -> Callable[[UploadedFile], None]:
    said = False

    def note(_file: UploadedFile) -> None:
        nonlocal said
        if not said:  # once, not at every poll
            ui.note(message)
            said = True

    return note


def _create_exactly_once(project: Project, provider: Provider, request: JobRequest) -> Job:
    """Create the job, retrying only where no second job can result: a lost answer is looked up first."""
    attempts = provider.settings.max_retries + 1
    delay = 1.0
    for attempt in range(attempts):
        try:
            return provider.create_job(request)
        except FineTuningClosed:
            raise
        except ProviderRequestError as e:
            if e.ambiguous:
                try:
                    found = provider.find_job(request, exclude=runs.known_job_ids(project))
                except AitelierError as lookup:  # the create stays ambiguous, whatever the lookup's error
                    raise ProviderRequestError(
                        f"{e.message}; looking for the job failed too: {lookup.message}",
                        status_code=e.status_code,
                        retryable=True,
                        ambiguous=True,
                    ) from lookup
                if found is not None:
                    return found
            if not e.retryable or attempt == attempts - 1:
                raise
            time.sleep(e.retry_after if e.retry_after is not None else delay)
            delay = min(delay * 2, 30.0)
    raise AssertionError("unreachable")  # pragma: no cover


def _error_text(e: BaseException) -> str:
    if isinstance(e, KeyboardInterrupt):
        return "interrupted (Ctrl-C)"
    return str(e) or f"stopped ({type(e).__name__})"


# -- status, watch, cancel -----------------------------------------------------------------------------------------
@dataclass
class Snapshot:
    record: dict[str, Any]
    job: Job | None = None
    events: list[JobEvent] = field(default_factory=list)


def save_job(project: Project, record: dict[str, Any], job: Job) -> dict[str, Any]:
    """Store what changed about the job in its run (model id, status, end); no write when nothing did."""
    changes: dict[str, Any] = {}
    for k, v in _job_fields(job).items():
        if v is runs.REMOVE:
            if k in record:
                changes[k] = v
        elif k in ("createdAt", "finishedAt") and record.get(k):
            continue  # first seen wins: a later poll's clock is not the job's
        elif record.get(k) != v:
            changes[k] = v
    if not changes:
        return record
    return runs.update(project, runs.run_id(record), changes)


def refresh(project: Project, provider: Provider, record: dict[str, Any], *, events: bool = True) -> Snapshot:
    """The run's job as the provider sees it now, saved into the run."""
    if runs.create_unanswered(record):
        found = recover_lost_create(project, provider, record)
        record = found if found is not None else runs.find(project, runs.run_id(record))
    if not record.get("jobId"):
        return Snapshot(record)
    job = provider.get_job(str(record["jobId"]))
    record = save_job(project, record, job)
    evs = provider.list_events(job.id) if events else []
    return Snapshot(record, job, evs)


def needs_refresh(record: dict[str, Any]) -> bool:
    """Whether asking the provider can change what the record says."""
    if record.get("status") in runs.ENDED:  # npm records end without a finishedAt
        return False
    if record.get("jobId"):
        return not record.get("finishedAt")
    return runs.create_unanswered(record)


def watch(
    project: Project,
    provider: Provider,
    record: dict[str, Any],
    *,
    on_poll: Callable[[Snapshot, list[JobEvent]], None],
    interval: float = 10.0,
    max_interval: float = 60.0,
    on_error: Callable[[AitelierError, float], None] | None = None,
    max_failures: int = 5,
    sleep: Callable[[float], None] = time.sleep,
) -> Snapshot:
    """Poll until the job reaches a final status, calling ``on_poll(snapshot, new_events)`` each time
    (the snapshot holds every event seen so far).

    The wait grows 1.5x while nothing changes (up to ``max_interval``) and drops back when something does.
    Transient provider errors are reported through ``on_error`` and retried; ``max_failures`` in a row give up.
    """
    seen: set[str] = set()
    history: list[JobEvent] = []
    wait = interval
    failures = 0
    last: tuple[Any, ...] | None = None
    while True:
        try:
            snap = refresh(project, provider, record, events=False)
            if snap.job is not None:  # only the events not seen yet (a provider may stop paging at one)
                snap.events = provider.list_events(snap.job.id, known=seen)
            failures = 0
        except ProviderRequestError as e:
            failures += 1
            if not e.retryable or failures >= max_failures:
                raise
            if on_error is not None:
                on_error(e, wait)
            sleep(wait)
            wait = min(wait * 1.5, max_interval)
            continue
        record = snap.record
        new = [e for e in snap.events if e.key not in seen]
        seen.update(e.key for e in new)
        history.extend(new)
        snap.events = list(history)  # every event so far: progress and the loss curve need the old ones too
        on_poll(snap, new)
        if snap.job is None:
            raise UsageError(f"run {record.get('id')} has no job to watch (status: {record.get('status')})")
        if snap.job.final:
            return snap
        state = (snap.job.raw_status, snap.job.steps_completed, snap.job.epochs_completed, len(seen))
        wait = interval if state != last else min(wait * 1.5, max_interval)
        last = state
        sleep(wait)


def outcome(snap: Snapshot) -> None:
    """Raise :class:`JobFailed` (exit 5) unless the job succeeded."""
    job = snap.job
    if job is None or job.status.value == "succeeded":
        return
    reason = f": {job.error}" if job.error else ""
    raise JobFailed(f"fine-tune {job.id} ended {job.status_text}{reason}")


def cancel(project: Project, provider: Provider, record: dict[str, Any]) -> Snapshot:
    if not record.get("jobId"):
        raise UsageError(f"run {record.get('id')} has no job to cancel (status: {record.get('status')})")
    job = provider.cancel_job(str(record["jobId"]))
    return Snapshot(save_job(project, record, job), job)


def progress_of(job: Job, events: list[JobEvent]) -> dict[str, Any]:
    """Steps, epochs and seconds left, from the job or (when it does not say) the latest event that does."""
    waiting = job.status.value in ("pending", "queued")
    step, total = job.steps_completed, job.total_steps
    if step is None and not waiting:
        for e in reversed(events):
            if e.step is not None:
                step, total = e.step, e.total_steps if e.total_steps is not None else total
                break
    return {
        "step": step,
        "totalSteps": total,
        "epoch": job.epochs_completed,
        "totalEpochs": job.total_epochs,
        "secondsRemaining": job.seconds_remaining,
        "queueDepth": job.queue_depth if waiting else None,
    }


def snapshot_json(snap: Snapshot) -> dict[str, Any]:
    out: dict[str, Any] = {"run": snap.record}
    if snap.job is not None:
        job = snap.job
        out["job"] = {
            "id": job.id,
            "status": job.status.value,
            "providerStatus": job.raw_status,
            "final": job.final,
            "fineTunedModel": job.output_model,
            "error": job.error,
            "progress": progress_of(job, snap.events),
        }
        out["events"] = [
            {"createdAt": e.created_at, "level": e.level, "type": e.type, "message": e.message}
            for e in snap.events
        ]
    return out


__all__ = [
    "DataFile",
    "Plan",
    "Preflight",
    "Snapshot",
    "TrainUI",
    "cancel",
    "needs_refresh",
    "outcome",
    "plan",
    "preflight",
    "progress_of",
    "refresh",
    "save_job",
    "snapshot_json",
    "start",
    "watch",
]
