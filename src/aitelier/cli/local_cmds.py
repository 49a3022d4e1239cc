"""`ait pull` and `ait export`: bring a fine-tuned model to this machine, and make it a standalone model."""

from __future__ import annotations

import click

from ..errors import NotFound
from .common import get_env, open_project


@click.command()
@click.argument("ref", required=False)
@click.option(
    "--checkpoint",
    type=click.Choice(["adapter", "merged"]),
    default="adapter",
    show_default=True,
    help="The LoRA adapter, or the whole model with the adapter merged in.",
)
def pull(ref: str | None, checkpoint: str) -> None:
    """Download a finished run's model (REF: a run id, job id or model; default the latest succeeded run) into
    runs/<run id>/, so it can be evaluated (`ait eval --provider local --model DIR`) and served locally."""
    from .. import runs
    from ..local import models

    env = get_env()
    project = open_project()
    record = runs.find(project, ref) if ref else runs.latest_finished(project)
    if record is None:
        raise NotFound("no finished fine-tune yet", hint="`ait status --all` lists every run")
    path = models.pull(project, record, checkpoint, note=env.err)
    env.out(f"{checkpoint} of run {runs.run_id(record)} is in {path}")


@click.command()
@click.argument("ref")
@click.option(
    "--merged",
    "merged",
    type=click.Path(file_okay=False),
    required=True,
    metavar="DIR",
    help="Write a Hugging Face model directory with the adapter merged in (transformers and vLLM load it).",
)
def export(ref: str, merged: str) -> None:
    """Export a local run's adapter (REF: a run id, or an adapter directory) as a merged model."""
    from pathlib import Path

    from ..local import models

    env = get_env()
    project = open_project()
    out = models.export_merged(models.adapter_of(project, ref), Path(merged))
    env.out(f"merged model written to {out}")
