"""Concurrent, cached chat calls: the engine under generation and the judge.

Every call is keyed by (provider, endpoint, model, settings, messages). A result is appended to the cache file
the moment it arrives, so re-running an eval, or resuming after a crash or Ctrl-C, never pays twice for the same
call. The cache is a plain JSONL file that is safe to delete. Its appends are one ``write(2)`` each without an
fsync: they survive a crash or SIGKILL of the process (the data is in the kernel), and a power cut can lose at
most a few answers, which then cost one call each again; fsyncing 16 answers in flight would cost more time
than the calls.

Failures: an error the provider marks retryable (rate limit, server error, timeout, connection) is retried with
exponential backoff, waiting at least as long as its Retry-After says; any other error stops the run at once
(calls not started are cancelled) and is raised, so a model the provider cannot serve fails in one line
instead of once per example.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..fsutil import durable_append
from ..providers.base import ChatResult, ProviderRequestError

MAX_ATTEMPTS = 5  # per call, on top of the SDK's own retries
MAX_WAIT = 120.0  # seconds, the longest Retry-After honoured before giving up on that call
_jitter = random.Random()  # its own generator: worker threads never touch the global random state


@dataclass(frozen=True)
class Settings:
    """What changes a model's answer besides the messages; recorded with the results."""

    temperature: float = 0.0
    max_tokens: int | None = None


@dataclass(frozen=True)
class Call:
    model: str
    messages: list[dict[str, Any]] = field(hash=False)


def call_key(endpoint: str, call: Call, settings: Settings) -> str:
    """The cache key: a hash of everything that decides the answer (``endpoint``: provider name and base URL)."""
    blob = json.dumps(
        [endpoint, call.model, dataclasses.asdict(settings), call.messages],
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


_RESULT_FIELDS = [f.name for f in dataclasses.fields(ChatResult)]


class Cache:
    """Answers by key, loaded from and appended to one JSONL file. ``read=False`` (``--no-cache``) ignores what
    is stored but still records new answers, so the next run can use them."""

    def __init__(self, path: Path, *, read: bool = True) -> None:
        self.path = Path(path)
        self.read = read
        self._entries: dict[str, ChatResult] = {}
        if read:
            self._load()

    def _load(self) -> None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        for raw in data.splitlines():
            # a line that does not parse (a torn write after a power cut) is a missing entry: one more call
            try:
                obj = json.loads(raw)
                key = str(obj.pop("key"))
                # fields an earlier version stored and ChatResult no longer has (finish_reason, token counts) are dropped
                self._entries[key] = ChatResult(**{k: obj[k] for k in _RESULT_FIELDS if k in obj})
            except (ValueError, KeyError, TypeError, AttributeError):
                continue

    def get(self, key: str) -> ChatResult | None:
        return self._entries.get(key) if self.read else None

    def put(self, key: str, result: ChatResult) -> None:
        self._entries[key] = result
        line = json.dumps({"key": key, **dataclasses.asdict(result)}, ensure_ascii=False)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # one write(2): a concurrent run's lines never interleave
        durable_append(self.path, (line + "\n").encode("utf-8"))


@dataclass
class Progress:
    total: int
    done: int = 0
    cached: int = 0  # answers taken from the cache (no call made)
    calls: int = 0  # calls made (retries not counted)
    retries: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def eta(self) -> float | None:
        """Seconds left, from the pace of the calls made so far (cached answers cost nothing)."""
        fresh = self.done - self.cached
        if fresh <= 0 or self.done >= self.total:
            return None
        elapsed = time.monotonic() - self.started
        return elapsed / fresh * (self.total - self.done)


Chat = Callable[[Call], ChatResult]


class _NotStarted(Exception):
    """A call not made because another one failed first (never leaves :func:`run_calls`)."""


def backoff(attempt: int, retry_after: float | None) -> float:
    """Seconds to wait before attempt ``attempt + 1``: Retry-After when the provider gave one, else
    exponential with jitter (0.5 s, 1 s, 2 s ... capped at 30 s)."""
    if retry_after is not None:
        return min(MAX_WAIT, max(0.0, retry_after))
    return min(30.0, 0.5 * 2**attempt) * (0.75 + _jitter.random() / 2)


def call_with_retries(
    chat: Chat, call: Call, *, attempts: int = MAX_ATTEMPTS, sleep: Callable[[float], None] = time.sleep
) -> tuple[ChatResult, int]:
    """``chat(call)``, retrying retryable failures; returns the answer and how many retries it took."""
    for attempt in range(attempts):
        try:
            return chat(call), attempt
        except ProviderRequestError as e:
            if not e.retryable or attempt == attempts - 1:
                raise
            if e.retry_after is not None and e.retry_after > MAX_WAIT:
                raise
            sleep(backoff(attempt, e.retry_after))
    raise AssertionError("unreachable")  # pragma: no cover


def run_calls(
    chat: Chat,
    calls: Sequence[Call],
    *,
    endpoint: str,
    settings: Settings,
    cache: Cache,
    concurrency: int = 8,
    on_progress: Callable[[Progress], None] | None = None,
) -> list[ChatResult]:
    """The answer to every call, in order: cached ones at once, the rest ``concurrency`` at a time.

    Raises the first non-retryable failure (or a retryable one that outlasted its retries) after cancelling
    the calls not started; the answers that did arrive are in the cache.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    progress = Progress(total=len(calls))
    results: list[ChatResult | None] = [None] * len(calls)
    keys = [call_key(endpoint, c, settings) for c in calls]
    todo: dict[str, list[int]] = {}  # one call per distinct key, however many items share it
    for i, key in enumerate(keys):
        hit = cache.get(key)
        if hit is not None:
            results[i] = hit
            progress.done += 1
            progress.cached += 1
        else:
            todo.setdefault(key, []).append(i)
    if on_progress is not None:
        on_progress(progress)
    if todo:
        pool = ThreadPoolExecutor(max_workers=min(concurrency, len(todo)), thread_name_prefix="ait-eval")
        futures: dict[Future[tuple[ChatResult, int]], str] = {}
        failed = threading.Event()  # set by the worker that failed, before any worker takes another call

        def work(call: Call) -> tuple[ChatResult, int]:
            if failed.is_set():
                raise _NotStarted()
            try:
                return call_with_retries(chat, call)
            except BaseException:
                failed.set()
                raise

        try:
            for key, rows in todo.items():
                futures[pool.submit(work, calls[rows[0]])] = key
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    if isinstance(fut.exception(), _NotStarted):
                        continue  # the failure that stopped it is raised from its own future
                    key = futures[fut]
                    answer, retries = fut.result()  # raises the call's error: the finally cancels the rest
                    cache.put(key, answer)
                    progress.calls += 1
                    progress.retries += retries
                    for i in todo[key]:
                        results[i] = answer
                        progress.done += 1
                if on_progress is not None:
                    on_progress(progress)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
    return [r for r in results if r is not None]
