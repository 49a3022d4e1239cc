"""Build the provider files from a project: format in memory, validate everything, then write (or not).

``build()`` never writes: it returns every line it would write, every problem (each with its example id) and
the token counts. ``write()`` refuses a build with errors, so nothing broken reaches a paid job; otherwise it
replaces ``data/train.jsonl`` and ``data/val.jsonl`` atomically and removes a file whose split became empty.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import msgspec

from .. import freshness
from .. import tokens as tok
from ..errors import ConfigError, UsageError, ValidationFailed
from ..fsutil import atomic_write_bytes, atomic_write_files
from ..parallel import fork_map, gc_paused, worker_count
from ..store import Snapshot
from ..store.schema import ExampleHead, ExampleLine, Message
from .checks import check_conversation, line_messages
from .rules import FEW_EXAMPLES, Problem, Problems, ProblemSummary, ProviderSpec, spec_for

if TYPE_CHECKING:
    from ..project import Project

WEIGHT_POLICIES = ("all", "last")
_ENCODER = msgspec.json.Encoder()  # the compact form of JavaScript's JSON.stringify
ENCODE, _ENCODE_INTO = _ENCODER.encode, _ENCODER.encode_into
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


@dataclass
class SplitFile:
    name: str  # train or val
    path: Path
    ids: list[int] = field(default_factory=list)
    _encoded: list[bytes | memoryview] | None = field(default_factory=list, repr=False)
    # each line's prompt (see prompt_key); left empty where no other file is checked against this one
    prompts: list[int | None] = field(default_factory=list)
    _keys: list[bytes] = field(default_factory=list, repr=False)
    token_totals: list[int] = field(default_factory=list)
    token_trained: list[int] = field(default_factory=list)

    @property
    def encoded(self) -> list[bytes | memoryview]:
        """Each line serialised, newline included (read from the file it was written to, for a build that
        found the files already current: see :func:`build`). A line may be a view of a buffer many lines share."""
        if self._encoded is None:
            data = self.path.read_bytes() if self.count else b""
            self._encoded = [line + b"\n" for line in data.split(b"\n")[:-1]]
        return self._encoded

    @property
    def lines(self) -> list[dict[str, Any]]:
        """The lines as objects, decoded from ``encoded``."""
        return [msgspec.json.decode(e) for e in self.encoded]

    @property
    def keys(self) -> list[bytes]:
        """Each line's :meth:`TokenCache.key <aitelier.tokens.TokenCache.key>` (computed here unless the builder
        filled them in): what the duplicate checks compare (128 bits of SHA-256: equal digests, equal lines)."""
        if len(self._keys) != len(self.encoded):
            self._keys = [tok.TokenCache.key(e) for e in self.encoded]
        return self._keys

    @property
    def count(self) -> int:
        return len(self.ids)

    def stats(self) -> tok.TokenStats:
        return tok.TokenStats.of(self.token_totals, self.token_trained)


def prompt_key(messages: Any) -> int | None:
    """What makes two lines ask the same thing: every (role, content) before the last assistant message, as a
    hash (compared within one run only: forked workers share the parent's hash seed); None when there is no
    such prompt or a message is malformed (already an error)."""
    if not isinstance(messages, list):
        return None
    last = -1
    for n, m in enumerate(messages):
        if isinstance(m, dict) and m.get("role") == "assistant":
            last = n
    if last <= 0:
        return None
    pairs = []
    for m in messages[:last]:
        role, content = (m.get("role"), m.get("content")) if isinstance(m, dict) else (None, None)
        if not isinstance(role, str) or not isinstance(content, str):
            return None
        pairs.append(role)
        pairs.append(content)
    return hash(tuple(pairs))


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
    memo: dict[str, Any] = field(default_factory=dict, repr=False)  # see _memo_key
    reused: bool = False  # the files were already what this build would write (nothing changed since)
    counted: int = 0  # lines whose tokens were counted (the others came from data/.tokens.cache)
    method: str = "sft"  # or "dpo": preference pairs (data/train.dpo.jsonl), see aitelier.formats.dpo
    pairs: Any = None  # dpo: the aitelier.pairs.PairSet the lines came from
    # the examples read (None: the build reused the files): held so that `ait` can let them go with the process
    # (see Env.keep) instead of one by one when the build's work is done
    examples: Snapshot | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "method": self.method,
            **(
                {"pairs": self.pairs.counts(), "minGap": self.pairs.min_gap} if self.pairs is not None else {}
            ),
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
                **self.encoding.as_dict(),
                "maxTokens": self.max_tokens,
                "train": self.train.stats().as_dict(),
                "val": self.val.stats().as_dict(),
            },
            "estimate": None if self.estimate is None else self.estimate.as_dict(),
            "errors": [p.as_dict() for p in self.errors],
            "warnings": [p.as_dict() for p in self.warnings],
        }


def positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{what} must be a positive integer, got {value!r}")
    return value


@dataclass(frozen=True)
class Target:
    """What a format run is for, settled before the examples are read (SFT and DPO alike): the provider, its
    file format, the inputs' snapshot for the staleness check, the token limit, the model, its encoding, and
    the epochs the estimate plans for (with where that number came from)."""

    provider: str
    spec: ProviderSpec
    inputs: dict[str, Any]
    config: dict[str, Any]
    limit: int | None
    model: str
    choice: tok.EncodingChoice
    epochs: int | None
    epochs_source: str

    def estimate(self, train: SplitFile, price_per_1m: float | None) -> tok.TrainingEstimate:
        return tok.estimate_training(
            self.provider,
            self.model,
            train.token_totals,
            epochs=self.epochs,
            epochs_source=self.epochs_source,
            config=self.config,
            price_override=price_per_1m,
            max_tokens=self.limit,
        )


def target(project: Project, provider: str, max_tokens: int | None, epochs: int | None) -> Target:
    from ..providers import registry

    spec = spec_for(provider)
    inputs = freshness.snapshot(project)  # before reading: a change made while we read makes the files stale
    config = project.config
    limit = spec.max_tokens
    if max_tokens is not None:
        limit = positive_int(max_tokens, "--max-tokens")
    elif config.get(MAX_TOKENS_KEY) is not None:
        limit = positive_int(config[MAX_TOKENS_KEY], f"`{MAX_TOKENS_KEY}` in .aitelier.json")
    default = registry.get(provider).default_model  # what another provider than the project's counts for
    model = project.model if provider == project.provider else default or project.model
    if epochs is None and config.get(EPOCHS_KEY) is not None:
        epochs = positive_int(config[EPOCHS_KEY], f"`{EPOCHS_KEY}` in .aitelier.json")
        source = f".aitelier.json {EPOCHS_KEY}"
    else:
        source = "--epochs"
    return Target(
        provider, spec, inputs, config, limit, model, tok.encoding_for(provider, model), epochs, source
    )


def check_split_files(
    problems: Problems,
    train: SplitFile,
    val: SplitFile,
    spec: ProviderSpec,
    *,
    where: dict[str, dict[str, Any]] | None = None,
) -> None:
    """The data-set rules: minimum counts, duplicates within a file, leakage between train and val.

    ``where`` maps a split name to the keyword arguments that address one of its lines (by example id or by
    path and line); without it problems are addressed by example id.
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
    for i, digest in enumerate(train.keys):
        first = train_seen.setdefault(digest, i)
        if first != i:
            problems.add("duplicate", f"same conversation as {_ref(train, first, where)}", **loc(train, i))
    val_seen: dict[bytes, int] = {}
    for i, digest in enumerate(val.keys):
        first = val_seen.setdefault(digest, i)
        if first != i:
            problems.add("duplicate", f"same conversation as {_ref(val, first, where)}", **loc(val, i))
            continue
        j = train_seen.get(digest)
        if j is not None:
            problems.add(
                "leakage", f"the same conversation is in train ({_ref(train, j, where)})", **loc(val, i)
            )
    # the same prompt (everything before the last assistant message) with a different answer
    if val.count and train.count:
        train_prompts: dict[int, int] = {}
        for i, key in enumerate(train.prompts):
            if key is not None:
                train_prompts.setdefault(key, i)
        for i, key in enumerate(val.prompts):
            j = train_prompts.get(key) if key is not None else None
            if j is not None and val.keys[i] not in train_seen:
                problems.add(
                    "prompt-leakage",
                    f"the same prompt is in train ({_ref(train, j, where)}) with a different answer",
                    **loc(val, i),
                )


def _ref(f: SplitFile, i: int, where: dict[str, dict[str, Any]] | None) -> str:
    if where is not None and f.name in where:
        return f"line {f.ids[i]}"
    return f"example {f.ids[i]}"


def count_tokens(
    files: Sequence[SplitFile], choice: tok.EncodingChoice, cache: tok.TokenCache | None = None
) -> None:
    """Fill in per-line token counts of conversation lines: from ``cache`` for a line counted before (a file
    `ait format` wrote, say), the others counted together (each distinct text once) and added to it."""
    todo: list[tuple[SplitFile, int, bytes]] = []
    convs: list[list[dict[str, Any]]] = []
    for f in files:
        f.token_totals = [0] * f.count
        f.token_trained = [0] * f.count
        for i, (enc, key) in enumerate(zip(f.encoded, f.keys, strict=True)):
            known = cache.get(key) if cache is not None else None
            if known is not None:
                f.token_totals[i], f.token_trained[i] = known
                continue
            # a conversation, or a preference line's input and outputs
            msgs = line_messages(msgspec.json.decode(enc))
            convs.append([m for m in msgs if isinstance(m, dict)])
            todo.append((f, i, key))
    if not convs:
        return
    counted = tok.count_conversations(convs, tok.counter(choice.name))
    for (f, i, _key), total, trained in zip(todo, counted.totals, counted.trained, strict=True):
        f.token_totals[i], f.token_trained[i] = total, trained
    if cache is not None:
        cache.add([key for _, _, key in todo], counted.totals, counted.trained)
        cache.save()


def check_context(
    problems: Problems,
    f: SplitFile,
    max_tokens: int | None,
    *,
    where: dict[str, dict[str, Any]] | None = None,
) -> None:
    if not max_tokens:
        return
    spec = spec_for(problems.provider)
    cut = f"; {spec.name} truncates it to the limit, so its end is not trained" if spec.truncates else ""
    for i, n in enumerate(f.token_totals):
        if n > max_tokens:
            kw: dict[str, Any] = (
                {**where[f.name], "line": f.ids[i]}
                if where is not None and f.name in where
                else {"example_id": f.ids[i], "split": f.name}
            )
            problems.add("context-length", f"{n:,} tokens, over the {max_tokens:,}-token limit{cut}", **kw)


def build(
    project: Project,
    provider: str | None = None,
    *,
    weight: str = "all",
    max_tokens: int | None = None,
    epochs: int | None = None,
    price_per_1m: float | None = None,
) -> Build:
    """Format every eligible example by its split and validate all of it. Writes nothing."""
    if weight not in WEIGHT_POLICIES:
        raise UsageError(f"--weight must be one of {', '.join(WEIGHT_POLICIES)}, got {weight!r}")
    t = target(project, provider or project.provider, max_tokens, epochs)
    provider, spec, limit, model, choice = t.provider, t.spec, t.limit, t.model, t.choice
    if weight == "last" and not spec.carries_weight:
        raise UsageError(f"the {provider} format has no per-message weights, so --weight last cannot apply")
    threshold = project.threshold
    memo = _memo_key(project, spec, weight, limit, model, choice, threshold)  # before reading, like `inputs`
    known = _memo_load(project, memo)
    counted = 0
    examples = None
    if known is not None:  # nothing changed since the files were written: reuse what that run found
        train, val, excluded, unsplit, found = known
    else:
        tok.warm_up(choice.name)  # builds the tokenizer while the examples are read
        problems = Problems(provider)
        train = SplitFile("train", project.train_path)
        val = SplitFile("val", project.val_path)
        files = {"train": train, "val": val}
        with gc_paused():  # 100,000 examples: nothing built here forms a cycle
            excluded, unsplit, counted, examples = _fill(
                project, files, problems, spec, weight, threshold, choice
            )
        if unsplit:
            problems.add(
                "unsplit",
                f"{len(unsplit)} example(s) rated {threshold}+ have no split yet and are left out; run `ait split`",
            )
        if train.count and not val.count:
            problems.add("no-val", "no validation examples; `ait split` assigns some", split="val")
        check_split_files(problems, train, val, spec)
        check_context(problems, train, limit)
        check_context(problems, val, limit)
        found = problems.items
    estimate = t.estimate(train, price_per_1m)
    return Build(
        provider=provider,
        model=model,
        weight=weight,
        threshold=threshold,
        train=train,
        val=val,
        problems=found,
        encoding=choice,
        max_tokens=limit,
        excluded=excluded,
        unsplit=unsplit,
        estimate=estimate,
        source=t.inputs,
        memo=memo,
        reused=known is not None,
        counted=counted,
        examples=examples,
    )


PARALLEL_MIN_EXAMPLES = 2_000  # below this `ait format` formats, checks and counts in one process

# One share of the examples going into the files, formatted, checked and counted in a worker process: per split
# the lines as written, one after another in one buffer (sent back from a worker without a copy into the pickle),
# and the ids, where each line ends in the buffer, their keys (SplitFile.keys), prompt keys, token totals and
# trained tokens; the problems found (id, split, rule, message); and the lines whose tokens it counted (keys,
# totals, trained).
_Columns = tuple[list[Any], ...]  # ids, ends, keys, prompts, token_totals, token_trained
_Share = tuple[
    dict[str, tuple[Any, _Columns]],
    list[tuple[int, str | None, str, str]],
    tuple[list[bytes], list[int], list[int]],
]


def _fill(
    project: Project,
    files: dict[str, SplitFile],
    problems: Problems,
    spec: ProviderSpec,
    weight: str,
    threshold: int,
    choice: tok.EncodingChoice,
) -> tuple[int, list[int], int, Snapshot]:
    """Format, check and count every example that goes into a file, in id order; returns (excluded, unsplit,
    how many lines had their tokens counted, the examples read).

    The examples are read as strictly as every command reads them (a malformed examples.jsonl raises
    DataError listing every problem) and shared out between forked worker processes. Token counts come from the
    cache (``data/.tokens.cache``) where the line was counted before.
    """
    snap = project.store.read()
    excluded = 0
    unsplit: list[int] = []
    chosen: list[tuple[int, int, str]] = []  # (id, row, split)
    for row, head in enumerate(snap.heads):
        rating, split = head.rating, head.split
        if rating is None or rating < threshold:
            if split is not None:
                excluded += 1
        elif split is None:
            unsplit.append(head.id)
        else:
            chosen.append((head.id, row, split))
    chosen.sort()
    unsplit.sort()
    counter = tok.counter(choice.name)  # built here, before forking (a worker must not wait for a lock)
    cache = tok.TokenCache(project.data_dir, choice.name)
    if chosen:  # the bytes read here, once (rows taken from the read cache come without them), not per worker
        _ = snap.data

    def work(start: int, end: int) -> _Share:
        return _format_share(snap, chosen[start:end], spec, weight, counter, cache)

    for columns, found, counted in fork_map(
        work, len(chosen), worker_count(len(chosen), PARALLEL_MIN_EXAMPLES)
    ):
        for ident, split, rule, message in found:
            problems.add(rule, message, example_id=ident, split=split)
        for name, (blob, column) in columns.items():
            f = files[name]
            view, ends = memoryview(blob), column[1]
            f.encoded.extend(map(view.__getitem__, map(slice, [0, *ends], ends)))
            lists: list[list[Any]] = [f.ids, f._keys, f.prompts, f.token_totals, f.token_trained]
            for have, more in zip(lists, [column[0], *column[2:]], strict=True):
                have += more  # each list extended in place
        cache.add(*counted)
    snap.verify()  # the mapped lines did not change while they were formatted
    cache.save()
    return excluded, unsplit, cache.added, snap


class _PlainMessage(Message, forbid_unknown_fields=True):  # only its role and content
    pass


def _plain_body() -> Any:
    """The common case of a line's fields other than the light view's (which the read that found the row
    has validated already): every one as in ExampleLine, with messages that are _PlainMessage."""
    head = {f.name for f in msgspec.structs.fields(ExampleHead)}
    fields: list[tuple[Any, ...]] = []
    for f in msgspec.structs.fields(ExampleLine):
        if f.name == "messages":
            fields.append((f.name, Annotated[list[_PlainMessage], msgspec.Meta(min_length=1)]))
        elif f.name not in head:
            fields.append((f.name, f.type) if f.required else (f.name, f.type, f.default))
    return msgspec.defstruct("_PlainBody", fields, kw_only=True, gc=False)


_PLAIN_BODY = msgspec.json.Decoder(_plain_body())


# A share keeps the counts of this many strings, then starts again: a string repeated nearby (the system
# prompt, a prompt rated with several replies) is still tokenised once, and the strings of the lines done are
# let go, so the next lines' strings reuse their memory while it is in the processor's cache instead of
# landing in fresh pages (one process, 50,000 lines: about 0.2 s of 2.1 s less than keeping them all).
TEXTS_KEPT = 1024


def _format_share(
    snap: Snapshot,
    chosen: list[tuple[int, int, str]],
    spec: ProviderSpec,
    weight: str,
    counter: tok.TokenCounter,
    cache: tok.TokenCache,
) -> _Share:
    columns: dict[str, _Columns] = {name: ([], [], [], [], [], []) for name in ("train", "val")}
    blobs = {name: bytearray() for name in columns}
    scratch = bytearray()  # one line at a time
    found: list[tuple[int, str | None, str, str]] = []
    provider = spec.name
    counted: tuple[list[bytes], list[int], list[int]] = ([], [], [])
    key_of, known_counts, changes, record = cache.key, cache.get, snap.changes, snap.record
    plain, to_builtins, encode_into = _PLAIN_BODY.decode, msgspec.to_builtins, _ENCODE_INTO
    data, starts, ends = memoryview(snap.data if chosen else b""), snap.starts, snap.ends
    as_is = weight == "all"  # what plain messages are written as under this policy (see format_messages)
    texts: dict[str, int] = {}  # the token counts of the strings met lately (at most TEXTS_KEPT)
    count, conversation_tokens = counter.count, tok.conversation_tokens
    for ident, row, split in chosen:
        msgs = None
        if ident not in changes:  # a pending journal change is in the full record only
            # straight from the line (no record built or kept) when its messages hold only role and content:
            # the fields the read did not check, checked by the same schema; else (a ValidationError is a
            # DecodeError too) the full record, which says what is wrong with its path:line if it does not pass
            try:  # noqa: SIM105 - contextlib.suppress would cost a Python call in and one out, per line
                msgs = to_builtins(plain(data[starts[row] : ends[row]]).messages)
            except msgspec.DecodeError:
                pass
        if msgs is None or not as_is:
            msgs, dropped = format_messages(record(row)["messages"] if msgs is None else msgs, spec, weight)
            if dropped:
                found.extend(
                    (ident, split, "dropped-keys", f"message key `{k}` is not written for {provider}")
                    for k in sorted(dropped)
                )
        line = {"messages": msgs}  # every provider aitelier writes for takes exactly this
        errors = check_conversation(line, spec)
        if errors:
            found.extend((ident, split, rule, message) for rule, message in errors)
        # encoded on its own, then added to its file's buffer, not encoded at the end of that large buffer and
        # hashed there: a share of 25,000 lines done in one process takes 15% less CPU (forked workers gain less)
        encode_into(line, scratch, 0)
        scratch.append(10)  # the newline
        key = key_of(scratch)
        blob = blobs[split]
        blob += scratch
        tokens = known_counts(key)
        if tokens is None:  # counted now, while the line is at hand (in the processor's cache)
            if len(texts) > TEXTS_KEPT:
                texts.clear()
            tokens = conversation_tokens(msgs, texts, count)
            counted[0].append(key)
            counted[1].append(tokens[0])
            counted[2].append(tokens[1])
        col = columns[split]
        col[0].append(ident)
        col[1].append(len(blob))
        col[2].append(key)
        col[3].append(prompt_key(msgs))
        col[4].append(tokens[0])
        col[5].append(tokens[1])
    from pickle import PickleBuffer  # here: not every command that imports this module forks

    return {name: (PickleBuffer(blobs[name]), col) for name, col in columns.items()}, found, counted


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
        if result.reused and _memo_key_now(project, result.memo) == result.memo:
            # nothing changed since these files were written from the same inputs: they are the result
            return WriteResult([f.path for f in (result.train, result.val) if f.count], [])
        freshness.begin(project, result.method)  # a kill from here on leaves the files marked stale
        # both at once, one writev(2) per 1,024 lines each, no copy
        atomic_write_files([(f.path, f.encoded) for f in (result.train, result.val) if f.count])
        for f in (result.train, result.val):
            if f.count:
                written.append(f.path)
            elif f.path.exists():
                os.unlink(f.path)
                removed.append(f.path)
        freshness.record(
            project, result.source, provider=result.provider, weight=result.weight, method=result.method
        )
        if result.method == "sft":
            _memo_save(project, result)
    return WriteResult(written, removed)


# -- the memo: a second `ait format` with nothing changed reads no example and counts no token ------------------------
MEMO = ".format.memo"


def _file_key(path: Path) -> list[int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _memo_key(
    project: Project,
    spec: ProviderSpec,
    weight: str,
    limit: int | None,
    model: str,
    choice: tok.EncodingChoice,
    threshold: int,
) -> dict[str, Any]:
    """Everything a build's result depends on: the settings, the rules, and the identity (device, inode, size,
    times in ns) of examples.jsonl, the journal and the files written last time. Any change to any of them,
    by any program, makes it differ."""
    from .. import __version__
    from ..providers import registry
    from .rules import RULES

    severity = registry.get(spec.name).severity
    rules = sorted((name, severity(name)) for name in RULES)
    return {
        "version": __version__,
        "spec": [spec.name, sorted(spec.line_keys), sorted(spec.message_keys), sorted(spec.roles)]
        + [spec.min_examples, spec.max_tokens, list(spec.file_formats)],
        "rules": rules,
        "weight": weight,
        "limit": limit,
        "model": model,
        "encoding": [choice.name, choice.exact],
        "threshold": threshold,
        **_memo_key_now(project, {}),
    }


def _memo_key_now(project: Project, key: dict[str, Any]) -> dict[str, Any]:
    """``key`` with the files' identities as they are now."""
    files = {
        name: _file_key(path)
        for name, path in (
            ("examples", project.examples_path),
            ("journal", project.store.journal_path),
            ("train", project.train_path),
            ("val", project.val_path),
        )
    }
    return {**key, "files": files}


def _memo_load(
    project: Project, key: dict[str, Any]
) -> tuple[SplitFile, SplitFile, int, list[int], list[Problem]] | None:
    try:
        saved = msgspec.msgpack.decode((project.data_dir / MEMO).read_bytes())
        if saved["key"] != msgspec.msgpack.decode(msgspec.msgpack.encode(key)):
            return None
        splits = []
        for name, path in (("train", project.train_path), ("val", project.val_path)):
            part = saved[name]
            f = SplitFile(name, path, list(part["ids"]), None)
            f.token_totals, f.token_trained = list(part["totals"]), list(part["trained"])
            splits.append(f)
        found = [Problem(*p) for p in saved["problems"]]
        return splits[0], splits[1], int(saved["excluded"]), list(saved["unsplit"]), found
    except Exception:  # missing, unreadable or from another version: build
        return None


def _memo_save(project: Project, result: Build) -> None:
    """Best effort (a temp file renamed over the old one): a memo that is not written only costs a build."""
    # the inputs as they were read (a change since then must not be taken for this build's), the outputs as now
    written = _memo_key_now(project, {})["files"]
    key = {**result.memo, "files": {**result.memo["files"], "train": written["train"], "val": written["val"]}}
    data = msgspec.msgpack.encode(
        {
            "key": key,
            **{
                f.name: {"ids": f.ids, "totals": f.token_totals, "trained": f.token_trained}
                for f in (result.train, result.val)
            },
            "problems": [
                [p.rule, p.severity, p.message, p.example_id, p.path, p.line, p.split]
                for p in result.problems
            ],
            "excluded": result.excluded,
            "unsplit": result.unsplit,
        }
    )
    with contextlib.suppress(OSError):  # best effort: the next run formats again without it
        atomic_write_bytes(project.data_dir / MEMO, data)


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
