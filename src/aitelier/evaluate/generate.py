"""Making an eval: the validation examples, the model(s) to run, the calls (concurrent, cached) and the new file.

A model the provider cannot serve stops the run at its first answer with one line saying why and what to do
(exit 4), and no eval file is written; the answers that did arrive stay in the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import runs as run_records
from ..errors import ProviderError, UsageError
from ..fsutil import now_iso
from ..project import Project
from ..providers.base import ChatResult, Provider, ProviderRequestError
from . import judge as judging
from .results import COMPARE, SCORE, Eval, create, evals_dir, load_all, slug, winner_of
from .runner import Cache, Call, Progress, Settings, run_calls
from .summary import summarize

CACHE_NAME = ".cache.jsonl"  # in data/evals: derived, safe to delete
RUBRIC_NAME = "eval-rubric.md"  # in the project root: replaces the judge's default rubric
COMPATIBLE = "openai-compatible"


class UnservableModel(ProviderError):
    """The provider answered that it cannot run this model (unknown, not deployed, not finished)."""


@dataclass(frozen=True)
class ValItem:
    id: int
    input: list[dict[str, Any]]
    expected: str


def val_items(project: Project) -> list[ValItem]:
    """Every example in the val split: its conversation up to the last assistant turn, and that turn."""
    out = []
    for ex in project.store.read():
        if ex.split != "val":
            continue
        msgs = [{"role": m["role"], "content": m["content"]} for m in ex.messages]
        last = max((i for i, m in enumerate(msgs) if m["role"] == "assistant"), default=None)
        if last is None:
            continue  # nothing to compare against (the format rules reject such examples too)
        out.append(ValItem(ex.id, msgs[:last], str(msgs[last]["content"])))
    if not out:
        raise UsageError('no validation examples (split "val") to evaluate on', hint="run `ait split` first")
    return out


def fingerprint(items: Sequence[ValItem]) -> str:
    blob = json.dumps([[v.id, v.input, v.expected] for v in items], sort_keys=True, ensure_ascii=False)
    return "sha256:" + hashlib.sha256(blob.encode("utf-8")).hexdigest()


# -- who answers ---------------------------------------------------------------------------------------------------
class Endpoint:
    """Who answers: a provider by registry name, or an OpenAI-compatible server at ``base_url``.

    The provider (and its SDK) is created at the first call that is not in the cache, so a fully cached run
    starts faster and works offline.
    """

    def __init__(self, connect: Callable[[], Provider], name: str, base_url: str | None) -> None:
        self._connect = connect
        self._provider: Provider | None = None
        self._lock = threading.Lock()
        self.name = name
        self.base_url = base_url

    @property
    def provider(self) -> Provider:
        with self._lock:  # the first calls come from several worker threads at once
            if self._provider is None:
                self._provider = self._connect()
            return self._provider

    @property
    def title(self) -> str:
        return self.base_url or (self._provider.title if self._provider is not None else self.name)

    @property
    def cache_scope(self) -> str:
        return f"{self.name}|{self.base_url or ''}"

    def chat(self, settings: Settings) -> Callable[[Call], ChatResult]:
        def ask(call: Call) -> ChatResult:
            try:
                return self.provider.chat(
                    call.model,
                    call.messages,
                    max_tokens=settings.max_tokens,
                    temperature=settings.temperature,
                )
            except ProviderRequestError as e:
                raise unservable(self, call.model, e) or e from None

        return ask

    def run(
        self,
        calls: Sequence[Call],
        settings: Settings,
        cache: Cache,
        *,
        concurrency: int,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> list[ChatResult]:
        """Every call's answer, from the cache or asked concurrently (the runner keeps the order)."""
        return run_calls(
            self.chat(settings),
            calls,
            endpoint=self.cache_scope,
            settings=settings,
            cache=cache,
            concurrency=concurrency,
            on_progress=on_progress,
        )

    def close(self) -> None:
        if self._provider is not None:
            self._provider.close()


