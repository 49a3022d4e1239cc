"""Fine-tuning providers: one interface (:mod:`.base`), a registry by name (:mod:`.registry`), and the built-in
Together and OpenAI providers, which import their SDKs only when used.

    from aitelier.providers import connect
    provider = connect("together", project.root)   # key from the environment or the project's .env
    job = provider.get_job("ft-...")
"""

from __future__ import annotations

from .base import (
    ChatResult,
    FineTuningClosed,
    Hyperparameters,
    Job,
    JobEvent,
    JobRequest,
    JobStatus,
    LossPoint,
    ModelLimits,
    PriceEstimate,
    Provider,
    ProviderRequestError,
    ProviderSettings,
    UploadedFile,
)
from .registry import available, connect, get, register

__all__ = [
    "ChatResult",
    "FineTuningClosed",
    "Hyperparameters",
    "Job",
    "JobEvent",
    "JobRequest",
    "JobStatus",
    "LossPoint",
    "ModelLimits",
    "PriceEstimate",
    "Provider",
    "ProviderRequestError",
    "ProviderSettings",
    "UploadedFile",
    "available",
    "connect",
    "get",
    "register",
]
