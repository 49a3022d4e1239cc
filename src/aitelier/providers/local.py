"""Training on this machine (transformers + peft). Registered so that `init`, `format` and `validate` know its
file format and rules; its trainer comes with the local backend, until then `ait train` says so plainly."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..formats.rules import ERROR, WARNING, ProviderSpec


def register(register: Callable[..., Any]) -> None:
    register(
        "local",
        None,
        title="local",
        default_model="HuggingFaceTB/SmolLM2-135M-Instruct",
        key_var="-",  # no key: nothing leaves the machine
        base_url_var="-",
        description="this machine (transformers + peft; the trainer is not available yet)",
        # what the local trainer reads: one {"messages": [...]} per line, fed to the model's chat template
        file_format=ProviderSpec("local"),
        rules={"line-keys": WARNING, "consecutive-roles": ERROR},  # chat templates need alternating roles
        pricing="free",
        capabilities=frozenset(),
        unavailable="local training is not available yet (it comes with the local backend)",
        notice="local training is not available yet: `ait format` and `ait validate` work, `ait train` does not",
    )
