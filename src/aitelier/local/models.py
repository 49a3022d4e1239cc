"""Models on this machine: adapters pulled from a provider, and adapters merged into a standalone model."""

from __future__ import annotations

import contextlib
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import runs
from ..errors import NotFound, UsageError
from ..project import Project
from . import INSTALL, missing
from .jobs import run_dir


def adapter_of(project: Project, ref: str) -> Path:
    """The adapter directory of run REF (trained here or pulled), or REF itself when it is one."""
    direct = Path(ref)
    if (direct / "adapter_config.json").exists():
        return direct
    record = runs.find(project, ref)
    path = run_dir(project.root, runs.run_id(record)) / "adapter"
    if not (path / "adapter_config.json").exists():
        raise NotFound(
            f"run {runs.run_id(record)} has no adapter on this machine",
            hint="`ait pull RUN` downloads a remote run's adapter"
            if record.get("provider") != "local"
            else None,
        )
    return path


def export_merged(adapter: Path, out: Path) -> Path:
    """Write base model + adapter, merged, as a Hugging Face model directory (with the tokenizer), in the base
    model's own dtype (its checkpoint's): the export is as large as the base model, whichever device trained."""
    if missing():
        raise UsageError(f"exporting a merged model needs {', '.join(missing())}: {INSTALL}")
    if out.exists() and any(out.iterdir()):
        raise UsageError(f"{out} is not empty; not writing into it")
    from .infer import load

    loaded = load(str(adapter), dtype="auto")
    merged = loaded.model.merge_and_unload()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".merging-", dir=out.parent))  # renamed into place once complete
    try:
        merged.save_pretrained(tmp)
        loaded.tokenizer.padding_side = "right"
        loaded.tokenizer.save_pretrained(tmp)
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def _extract(archive: Path, dest: Path) -> None:
    """Unpack a downloaded checkpoint (a tar archive, compressed or not) into ``dest``, refusing paths that
    would land outside it."""
    with open(archive, "rb") as f:
        magic = f.read(4)
    if magic == b"\x28\xb5\x2f\xfd":  # zstandard, Together's usual compression
        try:
            import zstandard
        except ImportError as e:
            raise UsageError(
                f"the checkpoint is zstd-compressed; it is kept as {archive}",
                hint="`pip install zstandard` and run `ait pull` again, or `tar --zstd -xf` it",
            ) from e
        plain = archive.with_suffix(".tar")
        with open(archive, "rb") as src, open(plain, "wb") as dst:
            zstandard.ZstdDecompressor().copy_stream(src, dst)
        archive = plain
    if not tarfile.is_tarfile(archive):
        raise UsageError(f"the download is not an archive aitelier knows; it is kept as {archive}")
    with tarfile.open(archive) as tar:
        root = dest.resolve()
        for member in tar.getmembers():
            target = (dest / member.name).resolve()
            if not (target == root or root in target.parents) or member.issym() or member.islnk():
                raise UsageError(f"the archive holds an unsafe path: {member.name}")
        tar.extractall(dest)  # noqa: S202 - every member was checked above
    # an archive with one top folder: its content is the model
    inner = [p for p in dest.iterdir()]
    if len(inner) == 1 and inner[0].is_dir():
        for p in list(inner[0].iterdir()):
            p.rename(dest / p.name)
        inner[0].rmdir()


def pull(
    project: Project, record: dict[str, Any], checkpoint: str, *, note: Callable[[str], None] = print
) -> Path:
    """Download run ``record``'s adapter (or merged model) into ``runs/<run id>/<checkpoint>``."""
    from ..providers import registry

    name = str(record.get("provider"))
    info = registry.get(name)
    run = runs.run_id(record)
    if "download" not in info.capabilities:
        raise UsageError(f"{info.title} does not offer its fine-tuned models for download")
    runs.require_finished(record)
    dest = run_dir(project.root, run, make=True) / ("adapter" if checkpoint == "adapter" else "merged")
    if dest.exists() and any(dest.iterdir()):
        note(f"{dest} is already there; not downloading again")
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    provider = registry.connect(name, project.root)
    staging = Path(tempfile.mkdtemp(prefix=".pull-", dir=dest.parent))
    try:
        archive = staging / "download"
        note(f"Downloading the {checkpoint} of job {record['jobId']} from {info.title}...")
        provider.download(str(record["jobId"]), checkpoint, archive)
        unpacked = staging / "out"
        unpacked.mkdir()
        _extract(archive, unpacked)
        if dest.exists():
            dest.rmdir()
        unpacked.rename(dest)
    finally:
        provider.close()
        with contextlib.suppress(OSError):
            shutil.rmtree(staging)
    runs.update(project, run, {"downloaded": {checkpoint: project.relative(dest)}})
    return dest
