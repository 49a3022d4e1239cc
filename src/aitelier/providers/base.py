"""The provider interface: what aitelier needs from a fine-tuning service, in our own types.

A provider turns its SDK's objects into these dataclasses and its SDK's exceptions into
:class:`ProviderRequestError`, so the rest of aitelier (train, status, cancel, eval) never touches an SDK type.
Each provider maps every job status its SDK and spec know to exactly one :class:`JobStatus`; a value it has
never seen becomes ``UNKNOWN`` with the raw string kept for display, never a silent ``pending``.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping
from dataclasses import asdict, dataclass, field, fields
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

    @property
    def ended(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


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


@dataclass(frozen=True)
class Hyperparameters:
    """What the user asked for; ``None`` means the provider's default. Validated against model limits."""

    epochs: int = 3
    batch_size: int | None = None
    learning_rate: float | None = None
    lr_multiplier: float | None = None
    lora_r: int | None = None
    lora_alpha: int | None = None
    lora_dropout: float | None = None
    n_evals: int | None = None
    suffix: str | None = None
    seed: int | None = None

    # flag name of each field, for messages that tell the user what to change
    FLAGS: ClassVar[dict[str, str]] = {
        "epochs": "--epochs",
        "batch_size": "--batch-size",
        "learning_rate": "--learning-rate",
        "lr_multiplier": "--lr-multiplier",
        "lora_r": "--lora-r",
        "lora_alpha": "--lora-alpha",
        "lora_dropout": "--lora-dropout",
        "n_evals": "--n-evals",
        "suffix": "--suffix",
        "seed": "--seed",
    }
    RECORD_KEYS: ClassVar[dict[str, str]] = {
        "epochs": "epochs",
        "batch_size": "batchSize",
        "learning_rate": "learningRate",
        "lr_multiplier": "lrMultiplier",
        "lora_r": "loraR",
        "lora_alpha": "loraAlpha",
        "lora_dropout": "loraDropout",
        "n_evals": "nEvals",
        "suffix": "suffix",
        "seed": "seed",
    }

    def given(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def to_record(self) -> dict[str, Any]:
        return {self.RECORD_KEYS[k]: v for k, v in self.given().items()}

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> Hyperparameters:
        back = {v: k for k, v in cls.RECORD_KEYS.items()}
        names = {f.name for f in fields(cls)}
        return cls(**{back[k]: v for k, v in data.items() if k in back and back[k] in names})


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
    trained_tokens: int | None = None
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
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass(frozen=True)
class ProviderSettings:
    credentials: Credentials
    timeout: float = 60.0  # seconds per request
    max_retries: int = 2  # the SDK's own retries of idempotent failures


UploadProgress = Callable[[int, int], None]


class Provider(ABC):
    """One fine-tuning service. Subclasses import their SDK lazily (in ``__init__``) so that aitelier imports,
    and ``ait --help`` starts, without any SDK installed."""

    name: ClassVar[str]
    title: ClassVar[str]
    # raw status -> ours; must cover every value the SDK and spec know (a test checks this)
    status_map: ClassVar[Mapping[str, JobStatus]]
    final_statuses: ClassVar[frozenset[str]]
    supported: ClassVar[frozenset[str]]  # Hyperparameters fields this provider accepts
    max_suffix: ClassVar[int] = 40
    min_examples: ClassVar[int] = 1
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
    def check_hyperparameters(self, hp: Hyperparameters, limits: ModelLimits | None) -> list[str]:
        """Every problem with ``hp`` for this provider and model, as messages naming the flag. Empty: fine."""
        problems = []
        for name in hp.given():
            if name not in self.supported:
                problems.append(f"{Hyperparameters.FLAGS[name]} is not supported by {self.title}")
        if hp.epochs < 1:
            problems.append("--epochs must be at least 1")
        if hp.batch_size is not None and hp.batch_size < 1:
            problems.append("--batch-size must be at least 1")
        for name in ("learning_rate", "lr_multiplier"):
            value = getattr(hp, name)
            if value is not None and value <= 0:
                problems.append(f"{Hyperparameters.FLAGS[name]} must be positive")
        if hp.lora_r is not None and hp.lora_r < 1:
            problems.append("--lora-r must be at least 1")
        if hp.lora_alpha is not None and hp.lora_alpha < 1:
            problems.append("--lora-alpha must be at least 1")
        if hp.lora_dropout is not None and not 0 <= hp.lora_dropout < 1:
            problems.append("--lora-dropout must be in [0, 1)")
        if hp.n_evals is not None and hp.n_evals < 0:
            problems.append("--n-evals must not be negative")
        if hp.seed is not None and not 0 <= hp.seed <= 2147483647:
            problems.append("--seed must be between 0 and 2147483647")
        if hp.suffix is not None:
            if not hp.suffix.strip():
                problems.append("--suffix must not be empty")
            elif len(hp.suffix) > self.max_suffix:
                problems.append(
                    f"--suffix is {len(hp.suffix)} characters; {self.title} allows {self.max_suffix}"
                )
        if limits is not None:
            problems += self._check_limits(hp, limits)
        return problems

    def _check_limits(self, hp: Hyperparameters, limits: ModelLimits) -> list[str]:
        out = []
        m = limits.model
        if limits.max_epochs is not None and hp.epochs > limits.max_epochs:
            out.append(f"--epochs {hp.epochs} is above {m}'s maximum of {limits.max_epochs}")
        lr = hp.learning_rate
        if lr is not None and limits.min_learning_rate is not None and lr < limits.min_learning_rate:
            out.append(f"--learning-rate {lr:g} is below {m}'s minimum of {limits.min_learning_rate:g}")
        if lr is not None and limits.max_learning_rate is not None and lr > limits.max_learning_rate:
            out.append(f"--learning-rate {lr:g} is above {m}'s maximum of {limits.max_learning_rate:g}")
        bs = hp.batch_size
        if bs is not None and limits.min_batch_size is not None and bs < limits.min_batch_size:
            out.append(f"--batch-size {bs} is below {m}'s minimum of {limits.min_batch_size}")
        if bs is not None and limits.max_batch_size is not None and bs > limits.max_batch_size:
            out.append(f"--batch-size {bs} is above {m}'s maximum of {limits.max_batch_size}")
        if hp.lora_r is not None and limits.max_lora_r is not None and hp.lora_r > limits.max_lora_r:
            out.append(f"--lora-r {hp.lora_r} is above {m}'s maximum rank of {limits.max_lora_r}")
        if hp.n_evals is not None and limits.max_evals is not None and hp.n_evals > limits.max_evals:
            out.append(f"--n-evals {hp.n_evals} is above {m}'s maximum of {limits.max_evals}")
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

    def estimate_price(self, request: JobRequest) -> PriceEstimate | None:
        return None

    @abstractmethod
    def create_job(self, request: JobRequest) -> Job:
        """One attempt, no automatic retry: a lost answer must be checked with :meth:`find_job` first."""

    @abstractmethod
    def find_job(self, request: JobRequest, *, exclude: Collection[str], since: float) -> Job | None:
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


def loss_from_events(events: list[JobEvent]) -> list[LossPoint]:
    points: dict[float, LossPoint] = {}
    for i, e in enumerate(events):
        if e.train_loss is None and e.val_loss is None:
            continue
        step = float(e.step if e.step is not None else i)
        p = points.setdefault(step, LossPoint(step))
        if e.train_loss is not None:
            p.train = e.train_loss
        if e.val_loss is not None:
            p.val = e.val_loss
    return [points[k] for k in sorted(points)]


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


def chat_request(
    model: str,
    messages: list[dict[str, Any]],
    *,
    max_tokens_field: str,
    max_tokens: int | None,
    temperature: float | None,
    seed: int | None,
) -> dict[str, Any]:
    """The chat-completion arguments both SDKs take; only the name of the length limit differs."""
    kwargs: dict[str, Any] = {"model": model, "messages": messages}
    for key, value in ((max_tokens_field, max_tokens), ("temperature", temperature), ("seed", seed)):
        if value is not None:
            kwargs[key] = value
    return kwargs


def chat_result(resp: Any) -> ChatResult:
    """An OpenAI-shaped chat completion (both SDKs use that shape) as a :class:`ChatResult`."""
    choices = field_of(resp, "choices") or []
    if not choices:
        raise ProviderRequestError("the chat completion came back without choices", retryable=True)
    first = choices[0]
    message = field_of(first, "message")
    usage = field_of(resp, "usage")
    return ChatResult(
        text=str(field_of(message, "content", "") or ""),
        model=field_of(resp, "model"),
        finish_reason=field_of(first, "finish_reason"),
        prompt_tokens=field_of(usage, "prompt_tokens"),
        completion_tokens=field_of(usage, "completion_tokens"),
    )


def parse_time(value: Any) -> float | None:
    """Unix seconds from an int/float timestamp, an ISO-8601 string or a datetime; None when unparseable."""
    if value is None:
        return None
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


def now() -> float:
    return time.time()
