"""A local training job: a detached process and its run directory (``runs/<run id>/`` in the project).

Files in the run directory (the directory is git-ignored)::

    request.json   what to train: model, files, hyperparameters (written before the process starts)
    process.json   pid, the process's start time and the machine's boot time (to tell a reused pid or a reboot)
    events.jsonl   one JSON object per line, appended by the trainer: status changes, steps with loss,
                   validation loss per epoch, the result or the error
    log.txt        the process's own output (warnings, tracebacks)
    cancel         present once `ait cancel` asked the job to stop
    adapter/       the result: adapter_model.safetensors, adapter_config.json and the tokenizer

The job's state is read from these files only; a process that is gone without a final event failed, and
the reason says how (killed, out of memory, machine restarted).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..fsutil import atomic_write_text, durable_append

FINAL = ("succeeded", "failed", "cancelled")
RUNS_DIR = "runs"


def run_dir(root: Path, job_id: str, *, make: bool = False) -> Path:
    """``runs/<job id>`` in the project; ``make``: create ``runs/`` (git-ignored) if it is not there yet."""
    runs = root / RUNS_DIR
    if make and not (runs / ".gitignore").exists():
        runs.mkdir(exist_ok=True)
        atomic_write_text(runs / ".gitignore", "# aitelier: local training runs and downloaded models\n*\n")
    return runs / job_id


def append_event(directory: Path, **fields: Any) -> None:
    """One line, written in one call (a reader never sees half of it)."""
    fields.setdefault("time", time.time())
    durable_append(
        directory / "events.jsonl", (json.dumps(fields, ensure_ascii=False) + "\n").encode("utf-8")
    )


def read_events(directory: Path) -> list[dict[str, Any]]:
    try:
        text = (directory / "events.jsonl").read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    out = []
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # a line being written right now
    return out


def _process_facts(pid: int) -> dict[str, Any]:
    import psutil

    return {"pid": pid, "startTime": psutil.Process(pid).create_time(), "bootTime": psutil.boot_time()}


def start(root: Path, job_id: str, request: dict[str, Any]) -> Path:
    """Write the request and start the trainer as a detached process (it outlives `ait train`)."""
    d = run_dir(root, job_id, make=True)
    d.mkdir()
    atomic_write_text(d / "request.json", json.dumps(request, indent=2) + "\n")
    append_event(d, status="pending", message="starting the training process")
    with (d / "log.txt").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "aitelier.local.worker", str(d)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=root,
            start_new_session=True,  # its own process group: Ctrl-C in the terminal does not reach it
        )
    facts = {**_process_facts(proc.pid), "host": socket.gethostname()}
    atomic_write_text(d / "process.json", json.dumps(facts) + "\n")
    return d


def alive(d: Path) -> tuple[bool, str]:
    """Whether the job's process still runs, and if not, what probably happened to it."""
    import psutil

    try:
        facts = json.loads((d / "process.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False, "the training process was never recorded as started"
    if facts.get("host") not in (None, socket.gethostname()):
        return True, ""  # another machine's job (a shared directory): cannot tell, do not call it dead
    if abs(psutil.boot_time() - float(facts.get("bootTime", 0))) > 2:
        return False, "the machine restarted while it trained"
    try:
        p = psutil.Process(int(facts["pid"]))
        same = abs(p.create_time() - float(facts["startTime"])) < 0.05
        if same and p.status() != psutil.STATUS_ZOMBIE:
            return True, ""
    except psutil.Error:
        pass
    return False, f"the training process (pid {facts['pid']}) ended without finishing"


def _last_log_line(d: Path) -> str:
    try:
        with (d / "log.txt").open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 4096))
            lines = [ln.strip() for ln in f.read().decode("utf-8", "replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


@dataclass
class State:
    status: str  # pending | running | succeeded | failed | cancelled
    error: str | None = None
    step: int | None = None
    total_steps: int | None = None
    epoch: int | None = None
    total_epochs: int | None = None
    seconds_remaining: float | None = None
    adapter: str | None = None
    started: float | None = None
    finished: float | None = None


def state(d: Path) -> State:
    events = read_events(d)
    st = State("pending", started=events[0]["time"] if events else None)
    first_step: dict[str, Any] | None = None
    for e in events:
        if e.get("status"):
            st.status = e["status"]
            st.error = e.get("error") or st.error
            st.adapter = e.get("adapter") or st.adapter
            if st.status in FINAL:
                st.finished = e["time"]
        if e.get("step") is not None:
            st.step, st.total_steps = e["step"], e.get("totalSteps", st.total_steps)
            if e.get("epochs") is not None:
                st.total_epochs = e["epochs"]
            if e.get("epoch") is not None:
                st.epoch = int(e["epoch"])
            if first_step is None and e.get("loss") is not None:
                first_step = e
    if st.status not in FINAL:
        ok, why = alive(d)
        if not ok:
            if (d / "cancel").exists():
                st.status, st.finished = "cancelled", (d / "cancel").stat().st_mtime
            else:
                last = _last_log_line(d)
                st.status, st.finished = "failed", time.time()
                hint = " (killed, out of memory, or the machine restarted)" if "restarted" not in why else ""
                st.error = why + hint + (f"; last output: {last}" if last else "")
    if st.status == "running" and st.step and st.total_steps and first_step is not None:
        done = st.step - int(first_step["step"])
        spent = time.time() - float(first_step["time"])
        if done > 0:
            st.seconds_remaining = max(0.0, spent / done * (st.total_steps - st.step))
    return st


def cancel(d: Path, *, wait: float = 15.0) -> None:
    """Ask the process to stop (SIGTERM to its group), then force it after ``wait`` seconds."""
    atomic_write_text(d / "cancel", f"{time.time()}\n")
    ok, _ = alive(d)
    if not ok:
        return
    pid = int(json.loads((d / "process.json").read_text(encoding="utf-8"))["pid"])
    try:
        os.killpg(pid, signal.SIGTERM)
    except OSError:
        return
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if not alive(d)[0]:
            return
        time.sleep(0.1)
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)
