"""Offline token counting and training-cost estimates.

``tiktoken`` downloads its encoding files on first use, which fails without a network. The original
``cl100k_base`` and ``o200k_base`` files ship inside the ``bpe-openai`` wheel, so we build everything from them:

* the counter used for real work is ``bpe-openai``'s Rust tokenizer (``count`` without building token lists:
  about six times faster than ``tiktoken``'s batch encode on the 100k benchmark), checked at start-up against
  known counts of a canary string so a wrong table can never go unnoticed;
* :func:`tiktoken_encoding` builds a genuine ``tiktoken.Encoding`` from the same bundled files after checking
  their SHA-256 against the hash tiktoken itself expects. It is the fallback counter and the reference the
  tests compare the fast counter with.

Counts follow OpenAI's recipe for chat fine-tuning data: 3 tokens per message, 1 more for a ``name``, and 3 for
the reply priming. For open models on Together (or local ones) these are estimates: their own tokenizers differ.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import math
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from .errors import AitelierError, MissingDependency
from .fsutil import atomic_write_bytes
from .pricing import Price, training_price

ENCODINGS = ("cl100k_base", "o200k_base")
# SHA-256 of the uncompressed .tiktoken files, the same values tiktoken_ext.openai_public expects.
ENCODING_SHA256 = {
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}
# A string whose token count differs between the two encodings; its counts come from tiktoken (a test checks).
CANARY = "Tokenizers disagree about naïve café résumés, 12345 emojis 🎉 and \tindentation."
CANARY_COUNTS = {"cl100k_base": 24, "o200k_base": 23}

TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3

# epochs assumed for a provider that declares none (local, until its trainer comes)
FALLBACK_EPOCHS = 3


class TokenizerUnavailable(AitelierError):
    pass


# -- which encoding --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EncodingChoice:
    name: str  # cl100k_base or o200k_base
    exact: bool  # False: an estimate (the model's own tokenizer differs or is unknown)

    @property
    def note(self) -> str:
        if self.exact:
            return f"counted with {self.name}"
        return f"estimated with {self.name}; the model's own tokenizer may count differently"

    def as_dict(self) -> dict[str, Any]:
        """How the counts in a JSON report were made (``encoding``, ``exact``, ``note``)."""
        return {"encoding": self.name, "exact": self.exact, "note": self.note}


def encoding_for(provider: str, model: str) -> EncodingChoice:
    """The encoding that counts ``model``'s tokens, as its provider registered it (and whether it is exact)."""
    from .providers import registry

    name, exact = registry.get(provider).encoding(model)
    return EncodingChoice(name, exact)


# -- the encoding files ------------------------------------------------------------------------------------------
def _bpe_openai_folders() -> list[str]:
    """Where the bpe-openai package lies, found without importing it (its ``__init__`` parses three rank
    tables eagerly, about 1.6 s, which nothing here needs)."""
    import importlib.util

    spec = importlib.util.find_spec("bpe_openai")
    return list(spec.submodule_search_locations or []) if spec is not None else []


def bundled_bpe_file(name: str) -> bytes:
    """The uncompressed .tiktoken file shipped in the bpe-openai wheel, SHA-256 checked."""
    if name not in ENCODING_SHA256:
        raise TokenizerUnavailable(f"unknown encoding {name!r} (known: {', '.join(ENCODINGS)})")
    blob = None
    for folder in _bpe_openai_folders():
        path = os.path.join(folder, "data", f"{name}.tiktoken.gz")
        if os.path.exists(path):
            with open(path, "rb") as f:
                blob = f.read()
            break
    if blob is None:
        raise MissingDependency("bpe-openai", "pip install bpe-openai")
    data = gzip.decompress(blob)
    actual = hashlib.sha256(data).hexdigest()
    if actual != ENCODING_SHA256[name]:
        raise TokenizerUnavailable(
            f"the bundled {name} file has SHA-256 {actual}, expected {ENCODING_SHA256[name]}",
            hint="reinstall bpe-openai",
        )
    return data


def _parse_bpe(data: bytes) -> dict[bytes, int]:
    return {base64.b64decode(tok): int(rank) for tok, rank in (ln.split() for ln in data.splitlines() if ln)}


_PATCH_LOCK = threading.Lock()


