"""Records: validation, deterministic serialisation and byte-identical round trips."""

from __future__ import annotations

import json
from pathlib import Path
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from aitelier.store import records
from aitelier.store.jsonl import decode_line
from aitelier.store.records import (
    KEY_ORDER,
    UNSET,
    Example,
    canonical,
    dumps,
    new_record,
    normalise_messages,
    validate_messages,
    validate_record,
)

text = st.text(max_size=40)
messages_st = st.lists(
    st.fixed_dictionaries({"role": st.sampled_from(records.ROLES), "content": text}), min_size=1, max_size=5
)
json_scalar = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | text | st.floats(allow_nan=False)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
record_st = st.fixed_dictionaries(
    {
        "id": st.integers(1, 2**53),
        "messages": messages_st,
        "rating": st.none() | st.integers(1, 10),
        "createdAt": text,
        "version": st.integers(1, 1000),
    },
    optional={
        "originalOutput": st.none() | text,
        "split": st.sampled_from(["train", "val"]),
        "ratedAt": text,
        "updatedAt": text,
        "source": text,
        "tags": st.lists(text, max_size=3),
        "customField": json_value,
    },
)


# -- validation ---------------------------------------------------------------------------------------------------
def test_valid_record_has_no_problems() -> None:
    rec = new_record(
        1, [{"role": "user", "content": "hi"}], rating=None, created_at="2026-01-01T00:00:00.000Z"
    )
    assert validate_record(rec) == []


def test_each_invalid_field_is_named() -> None:
    base = new_record(
        1,
        [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
        rating=5,
        created_at="t",
    )
    cases = {
        "id": ("abc", "`id` must be a positive integer"),
        "rating": (11, "`rating` must be an integer 1-10 or null"),
        "split": ("test", "`split` must be 'train', 'val' or null"),
        "version": (0, "`version` must be a positive integer"),
        "createdAt": (5, "`createdAt` must be an ISO 8601 string"),
        "originalOutput": (3, "`originalOutput` must be a string or null"),
        "tags": ("x", "`tags` must be a list of strings"),
    }
    for key, (bad, phrase) in cases.items():
        problems = validate_record({**base, key: bad})
        assert any(phrase in p for p in problems), (key, problems)
    assert validate_record({**base, "rating": True}) != []  # a bool is not a rating
    assert validate_record({**base, "id": True}) != []
    assert validate_record([1, 2]) == ["expected a JSON object, got list"]
    missing = {k: v for k, v in base.items() if k not in ("id", "messages")}
    assert validate_record(missing) == ["missing `id`", "missing `messages`"]


def test_message_problems() -> None:
    assert validate_messages("x") == ["`messages` must be a list"]
    assert validate_messages([]) == ["`messages` is empty"]
    assert validate_messages([1]) == ["message 1 is not an object"]
    assert "message 1 has role 'bot'" in validate_messages([{"role": "bot", "content": "x"}])[0]
    assert validate_messages([{"role": "user"}]) == ["message 1 has no string `content`"]
    assert validate_messages([{"role": "user", "content": "x"}, {"role": "tool", "content": 1}]) == [
        "message 2 has role 'tool' (expected one of system, user, assistant)",
        "message 2 has no string `content`",
    ]


@settings(max_examples=300)
@given(
    record_st,
    st.lists(st.tuples(st.sampled_from([*KEY_ORDER, "other"]), st.none() | json_value), max_size=3),
    st.lists(st.sampled_from(KEY_ORDER), max_size=2),
)
def test_fast_path_never_accepts_what_the_full_check_rejects(
    rec: dict, changes: list[tuple[str, object]], drops: list[str]
) -> None:
    data = dict(rec)
    for key, value in changes:
        data[key] = value
    for key in drops:
        data.pop(key, None)
    with mock.patch.object(records, "looks_valid", lambda d: False):
        full = validate_record(data)
    if records.looks_valid(data):
        assert full == []
    assert validate_record(data) == full  # same answer with the fast path on


# -- serialisation --------------------------------------------------------------------------------------------------
def test_dumps_is_compact_like_json_stringify() -> None:
    assert dumps({"a": "é ✓", "b": [1, None]}) == '{"a":"é ✓","b":[1,null]}'


def test_canonical_order_known_keys_first_then_unknown_in_read_order() -> None:
    data = {"zeta": 1, "rating": 3, "alpha": 2, "id": 4, "messages": []}
    assert list(canonical(data)) == ["id", "messages", "rating", "zeta", "alpha"]


def test_normalise_messages_puts_role_and_content_first() -> None:
    out = normalise_messages([{"weight": 0, "content": "c", "role": "assistant"}])
    assert list(out[0]) == ["role", "content", "weight"]


def test_unchanged_example_keeps_its_exact_bytes() -> None:
    raw = b'{ "messages" : [{"content":"x","role":"user"}], "id": 7 ,"rating":null}'
    obj, problem = decode_line(Path("f"), 1, raw)
    assert problem is None
    ex = Example(obj, raw, 1)
    assert ex.to_line() == raw
    changed = ex.updated(rating=9)
    assert changed.raw is None
    assert changed.to_line() == b'{"id":7,"messages":[{"content":"x","role":"user"}],"rating":9}'
    assert ex.to_line() == raw  # the original is untouched


def test_updated_with_unset_removes_the_key() -> None:
    ex = Example({"id": 1, "messages": [], "split": "val"})
    assert "split" not in ex.updated(split=UNSET).data


def test_example_accessors() -> None:
    msgs = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "u1"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "u2"},
        {"role": "assistant", "content": "a2"},
    ]
    ex = Example(new_record(3, msgs, rating=8, created_at="t"))
    assert (ex.id, ex.rating, ex.version, ex.system_prompt) == (3, 8, 1, "s")
    assert (ex.last_user, ex.output, ex.assistant_indexes()) == ("u2", "a2", [2, 4])
    assert ex.data["ratedAt"] == "t"
    assert ex.content_key() == dumps(msgs)


@settings(max_examples=300)
@given(record_st)
def test_any_record_survives_serialise_then_parse(rec: dict) -> None:
    line = Example(rec).to_line()
    assert b"\n" not in line
    obj, problem = decode_line(Path("f"), 1, line)
    assert problem is None
    assert obj == rec
    assert list(obj) == list(canonical(rec))
    assert validate_record(obj) == []
    # and the parsed line, unchanged, is written back byte for byte
    assert Example(obj, line).to_line() == line
    assert json.loads(line) == rec
