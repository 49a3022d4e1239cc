"""The rating state machine: queue, cursor, undo stack, summary, and what each action writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aitelier.errors import DataError, NotFound, UsageError
from aitelier.rating import (
    RATE,
    REWRITE,
    SKIP,
    RatingSession,
    parse_score,
    replace_turn,
    select,
)


def clock_from(*stamps: str):
    it = iter(stamps)
    return lambda: next(it)


def journal_lines(project) -> list[dict]:
    path = Path(project.store.journal_path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


# -- keys and scores ----------------------------------------------------------------------------------------------
def test_parse_score_maps_digits_and_zero_is_ten():
    assert [parse_score(k) for k in "1234567890"] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    for key in ("a", "", "10", "enter", "\x1b[A", "٣"):  # an Arabic-Indic digit is not a rating key
        assert parse_score(key) is None


# -- the queue ----------------------------------------------------------------------------------------------------
def test_queue_is_unrated_examples_lowest_id_first(rate_project):
    project = rate_project(6, ratings=[None, 9, None, 3, None, 10])
    session = RatingSession.open(project.store)
    assert [e.id for e in session.queue] == [1, 3, 5]
    assert session.total == 3 and session.position == 0 and not session.done


def test_min_adds_examples_rated_below_it(rate_project):
    project = rate_project(6, ratings=[None, 9, None, 3, 7, 8])
    session = RatingSession.open(project.store, min_rating=8)
    assert [e.id for e in session.queue] == [1, 3, 4, 5]  # 8 itself is not below 8


def test_ids_select_exactly_those_in_the_given_order_even_if_rated(rate_project):
    project = rate_project(5, ratings=[9, None, 9, None, 9])
    session = RatingSession.open(project.store, ids=[5, 1, 5])
    assert [e.id for e in session.queue] == [5, 1]


def test_unknown_id_is_not_found(rate_project):
    project = rate_project(2)
    with pytest.raises(NotFound, match="no example with id 7"):
        RatingSession.open(project.store, ids=[1, 7])


def test_order_oldest_uses_created_at_and_puts_missing_first(rate_project):
    project = rate_project(5)
    index = project.store.read()
    stamps = {
        1: "2026-03-01T00:00:00.000Z",
        2: "2026-01-01T00:00:00Z",
        3: None,
        4: "2026-02-01T00:00:00+00:00",
        5: "2026-01-01T00:00:00.000Z",  # the same instant as 2, written differently: id breaks the tie
    }
    for head in index.heads:
        head.createdAt = stamps[head.id]
    assert [e.id for e in select(index, order="oldest")] == [3, 2, 5, 4, 1]


def test_order_random_is_reproducible_with_a_seed(rate_project):
    index = rate_project(30).store.read()
    a = [e.id for e in select(index, order="random", seed=4)]
    b = [e.id for e in select(index, order="random", seed=4)]
    c = [e.id for e in select(index, order="random", seed=5)]
    assert a == b and sorted(a) == list(range(1, 31))
    assert a != c and a != sorted(a)


def test_unknown_order_and_bad_min_are_usage_errors(rate_project):
    index = rate_project(1).store.read()
    with pytest.raises(UsageError):
        select(index, order="newest")
    with pytest.raises(UsageError):
        select(index, min_rating=11)


# -- rate, skip -----------------------------------------------------------------------------------------------------
def test_rate_writes_one_durable_patch_and_moves_on(rate_project, current, records):
    project = rate_project(3)
    session = RatingSession.open(project.store, clock=clock_from("2026-05-05T10:00:00.000Z"))
    step = session.rate(8)
    assert step.kind == RATE and step.id == 1 and step.score == 8
    assert session.position == 1 and session.current.id == 2
    assert journal_lines(project) == [{"id": 1, "set": {"rating": 8, "ratedAt": "2026-05-05T10:00:00.000Z"}}]
    # every reader sees it at once, before any compaction; the main file is untouched until then
    assert current(project)[1]["rating"] == 8
    assert records(project)[1]["rating"] is None


def test_rate_rejects_scores_outside_1_to_10(rate_project):
    session = RatingSession.open(rate_project(1).store)
    for bad in (0, 11, True, "8"):
        with pytest.raises(UsageError):
            session.rate(bad)  # type: ignore[arg-type]
    assert session.position == 0


def test_skip_writes_nothing(rate_project):
    project = rate_project(2)
    session = RatingSession.open(project.store)
    step = session.skip()
    assert step.kind == SKIP and session.current.id == 2
    assert journal_lines(project) == []


def test_end_of_queue(rate_project):
    session = RatingSession.open(rate_project(2).store)
    session.rate(5)
    session.skip()
    assert session.done
    with pytest.raises(IndexError):
        session.current  # noqa: B018


# -- rewrite --------------------------------------------------------------------------------------------------------
def test_rewrite_keeps_original_bumps_version_and_waits_for_a_rating(rate_project, current):
    project = rate_project(2)
    session = RatingSession.open(
        project.store, clock=clock_from("2026-05-05T10:00:01.000Z", "2026-05-05T10:00:02.000Z")
    )
    step = session.rewrite("a better answer")
    assert step is not None and step.kind == REWRITE and step.turn == 1
    assert session.position == 0 and session.awaiting and session.pending_rewrite is step
    data = current(project)[1]
    assert data["messages"][-1]["content"] == "a better answer"
    assert data["originalOutput"] == "answer 1.1"
    assert data["version"] == 2 and data["updatedAt"] == "2026-05-05T10:00:01.000Z"
    assert data["rating"] is None  # the new text is not rated yet
    session.rate(9)
    assert not session.awaiting and session.current.id == 2
    assert current(project)[1]["rating"] == 9 and current(project)[1]["ratedAt"] == "2026-05-05T10:00:02.000Z"


def test_second_rewrite_keeps_the_text_before_the_first(rate_project, current):
    project = rate_project(1)
    session = RatingSession.open(project.store)
    session.rewrite("second")
    session.rewrite("third")
    data = current(project)[1]
    assert data["originalOutput"] == "answer 1.1"
    assert data["messages"][-1]["content"] == "third" and data["version"] == 3


def test_rewrite_keeps_an_original_output_from_an_earlier_session(rate_project, current):
    project = rate_project(1)
    project.store.patch(1, {"originalOutput": "the very first"})
    session = RatingSession.open(project.store)
    session.rewrite("new")
    assert current(project)[1]["originalOutput"] == "the very first"


def test_rewrite_an_earlier_turn_of_a_multi_turn_example(rate_project, current):
    project = rate_project(1, multi_turn=(1,))
    session = RatingSession.open(project.store)
    step = session.rewrite("fixed first answer", turn=1)
    assert step is not None and step.turn == 1
    msgs = current(project)[1]["messages"]
    assert [m["content"] for m in msgs if m["role"] == "assistant"] == ["fixed first answer", "answer 1.2"]
    assert current(project)[1]["originalOutput"] == "answer 1.1"
    with pytest.raises(UsageError, match="no turn 3"):
        session.rewrite("x", turn=3)


def test_rewrite_with_the_same_text_writes_nothing(rate_project):
    project = rate_project(1)
    session = RatingSession.open(project.store)
    assert session.rewrite("answer 1.1") is None
    assert journal_lines(project) == [] and not session.awaiting and not session.steps


def test_rewrite_to_empty_text_is_refused(rate_project):
    project = rate_project(1)
    session = RatingSession.open(project.store)
    with pytest.raises(UsageError, match="empty"):
        session.rewrite("  \n")
    assert journal_lines(project) == []


def test_replace_turn_needs_an_assistant_message(rate_project):
    project = rate_project(1)
    ex = project.store.read().get(1).updated(messages=[{"role": "user", "content": "q"}])
    with pytest.raises(UsageError, match="no assistant message"):
        replace_turn(ex, "x")


# -- undo -------------------------------------------------------------------------------------------------------
def test_undo_rating_restores_the_previous_value_and_the_cursor(rate_project, current):
    project = rate_project(3, ratings=[None, 4, None])
    session = RatingSession.open(project.store, min_rating=5)
    session.rate(7)
    session.rate(9)  # example 2 was rated 4 when it was added, so it has a ratedAt too
    assert current(project)[2]["rating"] == 9
    step = session.undo()
    assert step is not None and step.id == 2 and session.current.id == 2
    assert current(project)[2]["rating"] == 4
    assert current(project)[2]["ratedAt"] == project.store.read().get(2).data["ratedAt"]


def test_undo_removes_keys_that_did_not_exist(rate_project, current, records):
    project = rate_project(1)
    before = records(project)[1]
    assert "ratedAt" not in before
    session = RatingSession.open(project.store)
    session.rate(6)
    session.undo()
    assert journal_lines(project)[-1] == {"id": 1, "set": {"rating": None}, "unset": ["ratedAt"]}
    assert current(project)[1] == before
    session.close()
    assert records(project)[1] == before


def test_undo_across_examples_walks_back_in_order(rate_project, current):
    project = rate_project(3)
    session = RatingSession.open(project.store)
    session.rate(8)
    session.skip()
    session.rate(3)
    assert session.done
    assert [s.kind for s in (session.undo(), session.undo(), session.undo())] == [RATE, SKIP, RATE]
    assert session.position == 0 and session.undo() is None
    assert all(d["rating"] is None for d in current(project).values())


def test_undo_rewrite_restores_text_version_and_original(rate_project, current, records):
    project = rate_project(1)
    before = records(project)[1]
    session = RatingSession.open(project.store)
    session.rewrite("new text")
    session.rate(10)
    session.undo()  # the rating: back on the rewritten example, waiting for a rating again
    assert session.awaiting and session.current.output == "new text" and session.position == 0
    session.undo()  # the rewrite
    assert not session.awaiting
    assert current(project)[1] == before
    session.close()
    assert records(project)[1] == before


def test_undo_of_second_rewrite_keeps_first(rate_project, current):
    project = rate_project(1)
    session = RatingSession.open(project.store)
    session.rewrite("first")
    session.rewrite("second")
    session.undo()
    data = current(project)[1]
    assert data["messages"][-1]["content"] == "first"
    assert data["originalOutput"] == "answer 1.1" and data["version"] == 2
    assert session.awaiting  # the first rewrite still waits for its rating


def test_every_action_and_undo_is_exactly_one_journal_append(rate_project):
    project = rate_project(3)
    session = RatingSession.open(project.store)
    session.rate(5)
    session.rewrite("x")
    session.rate(6)
    session.undo()
    session.undo()
    session.skip()
    assert len(journal_lines(project)) == 5  # rate, rewrite, rate, undo, undo (skip writes nothing)


# -- summary ----------------------------------------------------------------------------------------------------
def test_summary_counts_net_of_undo(rate_project):
    project = rate_project(6)
    session = RatingSession.open(project.store)
    session.rate(8)  # 1
    session.rewrite("better")  # 2
    session.rate(10)
    session.skip()  # 3
    session.rate(4)  # 4
    session.undo()  # back to 4: the 4 is taken back
    session.rate(6)  # 4
    s = session.summary()
    assert (s.shown, s.rated, s.rewritten, s.skipped) == (5, 3, 1, 1)
    assert s.average == pytest.approx((8 + 10 + 6) / 3)
    assert s.remaining == 2  # 5 (under the cursor: shown, not handled) and 6 (never shown)
    assert s.as_dict()["average"] == 8.0


def test_summary_of_an_empty_session(rate_project):
    session = RatingSession.open(rate_project(1).store)
    s = session.summary()
    assert (s.shown, s.rated, s.rewritten, s.skipped, s.average, s.remaining) == (1, 0, 0, 0, None, 1)


# -- closing, and other writers --------------------------------------------------------------------------------
def test_close_folds_the_journal_into_examples(rate_project, records):
    project = rate_project(2)
    session = RatingSession.open(project.store)
    session.rate(7)
    session.rate(2)
    assert session.close() == 2
    assert not Path(project.store.journal_path).exists()
    assert {i: r["rating"] for i, r in records(project).items()} == {1: 7, 2: 2}


def test_untouched_lines_stay_byte_identical(rate_project):
    project = rate_project(3)
    before = Path(project.examples_path).read_bytes().splitlines()
    session = RatingSession.open(project.store)
    session.skip()
    session.rate(9)
    session.close()
    after = Path(project.examples_path).read_bytes().splitlines()
    assert after[0] == before[0] and after[2] == before[2] and after[1] != before[1]


def test_an_append_during_the_session_is_not_lost(rate_project, current):
    project = rate_project(2)
    session = RatingSession.open(project.store)
    session.rate(9)
    added = project.store.append(
        [{"messages": [{"role": "user", "content": "new"}, {"role": "assistant", "content": "a"}]}]
    )
    session.rate(4)
    session.close()
    data = current(project)
    assert added.ids == [3] and 3 in data
    assert data[1]["rating"] == 9 and data[2]["rating"] == 4 and data[3]["rating"] is None


def test_a_session_resumes_where_a_killed_one_stopped(rate_project):
    project = rate_project(3)
    first = RatingSession.open(project.store)
    first.rate(8)  # then the process dies: no close(), the journal holds the rating
    second = RatingSession.open(project.store)
    assert [e.id for e in second.queue] == [2, 3]


def test_a_malformed_conversation_is_reported_when_loaded(rate_project):
    project = rate_project(2)
    path = Path(project.examples_path)
    lines = path.read_bytes().splitlines()
    # the conversation is broken (a bare word in a string's place) but the fields after it are fine
    lines[0] = lines[0].replace(b'"content":"answer 1.1"', b'"content":answer')
    path.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(DataError) as e:  # invalid JSON anywhere stops the session before it opens
        RatingSession.open(project.store)
    assert f"{path}:1" in str(e.value)