def connect(
    project: Project, provider: str | None, base_url: str | None, environ: Mapping[str, str] | None = None
) -> Endpoint:
    """The project's provider (or ``provider``), or any OpenAI-compatible server at ``base_url``.

    A server at ``base_url`` (vLLM, Ollama, llama.cpp, LM Studio) gets the key in AITELIER_EVAL_API_KEY, or a
    placeholder: the provider keys in the environment are never sent to an address the user typed.
    """
    from ..providers import registry

    env = dict(os.environ if environ is None else environ)
    if base_url:
        if provider:
            raise UsageError(
                "--provider and --base-url exclude each other (--base-url speaks the OpenAI API)"
            )
        env["OPENAI_BASE_URL"] = base_url
        env["OPENAI_API_KEY"] = env.get("AITELIER_EVAL_API_KEY") or "not-needed"
        env.pop("OPENAI_ORG_ID", None)
        env.pop("OPENAI_PROJECT_ID", None)
        return Endpoint(lambda: registry.connect("openai", None, environ=env), COMPATIBLE, base_url)
    name = provider or project.provider
    info = registry.get(name)  # an unknown provider is a usage error now, not at the first call
    if "chat" not in info.capabilities:
        raise UsageError(
            f"{info.title} cannot answer chat requests here",
            hint="serve the model with an OpenAI-compatible server (vLLM, Ollama, llama.cpp) and pass "
            "--base-url URL, or pass --provider NAME",
        )
    return Endpoint(lambda: registry.connect(name, project.root, environ=env), name, None)


def unservable(endpoint: Endpoint, model: str, e: ProviderRequestError) -> UnservableModel | None:
    """Our one-line error when ``e`` says the model cannot be served; None for other failures."""
    said = (e.detail or str(e)).lower()
    if e.status_code not in (400, 403, 404, 422) or (e.status_code != 404 and "model" not in said):
        return None
    from ..providers import registry

    info = None if endpoint.base_url else registry.get(endpoint.name)
    if info is not None and info.unservable_hint:
        hint = info.unservable_hint
    elif endpoint.base_url:
        hint = f"check the model name the server at {endpoint.base_url} knows"
    else:
        hint = "check the name (`ait status` shows fine-tuned models), or serve it yourself and pass --base-url URL"
    where = endpoint.title
    return UnservableModel(f"{where} cannot serve {model}: {e.detail or e.message}", hint=hint)


def default_model(project: Project) -> tuple[str, str | None]:
    """The latest succeeded run's fine-tuned model and the provider that trained it; a clear error when there
    is none yet. Runs the npm tool recorded (``completed``, ``modelId``) count too."""
    done = run_records.latest_finished(project)
    if done is not None:
        return str(run_records.model_of(done)), str(done["provider"]) if done.get("provider") else None
    active = [r for r in run_records.all_runs(project) if run_records.is_active(r)]
    if active:
        r = active[-1]
        raise UnservableModel(
            f"the fine-tune {r.get('jobId') or r.get('id')} has not finished (status {r.get('status')})",
            hint="`ait status --watch` follows it; or pass --model M",
        )
    raise UsageError("no fine-tuned model yet", hint="train one with `ait train`, or pass --model M")


# -- the new eval ------------------------------------------------------------------------------------------------
def _stamp() -> str:
    """The start of a new eval's file name: its UTC time to the second."""
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")


