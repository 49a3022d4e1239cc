"""Build the provider files from a project: format in memory, validate everything, then write (or not).

``build()`` never writes: it returns every line it would write, every problem (each with its example id) and
the token counts. ``write()`` refuses a build with errors, so nothing broken reaches a paid job; otherwise it
replaces ``data/train.jsonl`` and ``data/val.jsonl`` atomically and removes a file whose split became empty.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import freshness
from .. import tokens as tok
from ..errors import ConfigError, UsageError, ValidationFailed
from ..fsutil import atomic_write_bytes
from ..store.canonical import plain_messages
from ..store.index import ExampleIndex, gc_paused
from ..store.records import Example
from .checks import check_conversation, check_plain
from .rules import FEW_EXAMPLES, SPECS, Problem, Problems, ProblemSummary, ProviderSpec

if TYPE_CHECKING:
    from ..project import Project

WEIGHT_POLICIES = ("all", "last")
# the same compact form as store.records.dumps (JavaScript's JSON.stringify), built once
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
MAX_TOKENS_KEY = "maxTokens"
EPOCHS_KEY = "epochs"


_PLAIN = ("role", "content")


def format_messages(
    messages: Sequence[dict[str, Any]], spec: ProviderSpec, weight: str = "all"
) -> tuple[list[dict[str, Any]], set[str]]:
    """One example's messages in the provider's shape, and the message keys that had to be dropped.

    ``weight="last"`` trains only the final assistant turn of a multi-turn example (weight 0 on the others, 1
    on the last); ``"all"`` writes no weights (every assistant turn is trained) but keeps weights stored on
    the example where the provider can carry them. The returned dicts may be the input dicts themselves when
    they are already exactly ``{"role", "content"}``: treat both as read-only.
    """
    dropped: set[str] = set()
    last = -1
    if weight == "last":
        n_assistant = 0
        for i, m in enumerate(messages):
            if m.get("role") == "assistant":
                n_assistant += 1
                last = i
        if n_assistant < 2:
            last = -1  # one assistant turn: it is the last one, no weights needed
    if last == -1:
        for m in messages:
            if len(m) != 2 or tuple(m) != _PLAIN:
                break
        else:
            return list(messages), dropped  # the common case: nothing to change
    keys = spec.message_keys
    out = []
    for i, m in enumerate(messages):
        d = {"role": m["role"], "content": m["content"]}
        for k, v in m.items():
            if k in _PLAIN or (k == "weight" and last != -1):
                continue  # with --weight last, stored weights are replaced
            if k in keys:
                d[k] = v
            else:
                dropped.add(k)
        if last != -1 and m["role"] == "assistant":
            d["weight"] = 1 if i == last else 0
        out.append(d)
    return out, dropped


def format_line(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """A provider file line. Every provider aitelier writes for takes exactly {"messages": [...]}."""
    return {"messages": messages}


@dataclass
class SplitFile:
    name: str  # train or val
    path: Path
    ids: list[int] = field(default_factory=list)
    encoded: list[bytes] = field(default_factory=list)  # each line serialised, newline included
    token_totals: list[int] = field(default_factory=list)
    token_trained: list[int] = field(default_factory=list)
    # the lines as objects; `ait format` never needs them (it works on the bytes), so for a build they are
    # parsed from ``encoded`` the first time anyone asks (but for those it built as objects: ``_known``)
    _lines: list[dict[str, Any]] | None = field(default=None, repr=False)
    _known: dict[int, dict[str, Any]] = field(default_factory=dict, repr=False)

    @property
    def lines(self) -> list[dict[str, Any]]:
        if self._lines is None:
            known = self._known
            self._lines = [known[i] if i in known else json.loads(e) for i, e in enumerate(self.encoded)]
        return self._lines

    @lines.setter
    def lines(self, value: list[dict[str, Any]]) -> None:
        self._lines = value

    @property
    def count(self) -> int:
        return len(self.ids)

    def stats(self) -> tok.TokenStats:
        return tok.TokenStats.of(self.token_totals, self.token_trained)


@dataclass
class Build(ProblemSummary):
    provider: str
    model: str
    weight: str
    threshold: int
    train: SplitFile
    val: SplitFile
    problems: list[Problem]
    encoding: tok.EncodingChoice | None
    max_tokens: int | None
    excluded: int = 0  # examples with a split that are below the threshold now (kept out of the files)
    unsplit: list[int] = field(default_factory=list)  # eligible examples that have no split yet
    estimate: tok.TrainingEstimate | None = None
    source: dict[str, Any] = field(default_factory=dict)  # what was read (freshness.snapshot), for write()

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "provider": self.provider,
            "model": self.model,
            "weight": self.weight,
            "threshold": self.threshold,
            "counts": {
                "train": self.train.count,
                "val": self.val.count,
                "excluded": self.excluded,
                "unsplit": len(self.unsplit),
            },
            "tokens": None
            if self.encoding is None
            else {
                "encoding": self.encoding.name,
                "exact": self.encoding.exact,
                "note": self.encoding.note,
                "maxTokens": self.max_tokens,
                "train": self.train.stats().as_dict(),
                "val": self.val.stats().as_dict(),
            },
            "estimate": None if self.estimate is None else self.estimate.as_dict(),
            "errors": [p.as_dict() for p in self.errors],
            "warnings": [p.as_dict() for p in self.warnings],
        }


def _positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{what} must be a positive integer, got {value!r}")
    return value


def resolve_max_tokens(spec: ProviderSpec, config: dict[str, Any], override: int | None) -> int | None:
    if override is not None:
        return _positive_int(override, "--max-tokens")
    if config.get(MAX_TOKENS_KEY) is not None:
        return _positive_int(config[MAX_TOKENS_KEY], f"`{MAX_TOKENS_KEY}` in .aitelier.json")
    return spec.max_tokens


def check_split_files(
    problems: Problems,
    train: SplitFile,
    val: SplitFile,
    spec: ProviderSpec,
    *,
    where: dict[str, dict[str, Any]] | None = None,
    canonical: bool = False,
) -> None:
    """The data-set rules: minimum counts, duplicates within a file, leakage between train and val.

    ``where`` maps a split name to the keyword arguments that address one of its lines (by example id or by
    path and line); without it problems are addressed by example id. ``canonical`` says the encoded lines are
    our own output (role first in every message), which allows a faster prompt comparison.
    """

    def loc(f: SplitFile, i: int) -> dict[str, Any]:
        if where is not None and f.name in where:
            return {**where[f.name], "line": f.ids[i]}  # in a file, ids are line numbers
        return {"example_id": f.ids[i], "split": f.name}

    whole: dict[str, Any] = where["train"] if where is not None and "train" in where else {"split": "train"}
    if train.count < spec.min_examples:
        problems.add(
            "min-examples",
            f"{train.count} training example(s); {spec.name} needs at least {spec.min_examples}",
            **whole,
        )
    elif train.count < FEW_EXAMPLES:
        problems.add(
            "few-examples",
            f"only {train.count} training examples; {FEW_EXAMPLES}+ are usually needed to teach a task",
            **whole,
        )
    # exact duplicates within a file, and the same conversation in both files
    train_seen: dict[bytes, int] = {}
    for i, enc in enumerate(train.encoded):
        first = train_seen.setdefault(enc, i)
        if first != i:
            problems.add("duplicate", f"same conversation as {_ref(train, first, where)}", **loc(train, i))
    val_seen: dict[bytes, int] = {}
    for i, enc in enumerate(val.encoded):
        first = val_seen.setdefault(enc, i)
        if first != i:
            problems.add("duplicate", f"same conversation as {_ref(val, first, where)}", **loc(val, i))
            continue
        j = train_seen.get(enc)
        if j is not None:
            problems.add(
                "leakage", f"the same conversation is in train ({_ref(train, j, where)})", **loc(val, i)
            )
    # the same prompt (everything before the last assistant message) with a different answer
    if val.count and train.count:
        key_of = _prompt_key_bytes if canonical else _prompt_key
        train_prompts: dict[Any, int] = {}
        for i in range(train.count):
            key = key_of(train, i)
            if key is not None:
                train_prompts.setdefault(key, i)
        for i in range(val.count):
            key = key_of(val, i)
            j = train_prompts.get(key) if key is not None else None
            if j is not None and val.encoded[i] not in train_seen:
                problems.add(
                    "prompt-leakage",
                    f"the same prompt is in train ({_ref(train, j, where)}) with a different answer",
                    **loc(val, i),
                )


def _ref(f: SplitFile, i: int, where: dict[str, dict[str, Any]] | None) -> str:
    if where is not None and f.name in where:
        return f"line {f.ids[i]}"
    return f"example {f.ids[i]}"


_LAST_ASSISTANT = b'{"role":"assistant"'
_FIRST_MESSAGE = len(b'{"messages":[{')


def _prompt_key_bytes(f: SplitFile, i: int) -> bytes | None:
    """Everything before the last assistant message of one of our own lines (quotes inside strings are
    escaped, so the marker cannot occur inside a content string)."""
    enc = f.encoded[i]
    at = enc.rfind(_LAST_ASSISTANT)
    return enc[:at] if at > _FIRST_MESSAGE else None


def _prompt_key(f: SplitFile, i: int) -> tuple[tuple[Any, Any], ...] | None:
    msgs = f.lines[i].get("messages")
    if not isinstance(msgs, list):
        return None
    last = -1
    for n, m in enumerate(msgs):
        if isinstance(m, dict) and m.get("role") == "assistant":
            last = n
    if last <= 0:
        return None
    key = []
    for m in msgs[:last]:
        role, content = (m.get("role"), m.get("content")) if isinstance(m, dict) else (None, None)
        if not isinstance(role, str) or not isinstance(content, str):
            return None  # a malformed message (already an error) makes no comparable prompt
        key.append((role, content))
    return tuple(key)


def count_tokens(files: Sequence[SplitFile], choice: tok.EncodingChoice) -> None:
    """Fill in per-line token counts of conversation lines (all files share one cache of distinct texts)."""
    counter = tok.counter(choice.name)
    convs: list[list[dict[str, Any]]] = []
    for f in files:
        for line in f.lines:
            msgs = line.get("messages")
            convs.append([m for m in msgs if isinstance(m, dict)] if isinstance(msgs, list) else [])
    counted = tok.count_conversations(convs, counter)
    at = 0
    for f in files:
        n = len(f.lines)
        f.token_totals = counted.totals[at : at + n]
        f.token_trained = counted.trained[at : at + n]
        at += n


def check_context(
    problems: Problems,
    f: SplitFile,
    max_tokens: int | None,
    *,
    where: dict[str, dict[str, Any]] | None = None,
) -> None:
    if not max_tokens:
        return
    for i, n in enumerate(f.token_totals):
        if n > max_tokens:
            kw: dict[str, Any] = (
                {**where[f.name], "line": f.ids[i]}
                if where is not None and f.name in where
                else {"example_id": f.ids[i], "split": f.name}
            )
            problems.add("context-length", f"{n:,} tokens, over the {max_tokens:,}-token limit", **kw)


def build(
    project: Project,
    provider: str | None = None,
    *,
    weight: str = "all",
    max_tokens: int | None = None,
    epochs: int | None = None,
    price_per_1m: float | None = None,
    examples: list[Example] | None = None,
) -> Build:
    """Format every eligible example by its split and validate all of it. Writes nothing."""
    provider = provider or project.provider
    spec = SPECS.get(provider)
    if spec is None:
        raise UsageError(f"unknown provider {provider!r} (known: {', '.join(SPECS)})")
    if weight not in WEIGHT_POLICIES:
        raise UsageError(f"--weight must be one of {', '.join(WEIGHT_POLICIES)}, got {weight!r}")
    if weight == "last" and not spec.carries_weight:
        raise UsageError(f"the {provider} format has no per-message weights, so --weight last cannot apply")
    inputs = freshness.snapshot(project)  # before reading: a change made while we read makes the files stale
    config = project.config
    limit = resolve_max_tokens(spec, config, max_tokens)
    model = project.model if provider == project.provider else tok_default_model(provider, project.model)
    choice = tok.encoding_for(provider, model)
    tok.warm_up(choice.name)  # builds the tokenizer while the examples are read
    threshold = project.threshold
    problems = Problems(provider)
    train = SplitFile("train", project.train_path)
    val = SplitFile("val", project.val_path)
    files = {"train": train, "val": val}
    with gc_paused():  # 100,000 examples: nothing built here forms a cycle
        excluded, unsplit = _fill(project, files, problems, spec, weight, threshold, examples, choice)
    if unsplit:
        problems.add(
            "unsplit",
            f"{len(unsplit)} example(s) rated {threshold}+ have no split yet and are left out; run `ait split`",
        )
    if train.count and not val.count:
        problems.add("no-val", "no validation examples; `ait split` assigns some", split="val")
    check_split_files(problems, train, val, spec, canonical=True)
    check_context(problems, train, limit)
    check_context(problems, val, limit)
    if epochs is None and config.get(EPOCHS_KEY) is not None:
        epochs = _positive_int(config[EPOCHS_KEY], f"`{EPOCHS_KEY}` in .aitelier.json")
        source = f".aitelier.json {EPOCHS_KEY}"
    else:
        source = "--epochs"
    estimate = tok.estimate_training(
        provider,
        model,
        train.token_totals,
        epochs=epochs,
        epochs_source=source,
        config=config,
        price_override=price_per_1m,
        max_tokens=limit,
    )
    return Build(
        provider=provider,
        model=model,
        weight=weight,
        threshold=threshold,
        train=train,
        val=val,
        problems=problems.items,
        encoding=choice,
        max_tokens=limit,
        excluded=excluded,
        unsplit=unsplit,
        estimate=estimate,
        source=inputs,
    )


PARALLEL_MIN_EXAMPLES = 2_000  # below this `ait format` formats, checks and counts in one process

# One share of the examples going into the files, formatted, checked and counted in a worker process: their
# lines as written (None for a line a worker took as written from the index), the problems found ((position in the share, rule, message)), token totals and trained
# tokens, and the objects of the lines that were not taken as written ({position: line}).
_Share = tuple[
    list[bytes | None], list[tuple[int, str, str]], list[int], list[int], dict[int, dict[str, Any]]
]


def _fill(
    project: Project,
    files: dict[str, SplitFile],
    problems: Problems,
    spec: ProviderSpec,
    weight: str,
    threshold: int,
    examples: list[Example] | None,
    choice: tok.EncodingChoice,
) -> tuple[int, list[int]]:
    """Format, check and count every example that goes into a file, in id order; returns (excluded, unsplit).

    The project's examples come from the store's verified index: read as strictly as ``Store.read()`` (a
    malformed examples.jsonl raises DataError listing every problem) but with only the lines that are not in
    canonical form parsed. A canonical example's messages are plain ``{"role", "content"}`` objects written
    exactly as a provider file writes them, so its line is its own bytes and it is checked with
    :func:`check_plain`; any other example is formatted and checked as an object. The examples are shared out
    between forked worker processes (token counting holds the GIL and is most of the time).
    """
    from ..parallel import fork_map, worker_count

    excluded = 0
    unsplit: list[int] = []
    chosen: list[tuple[int, Any]] = []  # (id, index row or record)
    index = project.store.verified_index() if examples is None else None
    if index is not None:
        rows: Any = zip(index.ids, index.ratings, index.splits, range(len(index)), strict=True)
    else:
        rows = ((d["id"], d.get("rating"), d.get("split"), d) for d in (ex.data for ex in examples or ()))
    for ident, rating, split, source in rows:
        if rating is None or rating < threshold:
            if split is not None:
                excluded += 1
        elif split is None:
            unsplit.append(ident)
        else:
            chosen.append((ident, source))
    chosen.sort(key=_first)
    unsplit.sort()
    counter = tok.counter(choice.name)  # built here, before forking (a worker must not wait for a lock)
    me = os.getpid()

    def work(start: int, end: int) -> _Share:
        # a worker does not send back the lines it takes as written: copying them here costs less
        return _format_share(chosen[start:end], index, spec, weight, counter, os.getpid() == me)

    parts = fork_map(work, len(chosen), worker_count(len(chosen), PARALLEL_MIN_EXAMPLES))
    at = 0
    for encoded, found, totals, trained, objects in parts:
        for pos, rule, message in found:
            ident, source = chosen[at + pos]
            split = index.splits[source] if index is not None else source["split"]
            problems.add(rule, message, example_id=ident, split=split)
        for pos, line in enumerate(encoded):
            ident, source = chosen[at + pos]
            f = files[index.splits[source] if index is not None else source["split"]]
            if pos in objects:
                f._known[len(f.encoded)] = objects[pos]
            f.ids.append(ident)
            f.encoded.append(line if line is not None else index.provider_line(source))  # type: ignore[union-attr]
            f.token_totals.append(totals[pos])
            f.token_trained.append(trained[pos])
        at += len(encoded)
    return excluded, unsplit


def _format_share(
    chosen: list[tuple[int, Any]],
    index: ExampleIndex | None,
    spec: ProviderSpec,
    weight: str,
    counter: tok.TokenCounter,
    keep_lines: bool,
) -> _Share:
    encoded: list[bytes | None] = []
    found: list[tuple[int, str, str]] = []
    plain_convs: list[tuple[int, list[str], list[str]]] = []
    object_convs: list[tuple[int, list[dict[str, Any]]]] = []
    objects: dict[int, dict[str, Any]] = {}
    provider = spec.name
    encode = _ENCODER.encode
    for pos, (_ident, source) in enumerate(chosen):
        if index is not None:
            row = source
            plain = None
            if index.is_canonical(row):
                written = index.provider_line(row)
                plain = plain_messages(written)
            if plain is not None and (weight == "all" or plain[0].count("assistant") < 2):
                roles, contents = plain  # format_messages would return them unchanged
                encoded.append(written if keep_lines else None)
                found.extend((pos, rule, message) for rule, message in check_plain(roles, contents, spec))
                plain_convs.append((pos, roles, contents))
                continue
            data = index.load(row).data
        else:
            data = source
        msgs, dropped = format_messages(data["messages"], spec, weight)
        line = format_line(msgs)
        found.extend(
            (pos, "dropped-keys", f"message key `{k}` is not written for {provider}") for k in sorted(dropped)
        )
        found.extend((pos, rule, message) for rule, message in check_conversation(line, spec))
        encoded.append((encode(line) + "\n").encode("utf-8", "surrogatepass"))
        object_convs.append((pos, [m for m in msgs if isinstance(m, dict)]))
        objects[pos] = line
    totals = [0] * len(chosen)
    trained = [0] * len(chosen)
    counted = tok.count_plain_conversations([(r, c) for _, r, c in plain_convs], counter)
    for (pos, _, _), total, tr in zip(plain_convs, counted.totals, counted.trained, strict=True):
        totals[pos], trained[pos] = total, tr
    counted = tok.count_conversations([m for _, m in object_convs], counter)
    for (pos, _), total, tr in zip(object_convs, counted.totals, counted.trained, strict=True):
        totals[pos], trained[pos] = total, tr
    return encoded, found, totals, trained, objects


def _first(item: tuple[int, Any]) -> int:
    return item[0]


def tok_default_model(provider: str, project_model: str) -> str:
    """The model to count and price for when --provider differs from the project's provider."""
    from ..project import DEFAULT_MODELS

    return DEFAULT_MODELS.get(provider, project_model)


