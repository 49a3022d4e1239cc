"""The local backend: LoRA fine-tuning and generation on this machine (the ``local`` extra: torch,
transformers, peft, trl, accelerate).

Nothing here imports torch at module level except :mod:`.worker` and :mod:`.infer`, which only run when a
local job trains or a local model answers; :mod:`aitelier.providers.local` is what the rest of aitelier sees.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

NEEDS = ("torch", "transformers", "peft", "trl", "accelerate", "safetensors", "datasets")
INSTALL = "pip install 'aitelier-cli[local]'"


def missing() -> list[str]:
    """The packages of the ``local`` extra that are not installed (cheap: nothing is imported)."""
    return [name for name in NEEDS if importlib.util.find_spec(name) is None]


def cpu_threads() -> int:
    """Threads for CPU work: ``AITELIER_THREADS``, else all cores but one. Spinning OpenMP threads on a busy
    machine cost far more than they bring (measured: one thread 20x faster than two on a loaded 2-core box)."""
    given = os.environ.get("AITELIER_THREADS", "")
    if given.isdigit() and int(given) > 0:
        return int(given)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores - 1)


def compute_dtype() -> Any:
    """The dtype local models train and answer in: bfloat16 on a CUDA GPU that supports it (half the memory of
    float32, and what its tensor cores run fast), else float32 (the CPU and MPS: bfloat16 is slow or lossy there)."""
    import torch

    return torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float32


def use_cpu_threads() -> None:
    import torch

    torch.set_num_threads(cpu_threads())
