"""Offline token counting (fast counter == tiktoken built from the bundled files) and the cost estimate."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aitelier import pricing, tokens
from aitelier.errors import ConfigError


@pytest.fixture(scope="module")
def encodings():
    return {name: tokens.tiktoken_encoding(name) for name in tokens.ENCODINGS}


def test_tiktoken_encoding_is_built_without_a_network(monkeypatch) -> None:
    def no_network(*args, **kwargs):
        raise AssertionError("tried to open a socket")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    tokens.tiktoken_encoding.cache_clear()
    enc = tokens.tiktoken_encoding("cl100k_base")
    assert enc.encode_ordinary("hello world") == [15339, 1917]  # the well-known cl100k ids
    assert tokens.tiktoken_encoding("o200k_base").n_vocab > 199_000


def test_the_bundled_files_have_tiktokens_expected_hashes() -> None:
    import tiktoken_ext.openai_public as public

    seen = {}

    def capture(url, expected_hash=None):
        seen[url.rsplit("/", 1)[-1].split(".")[0]] = expected_hash
        return {b"a": 0}

    original = public.load_tiktoken_bpe
    public.load_tiktoken_bpe = capture
    try:
        for name in tokens.ENCODINGS:
            public.ENCODING_CONSTRUCTORS[name]()
    finally:
        public.load_tiktoken_bpe = original
    assert seen == tokens.ENCODING_SHA256
    for name in tokens.ENCODINGS:
        tokens.bundled_bpe_file(name)  # checks the SHA-256 itself


def test_a_tampered_table_is_refused(monkeypatch) -> None:
    monkeypatch.setitem(tokens.ENCODING_SHA256, "cl100k_base", "0" * 64)
    with pytest.raises(tokens.TokenizerUnavailable, match="SHA-256"):
        tokens.bundled_bpe_file("cl100k_base")


def test_canary_counts_are_tiktokens(encodings) -> None:
    for name, enc in encodings.items():
        assert len(enc.encode_ordinary(tokens.CANARY)) == tokens.CANARY_COUNTS[name]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200), st.sampled_from(tokens.ENCODINGS))
def test_fast_counter_agrees_with_tiktoken(encodings, text: str, name: str) -> None:
    safe = text.encode("utf-8", "replace").decode("utf-8")
    assert tokens.counter(name).count(text) == len(encodings[name].encode_ordinary(safe))


def test_fast_counter_agrees_on_special_token_text_and_long_text(encodings) -> None:
    for text in ["<|endoftext|> and <|fim_prefix|>", "x" * 10_000, "日本語 " * 500, " \n\t" * 300]:
        for name in tokens.ENCODINGS:
            assert tokens.counter(name).count(text) == len(encodings[name].encode_ordinary(text))


def test_the_tiktoken_fallback_is_used_when_the_fast_one_is_missing() -> None:
    # a fresh process whose bpe-openai extension module is broken (it has no tokenizers)
    code = (
        "import sys, types; sys.modules['bpe_openai._bindings'] = types.ModuleType('bpe_openai._bindings'); "
        "from aitelier import tokens; c = tokens.counter('o200k_base'); print(c.backend, c.count(tokens.CANARY))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["tiktoken", str(tokens.CANARY_COUNTS["o200k_base"])]


def test_the_fast_backend_is_bpe_openai() -> None:
    assert tokens.counter("cl100k_base").backend == "bpe-openai"


def cookbook_count(enc, messages) -> int:
    """OpenAI cookbook's num_tokens_from_messages, written independently with tiktoken."""
    n = 0
    for m in messages:
        n += 3
        for key, value in m.items():
            if key in ("role", "content", "name"):
                n += len(enc.encode_ordinary(value))
            if key == "name":
                n += 1
    return n + 3


roles = st.sampled_from(["system", "user", "assistant"])
message = st.fixed_dictionaries(
    {"role": roles, "content": st.text(max_size=60)}, optional={"name": st.sampled_from(["bob", "x1"])}
)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(message, min_size=1, max_size=5), min_size=1, max_size=5))
def test_conversation_counts_follow_the_openai_recipe(encodings, conversations) -> None:
    conversations = [
        [{**m, "content": m["content"].encode("utf-8", "replace").decode()} for m in c] for c in conversations
    ]
    got = tokens.count_conversations(conversations, tokens.counter("cl100k_base"))
    enc = encodings["cl100k_base"]
    assert got.totals == [cookbook_count(enc, c) for c in conversations]
    want_trained = [
        sum(len(enc.encode_ordinary(m["content"])) for m in c if m["role"] == "assistant")
        for c in conversations
    ]
    assert got.trained == want_trained


def test_trained_tokens_skip_weight_zero_turns() -> None:
    c = tokens.counter("cl100k_base")
    conv = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "one two three", "weight": 0},
        {"role": "user", "content": "again"},
        {"role": "assistant", "content": "four", "weight": 1},
    ]
    assert tokens.count_conversations([conv], c).trained == [c.count("four")]


def test_token_stats() -> None:
    s = tokens.TokenStats.of(list(range(1, 11)), [1] * 10)
    assert (s.examples, s.total, s.min, s.median, s.p90, s.max, s.trained) == (10, 55, 1, 5.5, 9, 10, 10)
    assert tokens.TokenStats.of([7], [3]).as_dict()["median"] == 7
    assert tokens.TokenStats.of([], []).examples == 0


