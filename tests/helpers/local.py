"""A tiny chat model for the local provider's tests (built from a config, no download), once per process."""

from __future__ import annotations

import functools
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest


def local_stack() -> None:
    """Skip the calling test when the ``local`` extra is not installed (`python3 dev.py test` installs it)."""
    from aitelier.local import missing

    if missing():
        pytest.skip(f"the local extra is not installed ({', '.join(missing())})")


def bundled_conversations() -> list[list[dict[str, Any]]]:
    from importlib.resources import files

    text = (files("aitelier") / "examples" / "customer-support.jsonl").read_text(encoding="utf-8")
    return [json.loads(line)["messages"] for line in text.splitlines() if line.strip()]


@functools.cache
def tiny_model() -> Path:
    """A 2-layer Llama with a BPE tokenizer trained on the bundled customer-support texts, plus a chat template."""
    local_stack()
    from aitelier.local import tiny

    out = Path(tempfile.mkdtemp(prefix="ait-tiny-")) / "tiny"
    return tiny.build(out, tiny.texts_of(bundled_conversations()), vocab_size=400, hidden=32)
