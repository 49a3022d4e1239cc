"""The provider interface: what aitelier needs from a fine-tuning service, in our own types.

A provider turns its SDK's objects into these dataclasses and its SDK's exceptions into
:class:`ProviderRequestError`, so the rest of aitelier (train, status, cancel, eval) never touches an SDK type.
Each provider maps every job status its SDK and spec know to exactly one :class:`JobStatus`; a value it has
never seen becomes ``UNKNOWN`` with the raw string kept for display, never a silent ``pending``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar

from ..credentials import Credentials, scrub
from ..errors import ProviderError


class JobStatus(str, Enum):
    """Our status of a fine-tuning job, whatever the provider calls it."""

    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"


class ProviderRequestError(ProviderError):
    """A request to the provider failed (after the SDK's own retries, where it retries).

    ``retryable``: trying again later may work (rate limit, server error, timeout, connection).
    ``ambiguous``: the request may have been carried out even though no answer came back (a timeout or a
    server error after the request was sent), so a create must be checked for before it is repeated.
    """

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        status_code: int | None = None,
        retryable: bool = False,
        ambiguous: bool = False,
        retry_after: float | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.detail = detail  # the provider's own words, when it sent any
        self.status_code = status_code
        self.retryable = retryable
        self.ambiguous = ambiguous
        self.retry_after = retry_after


class FineTuningClosed(ProviderError):
    """The provider refuses to create fine-tuning jobs for this account (OpenAI's self-serve wind-down)."""


def _n(x: float) -> str:
    """A bound or value as a person writes it: 2147483647, 1e-05, 0.5."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


def camel(name: str) -> str:
    """``lora_r`` -> ``loraR``: how a hyperparameter is named in run records (the npm tool's style)."""
    head, *rest = name.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


@dataclass(frozen=True)
class Hyperparameter:
    """One setting a provider takes: ``ait train --<name>``, checked before any network call.

    ``type`` is int, float, bool or str; ``minimum``/``maximum`` bound a number (``exclusive_minimum`` for
    "above"), or the length of a string. ``default`` is what aitelier sends when the user gives nothing (None:
    nothing is sent and the provider decides, which ``help`` should say). ``method`` limits it to one training
    method (``"dpo"``: only with ``ait train --method dpo``; None: every method).
    """

    name: str  # snake_case: lora_r -> --lora-r, recorded as loraR
    type: type
    help: str
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    method: str | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def range_text(self) -> str:
        """The accepted values, as the error messages write them: [1, 50], >= 1, > 0, [0, 1), <= 64 characters."""
        lo, hi = self.minimum, self.maximum
        if self.type is str:
            return f"<= {_n(hi)} characters" if hi is not None else ""
        if lo is not None and hi is not None:
            left, right = "(" if self.exclusive_minimum else "[", ")" if self.exclusive_maximum else "]"
            return f"{left}{_n(lo)}, {_n(hi)}{right}"
        if lo is not None:
            return f"{'>' if self.exclusive_minimum else '>='} {_n(lo)}"
        if hi is not None:
            return f"{'<' if self.exclusive_maximum else '<='} {_n(hi)}"
        return ""

    def problems(self, value: Any, title: str = "") -> list[str]:
        """Why ``value`` is not acceptable (type and bounds), as messages naming the flag; empty when fine."""
        flag = self.flag
        if self.type is str:
            if not isinstance(value, str):
                return [f"{flag} must be text"]
            if not value.strip():
                return [f"{flag} must not be empty"]
            if self.maximum is not None and len(value) > self.maximum:
                who = f"{title} allows" if title else "at most"
                return [f"{flag} is {len(value)} characters; {who} {_n(self.maximum)}"]
            return []
        if self.type is bool:
            return [] if isinstance(value, bool) else [f"{flag} must be true or false"]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return [f"{flag} must be a number"]
        if self.type is int and not isinstance(value, int):
            return [f"{flag} must be a whole number"]
        lo, hi = self.minimum, self.maximum
        below = lo is not None and (value <= lo if self.exclusive_minimum else value < lo)
        above = hi is not None and (value >= hi if self.exclusive_maximum else value > hi)
        if not (below or above):
            return []
        if lo is not None and hi is not None:
            return [f"{flag} must be in {self.range_text}, got {_n(value)}"]
        if lo is not None:
            if self.exclusive_minimum:
                return [f"{flag} must be above {_n(lo)}, got {_n(value)}"]
            return [f"{flag} must be at least {_n(lo)}, got {_n(value)}"]
        assert hi is not None
        return [f"{flag} must be at most {_n(hi)}, got {_n(value)}"]


# declared alike by more than one provider
RPO_ALPHA = Hyperparameter(
    "rpo_alpha",
    float,
    "DPO: weight of an added NLL loss on the preferred output (RPO; default 0).",
    minimum=0,
    method="dpo",
)


class Hyperparameters(dict[str, Any]):
    """The values of a run's hyperparameters by name (snake_case); absent means the provider's default, so a
    value of None is left out."""

    def __init__(self, values: Mapping[str, Any] | None = None, **kw: Any) -> None:
        super().__init__((k, v) for k, v in {**(values or {}), **kw}.items() if v is not None)

    def replace(self, **changes: Any) -> Hyperparameters:
        """A copy with ``changes`` (a value of None removes the setting)."""
        return Hyperparameters({**self, **changes})

    def to_record(self) -> dict[str, Any]:
        return {camel(k): v for k, v in self.items()}

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> Hyperparameters:
        import re

        return cls(
            {re.sub(r"(?<!^)([A-Z])", lambda m: "_" + m.group(1).lower(), k): v for k, v in data.items()}
        )


@dataclass
class UploadedFile:
    id: str
    filename: str
    bytes: int | None = None
    processed: bool | None = None  # None: the provider does not say
    failed: bool = False
    report: str | None = None  # the provider's validation message, when it rejected the file
    raw_status: str | None = None


@dataclass
class ModelLimits:
    model: str
    max_epochs: int | None = None
    min_learning_rate: float | None = None
    max_learning_rate: float | None = None
    min_batch_size: int | None = None
    max_batch_size: int | None = None
    max_lora_r: int | None = None
    default_lora_r: int | None = None
    max_evals: int | None = None
    sdk_object: Any = field(default=None, repr=False, compare=False)


@dataclass
class PriceEstimate:
    available: bool
    total: float | None = None  # US dollars
    train_tokens: float | None = None
    eval_tokens: float | None = None
    user_limit: float | None = None
    allowed_to_proceed: bool | None = None
    reason: str | None = None  # why no estimate is available
    source: str = "provider"

    def to_record(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source}
        if self.total is not None:
            out["usd"] = round(self.total, 4)
        if self.train_tokens is not None:
            out["trainTokens"] = int(self.train_tokens)
        if self.eval_tokens is not None:
            out["evalTokens"] = int(self.eval_tokens)
        return out


@dataclass
class JobRequest:
    """The job we are about to create: exactly the body the provider will receive, plus what we need to find
    the job again if the create call's answer is lost."""

    provider: str
    model: str
    hyperparameters: Hyperparameters  # effective values (provider defaults filled in where known)
    training_file: str
    validation_file: str | None
    attempt_id: str
    endpoint: str
    payload: dict[str, Any]


@dataclass
class Job:
    id: str
    status: JobStatus
    raw_status: str
    final: bool  # the provider will not change this job's status again
    model: str | None = None
    output_model: str | None = None
    created_at: float | None = None  # unix seconds
    finished_at: float | None = None
    training_file: str | None = None
    validation_file: str | None = None
    suffix: str | None = None
    steps_completed: int | None = None
    total_steps: int | None = None
    epochs_completed: int | None = None
    total_epochs: int | None = None
    seconds_remaining: float | None = None
    queue_depth: int | None = None
    error: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def status_text(self) -> str:
        """Our status, with the provider's own word beside it when that says more (or is unknown to us)."""
        if self.raw_status and self.raw_status != self.status.value:
            return f"{self.status.value} ({self.raw_status})"
        return self.status.value


@dataclass
class JobEvent:
    key: str  # stable identity, to print each event once
    created_at: float | None
    message: str
    level: str = "info"
    type: str | None = None
    step: int | None = None
    total_steps: int | None = None
    train_loss: float | None = None
    val_loss: float | None = None


@dataclass
class LossPoint:
    step: float
    train: float | None = None
    val: float | None = None


@dataclass
class ChatResult:
    text: str
    model: str | None = None


@dataclass(frozen=True)
class ProviderSettings:
    credentials: Credentials
    timeout: float = 60.0  # seconds per request
    max_retries: int = 2  # the SDK's own retries of idempotent failures
    project_root: Path | None = None  # the project the provider works for (local keeps its runs there)


UploadProgress = Callable[[int, int], None]


# (hyperparameter, the ModelLimits field that bounds it, what the bound is called in the message)
_MODEL_LIMITS = (
    ("epochs", "max_epochs", "maximum"),
    ("learning_rate", "min_learning_rate", "minimum"),
    ("learning_rate", "max_learning_rate", "maximum"),
    ("batch_size", "min_batch_size", "minimum"),
    ("batch_size", "max_batch_size", "maximum"),
    ("lora_r", "max_lora_r", "maximum rank"),
    ("n_evals", "max_evals", "maximum"),
)


class Provider(ABC):
    """One fine-tuning service. Subclasses import their SDK lazily (in ``__init__``) so that aitelier imports,
    and ``ait --help`` starts, without any SDK installed."""

    name: ClassVar[str]
    title: ClassVar[str]
    # raw status -> ours; must cover every value the SDK and spec know (a test checks this)
    status_map: ClassVar[Mapping[str, JobStatus]]
    final_statuses: ClassVar[frozenset[str]]
    hyperparameters: ClassVar[tuple[Hyperparameter, ...]] = ()  # what `ait train` may send this provider
    # training methods it offers: "sft" (data/train.jsonl) and "dpo" (preference pairs, data/train.dpo.jsonl)
    methods: ClassVar[tuple[str, ...]] = ("sft",)
    # whether a job can continue from an earlier run's result (`ait train --from RUN`): build_request then
    # takes ``from_run``, the earlier run's record
    continues_runs: ClassVar[bool] = False
    create_endpoint: ClassVar[str] = ""

    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings

    # -- statuses ---------------------------------------------------------------------------------------------
    @classmethod
    def map_status(cls, raw: Any) -> JobStatus:
        value = getattr(raw, "value", raw)
        return cls.status_map.get(str(value), JobStatus.UNKNOWN) if value is not None else JobStatus.UNKNOWN

    @classmethod
    def is_final(cls, raw: Any) -> bool:
        return str(getattr(raw, "value", raw)) in cls.final_statuses

    # -- hyperparameters ----------------------------------------------------------------------------------------
    @classmethod
    def with_defaults(cls, hp: Hyperparameters, method: str = "sft") -> Hyperparameters:
        """``hp`` plus the default of every declared hyperparameter of ``method`` the user left out."""
        defaults = {
            h.name: h.default
            for h in cls.hyperparameters
            if h.default is not None and h.name not in hp and h.method in (None, method)
        }
        return hp.replace(**defaults) if defaults else hp

    def check_hyperparameters(
        self, hp: Hyperparameters, limits: ModelLimits | None, method: str = "sft"
    ) -> list[str]:
        """Every problem with ``hp`` for this provider and model, as messages naming the flag. Empty: fine."""
        declared = {h.name: h for h in self.hyperparameters}
        problems = []
        for name, value in hp.items():
            h = declared.get(name)
            if h is None:
                problems.append(f"--{name.replace('_', '-')} is not supported by {self.title}")
            elif h.method not in (None, method):
                problems.append(f"{h.flag} applies to --method {h.method} only")
            else:
                problems += h.problems(value, self.title)
        if limits is not None:
            problems += self._check_limits(hp, limits)
        return problems

    def _check_limits(self, hp: Hyperparameters, limits: ModelLimits) -> list[str]:
        out = []
        for name, bound, what in _MODEL_LIMITS:
            value, limit = hp.get(name), getattr(limits, bound)
            if value is None or limit is None:
                continue
            side = "above" if bound.startswith("max") else "below"
            if value > limit if side == "above" else value < limit:
                flag = "--" + name.replace("_", "-")
                out.append(f"{flag} {_n(value)} is {side} {limits.model}'s {what} of {_n(limit)}")
        return out

    def resolve_hyperparameters(
        self, hp: Hyperparameters, limits: ModelLimits | None, *, has_validation: bool
    ) -> Hyperparameters:
        """``hp`` with the defaults this provider would apply filled in, so the run record says what ran."""
        return hp

    # -- the work ---------------------------------------------------------------------------------------------
    def model_limits(self, model: str) -> ModelLimits | None:
        """The model's hyperparameter limits, where the provider publishes them (None otherwise)."""
        return None

    @abstractmethod
    def upload_file(self, path: Path, *, on_progress: UploadProgress | None = None) -> UploadedFile: ...

    def existing_file(self, file_id: str) -> UploadedFile | None:
        """A file uploaded earlier, as the provider has it now; None if it is gone (or cannot be asked)."""
        return None

    def wait_until_processed(
        self,
        file: UploadedFile,
        *,
        poll_interval: float = 2.0,
        timeout: float = 600.0,
        on_wait: Callable[[UploadedFile], None] | None = None,
    ) -> UploadedFile:
        """Block until the provider has validated ``file`` (raises when it rejects it)."""
        return file

    @abstractmethod
    def build_request(
        self,
        model: str,
        hp: Hyperparameters,
        *,
        training_file: str,
        validation_file: str | None,
        attempt_id: str,
        limits: ModelLimits | None,
    ) -> JobRequest: ...

    def job_request(
        self,
        model: str,
        hp: Hyperparameters,
        training_file: str,
        validation_file: str | None,
        attempt_id: str,
        payload: dict[str, Any],
    ) -> JobRequest:
        """The :class:`JobRequest` that sends ``payload`` to this provider's create endpoint."""
        return JobRequest(
            self.name, model, hp, training_file, validation_file, attempt_id, self.create_endpoint, payload
        )

    def estimate_price(self, request: JobRequest) -> PriceEstimate | None:
        return None

    @abstractmethod
    def create_job(self, request: JobRequest) -> Job:
        """One attempt, no automatic retry: a lost answer must be checked with :meth:`find_job` first."""

    @abstractmethod
    def find_job(self, request: JobRequest, *, exclude: Collection[str]) -> Job | None:
        """The job ``request`` created, if one exists that no run record knows about yet (``exclude``)."""

    @abstractmethod
    def get_job(self, job_id: str) -> Job: ...

    @abstractmethod
    def list_events(self, job_id: str, *, known: Collection[str] = ()) -> list[JobEvent]:
        """The job's events, oldest first. ``known`` keys let a provider stop paging early."""

    def loss_curve(self, job_id: str, events: list[JobEvent]) -> list[LossPoint]:
        """Training (and validation) loss by step, from the events unless the provider has a metrics API."""
        return loss_from_events(events)

    @abstractmethod
    def cancel_job(self, job_id: str) -> Job: ...

    @abstractmethod
    def chat(
        self,
        model: str,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        seed: int | None = None,
    ) -> ChatResult: ...

    def download(self, job_id: str, checkpoint: str, dest: Path) -> Path:
        """Write the finished job's ``checkpoint`` (``"adapter"`` or ``"merged"``) as the provider sends it
        (an archive) to ``dest``. Providers with the ``download`` capability implement it."""
        from ..errors import UsageError

        raise UsageError(f"{self.title} does not offer its fine-tuned models for download")

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    # -- helpers for subclasses ---------------------------------------------------------------------------------
    def scrub(self, text: str) -> str:
        return scrub(text, [self.settings.credentials.api_key])

    def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` with the SDK's errors turned into ours (``what``: "creating the job")."""
        from .sdk_errors import translate

        try:
            return fn(*args, **kwargs)
        except Exception as e:
            ours = translate(e, self, what)
            if ours is None:  # not an SDK or transport error: a bug, keep its traceback
                raise
            raise ours from e


class SDKProvider(Provider):
    """A provider whose SDK is shaped like OpenAI's (``openai``, ``together``): files, a fine-tuning jobs
    resource and OpenAI-style chat completions on ``self._client``. Subclasses make the client, set ``_jobs``
    (the resource with ``retrieve`` and ``cancel``) and turn the SDK's objects into ours (``_file``, ``_job``)."""

    max_tokens_field: ClassVar[str] = "max_tokens"  # the name of the chat length limit in this SDK
    _client: Any
    _jobs: Any

    @abstractmethod
    def _file(self, resp: Any, name: str = "") -> UploadedFile: ...

    @abstractmethod
    def _job(self, r: Any) -> Job: ...

    def existing_file(self, file_id: str) -> UploadedFile | None:
        try:
            resp = self._call(f"looking up file {file_id}", self._client.files.retrieve, file_id)
        except ProviderRequestError as e:
            if e.status_code in (404, 410):
                return None
            raise
        return self._file(resp, file_id)

    def get_job(self, job_id: str) -> Job:
        return self._job(self._call(f"fetching job {job_id}", self._jobs.retrieve, job_id))

    def cancel_job(self, job_id: str) -> Job:
        return self._job(self._call(f"cancelling job {job_id}", self._jobs.cancel, job_id))

    def chat(
        self,
        model: str,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        seed: int | None = None,
    ) -> ChatResult:
        kwargs: dict[str, Any] = {"model": model, "messages": messages}
        for key, value in ((self.max_tokens_field, max_tokens), ("temperature", temperature), ("seed", seed)):
            if value is not None:
                kwargs[key] = value
        resp = self._call(f"asking {model}", self._client.chat.completions.create, **kwargs)
        choices = field_of(resp, "choices") or []
        if not choices:
            raise ProviderRequestError("the chat completion came back without choices", retryable=True)
        return ChatResult(
            text=str(field_of(field_of(choices[0], "message"), "content", "") or ""),
            model=field_of(resp, "model"),
        )

    def close(self) -> None:
        self._client.close()


def loss_points(rows: Iterable[tuple[float, float | None, float | None]]) -> list[LossPoint]:
    """(step, training loss, validation loss) rows as one point per step, by step (a later value wins)."""
    points: dict[float, LossPoint] = {}
    for step, train, val in rows:
        if train is None and val is None:
            continue
        p = points.setdefault(float(step), LossPoint(float(step)))
        p.train = train if train is not None else p.train
        p.val = val if val is not None else p.val
    return [points[k] for k in sorted(points)]


def loss_from_events(events: list[JobEvent]) -> list[LossPoint]:
    return loss_points(
        (i if e.step is None else e.step, e.train_loss, e.val_loss) for i, e in enumerate(events)
    )


def field_of(obj: Any, name: str, default: Any = None) -> Any:
    """A field of an SDK object or dict, including fields the SDK type does not declare (kept as extras)."""
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(name, default)
    value = getattr(obj, name, None)
    if value is None:
        extra = getattr(obj, "model_extra", None) or {}
        value = extra.get(name)
    return default if value is None else value


def parse_time(value: Any) -> float | None:
    """Unix seconds from an int/float timestamp, an ISO-8601 string or a datetime; None for anything else."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hasattr(value, "timestamp"):
        return float(value.timestamp())
    if isinstance(value, str):
        from datetime import datetime, timezone

        text = value.strip().replace("Z", "+00:00")
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            return None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        return dt.timestamp()
    return None