def test_encoding_choice() -> None:
    assert tokens.encoding_for("openai", "gpt-4.1-mini-2025-04-14") == tokens.EncodingChoice(
        "o200k_base", True
    )
    assert tokens.encoding_for("openai", "gpt-4o-mini-2024-07-18").name == "o200k_base"
    assert tokens.encoding_for("openai", "gpt-3.5-turbo-0125") == tokens.EncodingChoice("cl100k_base", True)
    assert tokens.encoding_for("openai", "ft:gpt-4o-mini-2024-07-18:acme::abc").name == "o200k_base"
    together = tokens.encoding_for("together", "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference")
    assert not together.exact and "estimated" in together.note
    assert not tokens.encoding_for("openai", "some-future-model").exact


def test_openai_estimate_caps_each_example_and_prices_it() -> None:
    est = tokens.estimate_training("openai", "gpt-4.1-mini-2025-04-14", [100, 20000], epochs=None)
    # 3 epochs (what `ait train` sends) x (100 + 16,385: OpenAI truncates the long one) at $5 per 1M
    assert (est.epochs, est.tokens_per_epoch, est.training_tokens) == (3, 16485, 49455)
    assert est.price is not None and est.price.per_1m == 5.00  # gpt-4.1-mini's
    assert est.usd == pytest.approx(0.247275)
    assert not any("auto" in n for n in est.notes)  # no second, contradicting epoch figure


def test_together_estimate_says_where_the_price_comes_from() -> None:
    est = tokens.estimate_training("together", "meta-llama/x", [10, 20])
    assert est.epochs == 3 and est.training_tokens == 90 and est.usd is None
    assert any("estimate-price endpoint" in n for n in est.notes)


def test_unknown_openai_model_has_no_price_but_says_how_to_give_one() -> None:
    est = tokens.estimate_training("openai", "mystery-model", [10])
    assert est.usd is None and any("--price-per-1m" in n for n in est.notes)


def test_price_lookup_and_overrides() -> None:
    assert pricing.training_price("gpt-4o-2024-08-06").per_1m == pricing.OPENAI_TRAINING_PER_1M["gpt-4o"]
    assert pricing.training_price("gpt-4o-mini-2024-07-18").per_1m == 3.00  # longest prefix wins (not gpt-4o)
    assert pricing.training_price("ft:gpt-4.1-nano-2025-04-14:org::x").per_1m == 1.50
    assert pricing.training_price("gpt-4o", override=2.5) == pricing.Price(2.5, "--price-per-1m")
    cfg = {"pricing": {"gpt-4o": 1.0}}
    assert pricing.training_price("gpt-4o-2024-08-06", config=cfg).source == ".aitelier.json pricing"
    assert pricing.training_price("gpt-4.1", config=cfg).source.startswith("price table as of")
    assert pricing.training_price("nope") is None
    with pytest.raises(ConfigError):
        pricing.training_price("gpt-4o", config={"pricing": {"gpt-4o": "cheap"}})
    with pytest.raises(ConfigError):
        pricing.training_price("gpt-4o", config={"pricing": [1]})


def test_forked_work_matches_serial_work() -> None:
    from aitelier.parallel import fork_map

    c = tokens.counter("cl100k_base")
    texts = [f"text number {i} " * (i % 7) for i in range(3000)]
    want = [c.count(t) for t in texts]
    for workers in (2, 3):
        parts = fork_map(lambda a, b: [c.count(texts[i]) for i in range(a, b)], len(texts), workers)
        assert len(parts) == workers and [n for p in parts for n in p] == want


def test_a_failing_worker_has_its_share_redone_here() -> None:
    from aitelier.parallel import fork_map

    parent = os.getpid()

    def work(start: int, end: int) -> list[int]:
        if os.getpid() != parent:
            raise RuntimeError("worker broke")
        return list(range(start, end))

    assert [n for p in fork_map(work, 100, 3) for n in p] == list(range(100))


def test_large_batches_use_workers_and_small_ones_do_not(monkeypatch) -> None:
    from aitelier import parallel

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert parallel.worker_count(10, 1000) == 1
    assert parallel.worker_count(10**6, 1000) == 2
    monkeypatch.setenv("AITELIER_NO_FORK", "1")
    assert parallel.worker_count(10**6, 1000) == 1


def test_count_many_in_workers_matches(monkeypatch) -> None:
    monkeypatch.setattr(tokens, "PARALLEL_MIN_TEXTS", 10)
    c = tokens.counter("o200k_base")
    texts = [f"{i} é 🎉 words" * (i % 5) for i in range(200)]
    assert c.count_many(texts) == [c.count(t) for t in texts]


def test_estimates_assume_the_epochs_ait_train_uses() -> None:
    from aitelier.providers import registry

    assert registry.get("openai").default("epochs") == 3 == registry.get("together").default("epochs")
    assert tokens.default_epochs("openai") == 3 and tokens.default_epochs("local") == 3


def test_non_string_content_and_roles_count_nothing_and_do_not_crash() -> None:
    c = tokens.counter("cl100k_base")
    conv = [
        {"role": ["user"], "content": [{"type": "text"}]},
        {"role": "assistant", "content": None, "name": 3},
    ]
    got = tokens.count_conversations([conv], c)
    assert got.totals == [3 + 3 + 3 + c.count("assistant")] and got.trained == [0]