@cache
def tiktoken_encoding(name: str) -> Any:
    """A real ``tiktoken.Encoding`` built offline from the bundled file (checked against tiktoken's own hash)."""
    try:
        import tiktoken
        import tiktoken_ext.openai_public as public
    except ModuleNotFoundError as e:
        raise MissingDependency("tiktoken", "pip install tiktoken") from e
    constructor = public.ENCODING_CONSTRUCTORS.get(name)
    if constructor is None:
        raise TokenizerUnavailable(f"tiktoken does not know the encoding {name!r}")

    def load_bundled(_url: str, expected_hash: str | None = None) -> dict[bytes, int]:
        data = bundled_bpe_file(name)
        if expected_hash is not None and hashlib.sha256(data).hexdigest() != expected_hash:
            raise TokenizerUnavailable(f"the bundled {name} file does not match tiktoken's expected hash")
        return _parse_bpe(data)

    # tiktoken's constructor holds the pattern and special tokens; only its file loader (which downloads) is
    # swapped for one that reads the bundled file, so the Encoding is exactly tiktoken's.
    with _PATCH_LOCK:
        original = public.load_tiktoken_bpe
        public.load_tiktoken_bpe = load_bundled
        try:
            params = constructor()
        finally:
            public.load_tiktoken_bpe = original
    return tiktoken.Encoding(**params)


# -- counting --------------------------------------------------------------------------------------------------
class TokenCounter:
    """Counts tokens of plain text (special-token strings are counted as ordinary text)."""

    def __init__(self, name: str, count: Callable[[str], int], backend: str) -> None:
        self.name = name
        self._count = count
        self.backend = backend

    def count(self, text: str) -> int:
        try:
            return self._count(text)
        except UnicodeEncodeError:  # lone surrogates: count what a UTF-8 writer would produce
            return self._count(text.encode("utf-8", "replace").decode("utf-8"))

    def count_many(self, texts: Sequence[str]) -> list[int]:
        """Counts of many texts; a large batch is shared with forked worker processes (one per extra core).

        The Rust counter holds the GIL, so threads would not help; see :mod:`aitelier.parallel`.
        """
        from .parallel import fork_map, worker_count

        count, fast = self.count, self._count

        def share(start: int, end: int) -> list[int]:
            try:  # the counter itself, without a Python call around each text
                return [fast(texts[i]) for i in range(start, end)]
            except UnicodeEncodeError:  # a lone surrogate somewhere: count() knows what to do with it
                return [count(texts[i]) for i in range(start, end)]

        return [
            n
            for part in fork_map(share, len(texts), worker_count(len(texts), PARALLEL_MIN_TEXTS))
            for n in part
        ]


PARALLEL_MIN_TEXTS = 20_000


def _load_bindings() -> Any:
    """bpe-openai's compiled tokenizer module, loaded without running the package's ``__init__``.

    The package's Python side eagerly parses three rank tables when imported (about 1.6 s); the Rust
    extension module needs none of that, so it is loaded straight from its file.
    """
    import importlib.machinery
    import importlib.util
    import sys

    loaded = sys.modules.get("bpe_openai._bindings")
    if loaded is not None:
        return loaded
    for folder in _bpe_openai_folders():
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = os.path.join(folder, "_bindings" + suffix)
            if os.path.exists(path):
                loader = importlib.machinery.ExtensionFileLoader("bpe_openai._bindings", path)
                mod_spec = importlib.util.spec_from_file_location("bpe_openai._bindings", path, loader=loader)
                if mod_spec is None:
                    return None
                module = importlib.util.module_from_spec(mod_spec)
                loader.exec_module(module)
                return module
    return None


_BUILT: dict[str, Any] = {}
_BUILD_LOCK = threading.Lock()


def _built(name: str) -> Any:
    """bpe-openai's tokenizer for ``name``, built once (None where it cannot be) and not used: the first thread
    that counts with it gets its pattern's fast path (the regex crate's pool owner) and any other counts 18%
    slower, so :func:`counter`, not :func:`warm_up`'s thread, is the first to use it."""
    with _BUILD_LOCK:
        if name not in _BUILT:
            try:
                bindings = _load_bindings()
                _BUILT[name] = None if bindings is None else bindings.tokenizer_for_encoding(name)
            except Exception:  # any failure of the optional fast path falls back to tiktoken
                _BUILT[name] = None
        return _BUILT[name]


_COUNTERS: dict[str, TokenCounter] = {}
_COUNTER_LOCK = threading.Lock()


def counter(name: str) -> TokenCounter:
    """The token counter for an encoding (built once per process; thread-safe)."""
    with _COUNTER_LOCK:
        found = _COUNTERS.get(name)
        if found is not None:
            return found
        tok = _built(name)
        try:  # the canary, counted here: this thread is the first to use it (see _built)
            fast = tok is not None and tok.count(CANARY) == CANARY_COUNTS[name]
        except Exception:  # any failure of the optional fast path falls back to tiktoken
            fast = False
        if fast:
            made = TokenCounter(name, tok.count, "bpe-openai")
        else:
            enc = tiktoken_encoding(name)
            made = TokenCounter(name, lambda t: len(enc.encode_ordinary(t)), "tiktoken")
        _COUNTERS[name] = made
        return made


