"""Text for fine-tuning runs: progress lines, durations, the run table, event lines. Pure functions of the data,
so ``ait status`` looks the same in a terminal, a log file and a test."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any


def duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return "?"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


def bar(fraction: float, width: int = 24) -> str:
    fraction = min(max(fraction, 0.0), 1.0)
    done = int(round(fraction * width))
    return "[" + "#" * done + "." * (width - done) + "]"


def progress_fraction(progress: dict[str, Any]) -> float | None:
    for done, total in (("step", "totalSteps"), ("epoch", "totalEpochs")):  # steps say more when known
        n, of = progress.get(done), progress.get(total)
        if isinstance(n, (int, float)) and isinstance(of, (int, float)) and of > 0:
            return min(n / of, 1.0)
    return None


def progress_text(progress: dict[str, Any]) -> str:
    """ "step 5/10 (50%), epoch 1/3, ~5m 00s left" with whatever parts the provider reported."""
    parts = []
    step, total = progress.get("step"), progress.get("totalSteps")
    if step is not None:
        part = f"step {step}" + (f"/{total}" if total else "")
        if total:
            part += f" ({100 * step / total:.0f}%)"
        parts.append(part)
    epoch, epochs = progress.get("epoch"), progress.get("totalEpochs")
    if epoch is not None:
        parts.append(f"epoch {epoch}" + (f"/{epochs}" if epochs else ""))
    if progress.get("secondsRemaining") is not None:
        parts.append(f"~{duration(progress['secondsRemaining'])} left")
    if progress.get("queueDepth"):
        parts.append(f"{progress['queueDepth']} job(s) ahead in the queue")
    return ", ".join(parts)


def progress_line(status_text: str, progress: dict[str, Any]) -> str:
    frac = progress_fraction(progress)
    detail = progress_text(progress)
    head = f"{bar(frac)} " if frac is not None else ""
    return f"{head}{status_text}" + (f": {detail}" if detail else "")


def clock(ts: float | None) -> str:
    if ts is None:
        return "--:--:--"
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%H:%M:%S")


def event_line(created_at: float | None, level: str, message: str) -> str:
    mark = {"error": "!", "warning": "?", "warn": "?"}.get(level.lower(), " ")
    return f"{clock(created_at)} {mark} {message}"


def short_time(iso: str | None) -> str:
    """2026-11-25T10:00:00.000Z -> 2026-11-25 10:00"""
    if not iso:
        return ""
    return iso.replace("T", " ")[:16]


def runs_table(
    records: Sequence[dict[str, Any]], errors: dict[str, str] | None = None, *, width: int | None = None
) -> list[str]:
    """Aligned columns, one run per line, newest last (like `git log --reverse`). With ``width`` the table
    fits it: the JOB and STARTED columns go first (`ait status REF` shows them), then model names are
    shortened in the middle, keeping both ends."""
    from ..runs import model_of, run_id, shown_status

    headers = ["RUN", "PROVIDER", "STATUS", "METHOD", "JOB", "BASE MODEL", "FINE-TUNED MODEL", "STARTED"]
    # runs recorded before DPO (and the npm tool's) were SFT; the column appears once another method ran
    methods = any((r.get("method") or "sft") != "sft" for r in records)
    rows = []
    for r in records:
        status = shown_status(r)
        raw = r.get("providerStatus")
        if raw and raw != status:
            status += f" ({raw})"
        if errors and run_id(r) in errors:
            status += " [not refreshed]"
        rows.append(
            [
                run_id(r),
                str(r.get("provider", "")),
                status,
                str(r.get("method") or "sft"),
                str(r.get("jobId") or "-"),
                str(r.get("baseModel") or r.get("model") or ""),
                model_of(r) or "-",
                short_time(r.get("startedAt")),
            ]
        )

    if not methods:
        del headers[3]
        for row in rows:
            del row[3]

    def widths_of() -> list[int]:
        return [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]

    widths = widths_of()
    if width is not None:
        for name in ("JOB", "STARTED"):
            if sum(widths) + 2 * (len(widths) - 1) <= width:
                break
            i = headers.index(name)
            del headers[i]
            for row in rows:
                del row[i]
            widths = widths_of()
        models = (headers.index("BASE MODEL"), headers.index("FINE-TUNED MODEL"))
        while sum(widths) + 2 * (len(widths) - 1) > width:
            can = [k for k in models if widths[k] > len(headers[k])]
            if not can:
                break
            widths[max(can, key=lambda k: widths[k])] -= 1
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)

    def fit(row: Sequence[str]) -> list[str]:
        return [middle(cell, w) for cell, w in zip(row, widths, strict=True)]

    return [fmt.format(*headers).rstrip()] + [fmt.format(*fit(row)).rstrip() for row in rows]


def middle(text: str, width: int) -> str:
    """``text`` shortened to ``width`` characters with "..." in the middle (both ends of a name say most)."""
    if len(text) <= width:
        return text
    head = (width - 3) // 2
    return text[:head] + "..." + text[len(text) - (width - 3 - head) :]


def settings_text(hyper: dict[str, Any]) -> str:
    names = {  # a name not here is shown as it is recorded (epochs, suffix, seed ...)
        "batchSize": "batch size",
        "learningRate": "learning rate",
        "lrMultiplier": "lr multiplier",
        "loraR": "LoRA r",
        "loraAlpha": "LoRA alpha",
        "loraDropout": "LoRA dropout",
        "nEvals": "evals",
        "maxLength": "max length",
    }
    return ", ".join(
        f"{names.get(k, k)} {v:g}" if isinstance(v, float) else f"{names.get(k, k)} {v}"
        for k, v in hyper.items()
    )


def files_text(files: dict[str, Any]) -> list[str]:
    out = []
    for role in ("train", "val"):
        f = files.get(role)
        if not f:
            continue
        bits = [f"{f.get('examples', '?')} examples", f"sha256 {str(f.get('sha256', ''))[:12]}"]
        if f.get("fileId"):
            bits.append(f"file {f['fileId']}")
        out.append(f"{f.get('path', role)} ({', '.join(bits)})")
    return out
