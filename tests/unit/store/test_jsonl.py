"""Which problems of a JSONL data file stop a reading command, and which are only reported."""

from __future__ import annotations

from aitelier.errors import DataProblem
from aitelier.store.jsonl import NO_NEWLINE, ORPHAN_PATCH, TORN_TAIL, is_blocking

P = "data/examples.jsonl"


def test_a_missing_newline_a_torn_tail_and_an_orphan_patch_do_not_stop_a_command() -> None:
    assert not is_blocking(DataProblem(P, 5, NO_NEWLINE, fixable=True))
    assert not is_blocking(DataProblem(P, 2, TORN_TAIL, fixable=True))
    assert not is_blocking(DataProblem(P, 1, f"example 9 {ORPHAN_PATCH}"))


def test_every_other_problem_stops_a_command() -> None:
    for message in (
        "file starts with a UTF-8 byte-order mark",
        "CRLF line ending",
        "blank line",
        "invalid JSON",
    ):
        assert is_blocking(DataProblem(P, 1, message, fixable=True))