def generate(
    project: Project,
    endpoint: Endpoint,
    model: str,
    settings: Settings,
    *,
    cache: Cache,
    base: str | None = None,
    seed: int | None = None,
    concurrency: int = 8,
    on_progress: Callable[[Progress], None] | None = None,
) -> Eval:
    """A new eval file of ``model``'s answers to the val set, to be scored; with ``base``, a blind comparison of
    the two, each item's sides drawn with ``seed`` (random when None, recorded either way)."""
    if model == base:
        raise UsageError(f"--model and --base are the same model ({model}); compare two different ones")
    items = val_items(project)
    models = [model] if base is None else [model, base]
    calls = [Call(m, v.input) for m in models for v in items]
    answers = [
        a.text for a in endpoint.run(calls, settings, cache, concurrency=concurrency, on_progress=on_progress)
    ]
    if base is not None and seed is None:
        seed = random.SystemRandom().randrange(2**31)
    rng = random.Random(seed)
    rows = []
    for i, v in enumerate(items):
        row: dict[str, Any] = {"id": v.id, "input": v.input, "expected": v.expected}
        if base is None:
            row.update(output=answers[i], score=None)
        else:
            outs = {model: answers[i], base: answers[len(items) + i]}
            a, b = (model, base) if rng.random() < 0.5 else (base, model)
            row.update(a_model=a, b_model=b, a_output=outs[a], b_output=outs[b], choice=None, winner=None)
        rows.append({**row, "skipped": False})
    doc = {
        "kind": SCORE if base is None else COMPARE,
        "model": model,
        **({} if base is None else {"base": base, "seed": seed}),
        "provider": endpoint.name,
        "base_url": endpoint.base_url,
        "settings": asdict(settings),
        "created": now_iso(),
        "val_set": {"fingerprint": fingerprint(items), "examples": len(items)},
        "judge": None,
        "summary": {},
        "items": rows,
    }
    directory = evals_dir(project.root)
    history, _ = load_all(directory)
    doc["summary"] = summarize(Eval(directory / "unsaved.json", doc), history)
    # no model name in a comparison's file name: it is shown while the person chooses
    return create(
        directory, f"{_stamp()}-score-{slug(model)}" if base is None else f"{_stamp()}-compare", doc
    )


# -- the judge ---------------------------------------------------------------------------------------------------
def rubric_text(project: Project, path: str | None) -> str:
    if path:
        try:
            return Path(path).read_text(encoding="utf-8")
        except OSError as e:
            raise UsageError(f"cannot read the rubric {path}: {e.strerror or e}") from e
    own = project.root / RUBRIC_NAME
    return own.read_text(encoding="utf-8") if own.is_file() else judging.DEFAULT_RUBRIC


def run_judge(
    ev: Eval,
    endpoint: Endpoint,
    judge_model: str,
    rubric: str,
    *,
    cache: Cache,
    concurrency: int = 8,
    on_progress: Callable[[Progress], None] | None = None,
) -> None:
    """Judge every item of ``ev`` (cached like generation) and save the verdicts into its file."""
    settings = Settings(temperature=0.0, max_tokens=400)
    items = ev.items
    if ev.kind == SCORE:
        calls = [Call(judge_model, judging.score_messages(rubric, it)) for it in items]
    else:
        orders = (("a_output", "b_output"), ("b_output", "a_output"))  # each pair asked both ways round
        calls = [
            Call(judge_model, judging.compare_messages(rubric, it, it[x], it[y]))
            for x, y in orders
            for it in items
        ]
    answers = endpoint.run(calls, settings, cache, concurrency=concurrency, on_progress=on_progress)
    n = len(items)
    for i, it in enumerate(ev.data["items"]):
        if ev.kind == SCORE:
            score, reason = judging.parse_score(answers[i].text)
            it["judge"] = {"score": score, "reason": reason}
        else:
            first, reason = judging.parse_winner(answers[i].text)
            second, reason2 = judging.parse_winner(answers[n + i].text)
            choice = judging.combine(first, second)
            it["judge"] = {
                "choice": choice,
                "winner": winner_of(it, choice),
                "votes": [first, second],
                "reason": reason,
                "reason_swapped": reason2,
            }
    ev.data["judge"] = {
        "model": judge_model,
        "provider": endpoint.name,
        "rubric_sha256": hashlib.sha256(rubric.encode()).hexdigest(),
    }
    history, _ = load_all(ev.path.parent)
    ev.fold(history)