def warm_up(name: str) -> None:
    """Start building the tokenizer in a background thread so that it is ready once the examples are read (its
    construction releases the GIL, so this overlaps with parsing); see :func:`_built` for why it only builds."""
    if name in _BUILT or _BUILD_LOCK.locked():
        return
    threading.Thread(target=_built, args=(name,), daemon=True, name=f"aitelier-tokens-{name}").start()


# -- per-example counts ------------------------------------------------------------------------------------------
@dataclass
class ConversationTokens:
    totals: list[int]  # every token of each example, with OpenAI's per-message overhead
    trained: list[int]  # assistant content tokens that are trained on (weight absent or 1)


def count_conversations(
    conversations: Sequence[Sequence[Mapping[str, Any]]], tc: TokenCounter
) -> ConversationTokens:
    """Token counts per conversation (see :func:`conversation_tokens`); where worker processes can help, the
    contents are first tokenised together, shared out between them."""
    from .parallel import worker_count

    counts: dict[str, int] = {}
    if worker_count(PARALLEL_MIN_TEXTS, PARALLEL_MIN_TEXTS) > 1:
        # only strings: anything else (a list as content, say) is a validation error and counts nothing
        texts = list({c for msgs in conversations for m in msgs if (c := m.get("content")).__class__ is str})
        counts.update(zip(texts, tc.count_many(texts), strict=True))
    totals: list[int] = []
    trained: list[int] = []
    for msgs in conversations:
        total, tr = conversation_tokens(msgs, counts, tc.count)
        totals.append(total)
        trained.append(tr)
    return ConversationTokens(totals, trained)


def conversation_tokens(
    msgs: Sequence[Mapping[str, Any]], counts: dict[str, int], count: Callable[[str], int]
) -> tuple[int, int]:
    """One conversation's tokens, every one and those trained on: each string's count taken from ``counts``,
    or counted with ``count`` and kept there (a cache: the caller may empty it whenever it likes)."""
    known = counts.get
    total = REPLY_PRIMING
    trained = 0
    for m in msgs:
        c = m.get("content")
        if c.__class__ is str:
            ct = known(c)
            if ct is None:
                ct = counts[c] = count(c)
        else:
            ct = 0
        r = m.get("role")
        if r.__class__ is str:
            rt = known(r)
            if rt is None:
                rt = counts[r] = count(r)
        else:
            rt = 0
        total += TOKENS_PER_MESSAGE + ct + rt
        if len(m) > 2:
            n = m.get("name")
            if n.__class__ is str:
                nt = known(n)
                if nt is None:
                    nt = counts[n] = count(n)
                total += TOKENS_PER_NAME + nt
            if r == "assistant" and m.get("weight", 1) != 0:
                trained += ct
        elif r == "assistant":
            trained += ct
    return total, trained


TOKEN_CACHE = ".tokens.cache"


class TokenCache:
    """Token counts of provider lines counted before, keyed by a digest of the line (its messages) and the
    encoding, in ``data/.tokens.cache``: derived data, safe to delete. A missing, corrupt or foreign cache is
    an empty one (everything is counted again); it never changes a count, only how long it takes."""

    VERSION = 1

    def __init__(self, data_dir: str | os.PathLike[str], encoding: str) -> None:
        self.path = os.path.join(data_dir, TOKEN_CACHE)
        self.encoding = encoding
        self.known: dict[bytes, tuple[int, int]] = {}
        # counted in this run (keys, totals, trained): kept in lists until saved, not put into `known`, which
        # costs more than the rest of saving (0.02 s for 52,000 lines); get() answers from what was saved before
        self._new: tuple[list[bytes], list[int], list[int]] = ([], [], [])
        self.added = 0
        try:
            import msgspec

            with open(self.path, "rb") as f:
                saved = msgspec.msgpack.decode(f.read())
            if saved["version"] == self.VERSION and saved["encoding"] == encoding:
                keys, totals, trained = saved["keys"], saved["totals"], saved["trained"]
                n = len(totals)
                if len(keys) == 16 * n == 16 * len(trained):
                    self.known = {keys[16 * i : 16 * i + 16]: (totals[i], trained[i]) for i in range(n)}
        except Exception:  # missing or unreadable: count again
            self.known = {}

    @staticmethod
    def key(line: bytes | bytearray | memoryview) -> bytes:
        """What a provider line's counts are saved under (computed once per line, in the worker that formats
        it, and used both to look it up and to add it)."""
        return hashlib.sha256(line).digest()[:16]

    def get(self, key: bytes) -> tuple[int, int] | None:
        """The counts saved for ``key`` before (those added since are not looked up)."""
        return self.known.get(key) if self.known else None

    def add(self, keys: Sequence[bytes], totals: Sequence[int], trained: Sequence[int]) -> None:
        """The counts of lines just counted, by their keys (written by :meth:`save`)."""
        self._new[0].extend(keys)
        self._new[1].extend(totals)
        self._new[2].extend(trained)
        self.added += len(keys)

    def save(self) -> None:
        """Best effort (atomic); only when something was added."""
        if not self.added:
            return
        import msgspec

        old = self.known.values()
        data = msgspec.msgpack.encode(
            {
                "version": self.VERSION,
                "encoding": self.encoding,
                "keys": b"".join([*self.known, *self._new[0]]),
                "totals": [t for t, _ in old] + self._new[1],
                "trained": [t for _, t in old] + self._new[2],
            }
        )
        with contextlib.suppress(OSError):
            atomic_write_bytes(Path(self.path), data)


