"""Records: validation, deterministic serialisation and byte-identical round trips."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from aitelier.store import records
from aitelier.store.records import (
    UNSET,
    Example,
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
json_scalar = (
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | text
    | st.floats(allow_nan=False, allow_infinity=False)
)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
stamp = st.datetimes().map(lambda d: d.isoformat(timespec="milliseconds") + "Z")
record_st = st.fixed_dictionaries(
    {
        "id": st.integers(1, 2**53),
        "messages": messages_st,
        "rating": st.none() | st.integers(1, 10),
        "createdAt": stamp,
        "version": st.integers(1, 1000),
    },
    optional={
        "originalOutput": st.none() | text,
        "split": st.sampled_from(["train", "val"]),
        "ratedAt": stamp,
        "updatedAt": stamp,
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
        created_at="2026-01-01T00:00:00.000Z",
    )
    cases = {
        "id": ("abc", "`id`: expected int, got str"),
        "rating": (11, "`rating`: expected int <= 10, got 11"),
        "split": ("test", "`split`: split 'test' is not one of train, val"),
        "version": (0, "`version`: expected int >= 1, got 0"),
        "createdAt": (5, "`createdAt`: expected str | null, got int"),
        "originalOutput": (3, "`originalOutput`: expected str | null, got int"),
        "tags": ("x", "`tags`: expected array | null, got str"),
    }
    for key, (bad, phrase) in cases.items():
        assert validate_record({**base, key: bad}) == [phrase], key
    assert validate_record({**base, "rating": True}) != []  # a bool is not a rating
    assert validate_record({**base, "id": True}) != []
    assert validate_record([1, 2]) == ["expected a JSON object, got array"]
    missing = {k: v for k, v in base.items() if k not in ("id", "messages")}
    assert validate_record(missing) == ["missing `id`"]


def test_timestamps_must_be_iso_8601() -> None:
    """issue 9, item 14: "yesterday" is not a date."""
    base = new_record(
        1, [{"role": "user", "content": "q"}], rating=None, created_at="2026-01-01T00:00:00.000Z"
    )
    for good in (
        "2026-01-31T12:00:00.000Z",
        "2026-01-31T12:00:00Z",
        "2026-01-31T12:00:00+02:00",
        "2026-01-31",
    ):
        assert validate_record({**base, "createdAt": good, "ratedAt": good, "updatedAt": good}) == []
    for key in ("createdAt", "ratedAt", "updatedAt"):
        for bad in ("yesterday", "", "31/01/2026", "2026-01-31T12"):
            (problem,) = validate_record({**base, key: bad})
            assert problem.startswith(f"`{key}`: expected an ISO 8601 date and time"), problem


def test_a_lone_surrogate_is_not_text() -> None:
    """issue 9, item 8: Python's json reads "\\ud800"; no store line may hold it."""
    rec = json.loads('{"id": 1, "messages": [{"role": "user", "content": "x \\ud800"}]}')
    assert validate_record(rec) == ["a string holds an unpaired surrogate (like \\ud800), which is not text"]


def test_message_problems() -> None:
    assert validate_messages("x") == ["`messages` must be a list"]
    assert validate_messages([]) == ["`messages` is empty"]
    assert validate_messages([1]) == ["message 1: expected object, got int"]
    assert validate_messages([{"role": "bot", "content": "x"}]) == [
        "message 1: role 'bot' is not one of system, user, assistant"
    ]
    assert validate_messages([{"role": "user"}]) == ["message 1 has no `content`"]


# -- serialisation --------------------------------------------------------------------------------------------------
def test_dumps_is_compact_like_json_stringify() -> None:
    assert dumps({"a": "é ✓", "b": [1, None]}) == '{"a":"é ✓","b":[1,null]}'


def test_normalise_messages_puts_role_and_content_first() -> None:
    out = normalise_messages([{"weight": 0, "content": "c", "role": "assistant"}])
    assert list(out[0]) == ["role", "content", "weight"]


def test_an_updated_example_is_a_changed_copy_in_the_same_key_order() -> None:
    raw = b'{ "messages" : [{"content":"x","role":"user"}], "id": 7 ,"rating":null}'
    ex = Example(json.loads(raw), raw, 1)
    changed = ex.updated(rating=9)
    assert changed.raw is None  # its bytes are no longer the ones read
    # a changed example keeps its keys in the order they were read
    assert dumps(changed.data) == '{"messages":[{"content":"x","role":"user"}],"id":7,"rating":9}'
    assert ex.raw == raw and ex.rating is None  # the original is untouched


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
    assert (ex.id, ex.rating, ex.version) == (3, 8, 1)
    assert (ex.last_user, ex.output, ex.assistant_indexes()) == ("u2", "a2", [2, 4])
    assert ex.data["ratedAt"] == "t"


@settings(max_examples=300)
@given(record_st)
def test_any_record_survives_serialise_then_parse(rec: dict) -> None:
    line = dumps(rec).encode("utf-8")
    assert b"\n" not in line
    obj = json.loads(line)
    assert obj == rec
    assert list(obj) == list(rec)
    assert validate_record(obj) == []
    assert json.loads(line) == rec
