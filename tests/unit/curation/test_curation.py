"""The library behind add/edit/rm: conversation rules, system prompts, applying and saving edits."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aitelier.curation import (
    EditConflict,
    add_example,
    apply_edit,
    check_conversation,
    clean_text,
    conversation_problems,
    edit_document,
    from_turns,
    parse_messages_json,
    remove_example,
    save_edit,
    system_for,
    with_system,
)
from aitelier.errors import ValidationFailed
from aitelier.store import Example

U = {"role": "user", "content": "hi"}
A = {"role": "assistant", "content": "hello"}
S = {"role": "system", "content": "be kind"}


@pytest.mark.parametrize(
    ("messages", "needle"),
    [
        ([], "empty"),
        ("nope", "must be a list"),
        ([U], "last message must be the assistant"),
        ([A], "no user message"),
        ([U, A, S], "only the first message"),
        ([U, {"role": "assistant", "content": "  \n"}], "message 2 (assistant) is empty"),
        ([{"role": "tool", "content": "x"}, A], "role 'tool'"),
        ([{"role": "user"}, A], "message 1 has no `content`"),
    ],
)
def test_conversation_problems_name_the_reason(messages, needle):
    problems = conversation_problems(messages)
    assert problems and any(needle in p for p in problems), problems


@pytest.mark.parametrize("messages", [[U, A], [S, U, A], [S, U, A, U, A], [U, A, U, A]])
def test_valid_conversations_have_no_problems(messages):
    assert conversation_problems(messages) == []
    check_conversation(messages)


def test_check_conversation_lists_every_problem():
    with pytest.raises(ValidationFailed) as e:
        check_conversation([S, A, S], "conv.json")
    assert "conv.json" in str(e.value)
    assert len(e.value.problems) >= 2


def test_with_system_prepends_only_when_missing():
    assert with_system([U, A], "sys") == [{"role": "system", "content": "sys"}, U, A]
    assert with_system([S, U, A], "other") == [S, U, A]
    assert with_system([U, A], None) == [U, A]
    assert with_system([U, A], "") == [U, A]


def test_with_system_normalises_key_order():
    out = with_system([{"content": "hi", "role": "user", "name": "x"}, A], None)
    assert list(out[0]) == ["role", "content", "name"]


def test_from_turns_builds_alternating_messages():
    msgs = from_turns([("q1", "a1"), ("q2", "a2")], "sys")
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant"]
    assert [m["content"] for m in msgs] == ["sys", "q1", "a1", "q2", "a2"]


def test_system_for_override_rules():
    assert system_for("project", None) == "project"
    assert system_for("project", "flag") == "flag"
    assert system_for("project", "") is None
    assert system_for(None, None) is None


def test_parse_messages_json_accepts_list_or_object():
    assert parse_messages_json(json.dumps([U, A]), "f") == [U, A]
    assert parse_messages_json(json.dumps({"messages": [U, A]}), "f") == [U, A]
    with pytest.raises(ValidationFailed, match="f:1: invalid JSON"):
        parse_messages_json("[", "f")
    with pytest.raises(ValidationFailed, match="expected a JSON list"):
        parse_messages_json('"text"', "f")


def test_clean_text():
    assert clean_text("\n\nhello\r\nworld  \n\n") == "hello\nworld"
    assert clean_text("  indented first line\n") == "  indented first line"


@given(st.text())
def test_clean_text_is_idempotent_and_has_no_cr(text):
    once = clean_text(text)
    assert clean_text(once) == once
    assert "\r" not in once


# -- add / rm ---------------------------------------------------------------------------------------------------
def test_add_example_reports_duplicates(project):
    first = add_example(project, [U, A], rating=9)
    second = add_example(project, [U, A])
    assert (first.id, first.duplicate_of) == (1, None)
    assert (second.id, second.duplicate_of) == (2, 1)
    assert [ex.rating for ex in project.store.read()] == [9, None]


def test_add_example_refuses_invalid_conversation(project):
    with pytest.raises(ValidationFailed):
        add_example(project, [U])
    assert project.examples_path.read_bytes() == b""


def test_removed_id_is_never_reused(project):
    add_example(project, [U, A])
    add_example(project, [U, {"role": "assistant", "content": "x"}])
    remove_example(project, 2)
    assert add_example(project, [U, {"role": "assistant", "content": "y"}]).id == 3


# -- edit -------------------------------------------------------------------------------------------------------
def _ex(**extra):
    data = {
        "id": 7,
        "messages": [U, A],
        "rating": 6,
        "originalOutput": None,
        "createdAt": "2026-01-01T00:00:00.000Z",
        "version": 1,
    }
    data.update(extra)
    return Example(data, b"raw")


def _doc(ex, **changes):
    data = json.loads(edit_document(ex))
    data.update(changes)
    return json.dumps(data)


def test_unchanged_edit_returns_none():
    ex = _ex()
    assert apply_edit(ex, edit_document(ex)) is None


def test_edit_bumps_version_sets_updated_and_keeps_original_output():
    ex = _ex()
    text = _doc(ex, messages=[U, {"role": "assistant", "content": "better"}])
    new = apply_edit(ex, text, now="2026-02-02T00:00:00.000Z")
    assert new is not None
    assert new.version == 2
    assert new.data["updatedAt"] == "2026-02-02T00:00:00.000Z"
    assert new.original_output == "hello"
    assert new.output == "better"
    assert new.raw is None
    assert list(new.data)[:6] == ["id", "messages", "rating", "originalOutput", "createdAt", "version"]


def test_edit_keeps_an_existing_original_output():
    ex = _ex(originalOutput="first draft", version=2)
    new = apply_edit(ex, _doc(ex, messages=[U, {"role": "assistant", "content": "third"}]))
    assert new is not None and new.original_output == "first draft" and new.version == 3


def test_edit_of_rating_sets_or_clears_rated_at():
    ex = _ex(ratedAt="2026-01-01T00:00:00.000Z")
    rated = apply_edit(ex, _doc(ex, rating=9), now="2026-03-03T00:00:00.000Z")
    assert rated is not None and rated.data["ratedAt"] == "2026-03-03T00:00:00.000Z"
    unrated = apply_edit(ex, _doc(ex, rating=None))
    assert unrated is not None and "ratedAt" not in unrated.data
    assert unrated.original_output is None  # the reply did not change


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"id": 8}, "id cannot be changed"),
        ({"split": "val"}, "split cannot be changed"),
        ({"version": 5}, "is at version 1"),
        ({"rating": 11}, "`rating`: expected int <= 10, got 11"),
        ({"messages": [U]}, "last message must be"),
        ({"messages": []}, "`messages` is empty"),
    ],
)
def test_invalid_edits_are_refused_with_the_reason(changes, needle):
    ex = _ex()
    with pytest.raises(ValidationFailed, match=needle.replace("(", r"\(")):
        apply_edit(ex, _doc(ex, **changes))


def test_edit_that_is_not_json_names_line_and_column():
    with pytest.raises(ValidationFailed, match=r"not valid JSON: .*line 2"):
        apply_edit(_ex(), '{\n  "id": 7,,\n}')


def edit_example(project, ident, change):
    """What `ait edit` does: the document through ``change`` (the editor), checked, then saved."""
    original = project.store.read(full=True).get(ident)
    edited = apply_edit(original, change(edit_document(original)))
    if edited is not None:
        save_edit(project, original, edited)
    return edited


def test_edit_example_round_trip(filled):
    def change(text):
        return text.replace("Click 'Forgot password' on the sign-in page.", "Use 'Forgot password'.")

    new = edit_example(filled, 1, change)
    assert new is not None
    stored = filled.store.read().get(1)
    assert stored.output == "Use 'Forgot password'." and stored.version == 2
    assert stored.original_output == "Click 'Forgot password' on the sign-in page."


def test_edit_lines_other_than_the_edited_one_stay_byte_identical(filled):
    before = filled.examples_path.read_bytes().split(b"\n")
    edit_example(filled, 3, lambda t: t.replace('"no"', '"Yes, within 30 days, if unworn."'))
    # the edit is one journal patch: examples.jsonl is not rewritten for it
    assert filled.examples_path.read_bytes().split(b"\n") == before and filled.store.has_pending_journal()
    filled.store.compact()
    after = filled.examples_path.read_bytes().split(b"\n")
    assert [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b] == [2]


def test_save_edit_refuses_when_the_example_changed_meanwhile(filled):
    original = filled.store.read().get(2)
    edited = apply_edit(original, _doc(original, rating=7))
    assert edited is not None
    filled.store.patch(2, {"rating": 3})  # e.g. `ait rate` in another terminal
    snapshot = filled.examples_path.read_bytes()
    with pytest.raises(EditConflict, match="changed by another command"):
        save_edit(filled, original, edited)
    assert filled.examples_path.read_bytes() == snapshot
    assert filled.store.read().get(2).rating == 3


def test_save_edit_refuses_when_the_example_was_removed(filled):
    original = filled.store.read().get(2)
    edited = apply_edit(original, _doc(original, rating=7))
    assert edited is not None
    remove_example(filled, 2)
    with pytest.raises(EditConflict, match="removed"):
        save_edit(filled, original, edited)
