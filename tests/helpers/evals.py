"""A project ready for ``ait eval``: examples with a val split and a succeeded fine-tune run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from helpers import record, write_records

BASE = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
TUNED = "acme/Meta-Llama-3.1-8B-Instruct-Reference-support-ft-1"


def val_question(i: int) -> str:
    return f"where is order {i}?"


def make_project(
    root: Path, *, n_val: int = 4, n_train: int = 6, provider: str = "together", run: bool = True
) -> Any:
    """A project with ``n_train`` train and ``n_val`` val examples (ids 1..), and one succeeded run of TUNED."""
    from aitelier import Project

    project = Project.create(root, name="support", provider=provider, model=BASE)
    recs = []
    for i in range(1, n_train + n_val + 1):
        msgs = [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": val_question(i)},
            {"role": "assistant", "content": f"Order {i} ships tomorrow."},
        ]
        recs.append(record(i, messages=msgs, rating=8, split="train" if i <= n_train else "val"))
    write_records(project.examples_path, recs)
    if run:
        cfg = json.loads(project.config_path.read_text())
        cfg["runs"] = [
            {
                "id": "run-000000000001",
                "provider": provider,
                "baseModel": BASE,
                "status": "succeeded",
                "jobId": "ft-1",
                "fineTunedModel": TUNED,
                "startedAt": "2026-01-01T00:00:00.000Z",
            }
        ]
        cfg["nextId"] = n_train + n_val + 1
        project.config_path.write_text(json.dumps(cfg, indent=2))
    return Project.find(root)