@dataclass(frozen=True)
class TokenStats:
    examples: int
    total: int
    min: int
    median: float
    p90: int
    max: int
    trained: int  # assistant tokens trained on, summed

    @classmethod
    def of(cls, totals: Sequence[int], trained: Sequence[int]) -> TokenStats:
        if not totals:
            return cls(0, 0, 0, 0, 0, 0, 0)
        s = sorted(totals)
        n = len(s)
        median: float = s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2
        if median == int(median):
            median = int(median)
        p90 = s[max(0, math.ceil(0.9 * n) - 1)]  # nearest rank
        return cls(n, sum(s), s[0], median, p90, s[-1], sum(trained))

    def as_dict(self) -> dict[str, Any]:
        return {
            "examples": self.examples,
            "total": self.total,
            "min": self.min,
            "median": self.median,
            "p90": self.p90,
            "max": self.max,
            "trainedAssistant": self.trained,
        }


# -- epochs and cost ---------------------------------------------------------------------------------------------
def default_epochs(provider: str) -> int:
    """The epochs `ait train` sends when neither --epochs nor `epochs` in the config says (the provider's
    declared default: one figure for format's estimate, train's request and its price)."""
    from .providers import registry

    value = registry.get(provider).default("epochs")
    return int(value) if value is not None else FALLBACK_EPOCHS


@dataclass(frozen=True)
class TrainingEstimate:
    provider: str
    model: str
    epochs: int
    epochs_source: str  # "--epochs", ".aitelier.json epochs", or the provider default
    tokens_per_epoch: int  # billed tokens per epoch (OpenAI caps each example at its context)
    training_tokens: int  # tokens_per_epoch * epochs
    price: Price | None = None
    usd: float | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "model": self.model,
            "epochs": self.epochs,
            "epochsSource": self.epochs_source,
            "tokensPerEpoch": self.tokens_per_epoch,
            "trainingTokens": self.training_tokens,
            "pricePer1M": None if self.price is None else self.price.per_1m,
            "priceSource": None if self.price is None else self.price.source,
            "usd": None if self.usd is None else round(self.usd, 4),
            "notes": list(self.notes),
        }


def estimate_training(
    provider: str,
    model: str,
    totals: Sequence[int],
    *,
    epochs: int | None = None,
    epochs_source: str = "--epochs",
    config: Mapping[str, Any] | None = None,
    price_override: float | None = None,
    max_tokens: int | None = None,
) -> TrainingEstimate:
    """Training tokens for the planned epochs and, for OpenAI, a cost from the dated price table.

    OpenAI bills every token of each example (capped at the context length) once per epoch, not only the
    assistant tokens; that is what its cookbook estimate does, and what this does.
    """
    from .providers import registry

    info = registry.get(provider)
    if epochs is None:
        epochs = default_epochs(provider)
        epochs_source = "`ait train` default"
    cap = max_tokens if max_tokens else info.spec.max_tokens
    per_epoch = sum(min(t, cap) for t in totals) if cap else sum(totals)
    training_tokens = per_epoch * epochs
    notes: list[str] = []
    price: Price | None = None
    usd: float | None = None
    if price_override is not None or info.pricing == "table":
        price = training_price(model, config=config, override=price_override)
        if price is None:
            notes.append(
                f"no training price known for {model}; pass --price-per-1m or add `pricing` to the config"
            )
        else:
            usd = training_tokens * price.per_1m / 1_000_000
    if info.pricing == "provider":
        notes.append(
            f"{info.title}'s exact price comes from its estimate-price endpoint when `ait train` starts"
        )
    elif info.pricing == "free":
        notes.append("local training costs no money, only time")
    return TrainingEstimate(
        provider, model, epochs, epochs_source, per_epoch, training_tokens, price, usd, notes
    )


__all__ = [
    "ENCODINGS",
    "ConversationTokens",
    "EncodingChoice",
    "TokenCounter",
    "TokenStats",
    "TrainingEstimate",
    "conversation_tokens",
    "count_conversations",
    "TokenCache",
    "counter",
    "default_epochs",
    "encoding_for",
    "estimate_training",
    "tiktoken_encoding",
]