@dataclass
class WriteResult:
    written: list[Path]
    removed: list[Path]


def write(project: Project, result: Build) -> WriteResult:
    """Write the built files atomically, or refuse (ValidationFailed, nothing written) if it has errors."""
    if not result.ok:
        where = str(project.examples_path.relative_to(project.root))
        raise ValidationFailed(
            f"{len(result.errors)} problem(s) found; nothing was written",
            [p.as_data_problem(where) for p in result.errors],
            hint="fix the examples (`ait show ID`, `ait edit ID`) and run `ait format` again",
        )
    written: list[Path] = []
    removed: list[Path] = []
    # under the project lock so two concurrent runs cannot leave train from one and val from the other
    with project.store.locked():
        freshness.begin(project)  # a kill from here on leaves the files marked stale
        for f in (result.train, result.val):
            if f.count:
                atomic_write_bytes(f.path, _joined(f.encoded))
                written.append(f.path)
            elif f.path.exists():
                os.unlink(f.path)
                removed.append(f.path)
        freshness.record(project, result.source, provider=result.provider, weight=result.weight)
    return WriteResult(written, removed)


def _joined(lines: list[bytes], size: int = 1 << 20) -> Iterator[bytes]:
    """The lines joined into pieces of about ``size`` bytes: one write each instead of one per line."""
    group: list[bytes] = []
    length = 0
    for line in lines:
        group.append(line)
        length += len(line)
        if length >= size:
            yield b"".join(group)
            group, length = [], 0
    yield b"".join(group)


__all__ = [
    "WEIGHT_POLICIES",
    "Build",
    "SplitFile",
    "WriteResult",
    "build",
    "check_split_files",
    "format_messages",
    "write",
]
