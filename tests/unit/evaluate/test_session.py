"""Eval files and the scoring / comparison sessions, without a terminal: the journal, undo, resume, the
no-overwrite rule, summaries and the shipped JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aitelier.errors import DataError
from aitelier.evaluate import results
from aitelier.evaluate.session import Session
from aitelier.evaluate.summary import summarize


def score_doc(
    n: int = 4, model: str = "tuned", fp: str = "sha256:x", created: str = "2026-01-01T00:00:00.000Z"
):
    return {
        "kind": "score",
        "model": model,
        "provider": "together",
        "base_url": None,
        "settings": {"temperature": 0.0, "max_tokens": None},
        "created": created,
        "val_set": {"fingerprint": fp, "examples": n},
        "judge": None,
        "summary": {},
        "items": [
            {
                "id": i,
                "input": [{"role": "user", "content": f"q{i}"}],
                "expected": f"e{i}",
                "output": f"o{i}",
                "score": None,
                "skipped": False,
            }
            for i in range(1, n + 1)
        ],
    }


def compare_doc(n: int = 4):
    items = []
    for i in range(1, n + 1):
        a, b = ("tuned", "base") if i % 2 else ("base", "tuned")
        items.append(
            {
                "id": i,
                "input": [{"role": "user", "content": f"q{i}"}],
                "expected": f"e{i}",
                "a_model": a,
                "b_model": b,
                "a_output": f"{a} says {i}",
                "b_output": f"{b} says {i}",
                "choice": None,
                "winner": None,
                "skipped": False,
            }
        )
    doc = score_doc(n)
    doc.update(kind="compare", base="base", seed=7, items=items)
    return doc


def test_a_new_eval_never_replaces_another(tmp_path: Path):
    first = results.create(tmp_path, "20260101-000000-score-m", score_doc())
    second = results.create(tmp_path, "20260101-000000-score-m", score_doc(2))
    assert first.path.name == "20260101-000000-score-m.json"
    assert second.path.name == "20260101-000000-score-m-2.json"
    assert len(json.loads(first.path.read_text())["items"]) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == [  # and no temp file left behind
        "20260101-000000-score-m-2.json",
        "20260101-000000-score-m.json",
    ]


def test_scores_are_in_the_journal_before_the_call_returns_and_fold_writes_them(tmp_path: Path):
    ev = results.create(tmp_path, "e", score_doc())
    session = Session(ev)
    session.answer(5)
    session.skip()
    session.answer(2)
    # what another process sees now (as after SIGKILL): the file plus the journal
    seen = results.load(ev.path)
    assert [it["score"] for it in seen.items] == [5, None, 2, None]
    assert [it["skipped"] for it in seen.items] == [False, True, False, False]
    assert json.loads(ev.path.read_text())["items"][0]["score"] is None  # not folded yet
    seen.fold()
    assert not seen.journal_path.exists()
    on_disk = json.loads(ev.path.read_text())
    assert [it["score"] for it in on_disk["items"]] == [5, None, 2, None]
    assert on_disk["summary"]["scored"] == 2 and on_disk["summary"]["skipped"] == 1
    assert on_disk["finished"] is False


def test_undo_takes_back_the_last_step_and_shows_its_item_again(tmp_path: Path):
    ev = results.create(tmp_path, "e", score_doc())
    session = Session(ev)
    session.answer(4)
    session.answer(3)
    step = session.undo()
    assert step is not None and step.id == 2
    assert session.current.id == 2
    assert [it["score"] for it in results.load(ev.path).items] == [4, None, None, None]
    session.undo()
    assert session.current.id == 1 and session.undo() is None


def test_a_resumed_session_starts_at_the_first_unanswered_item(tmp_path: Path):
    ev = results.create(tmp_path, "e", score_doc())
    s = Session(ev)
    s.answer(5)
    s.skip()
    again = Session(results.load(ev.path))
    assert again.queue == [3, 4]  # the skipped one comes back only when nothing else is left
    again.answer(1)
    again.answer(1)
    last = Session(results.load(ev.path))
    assert last.queue == [2]
    assert results.load(ev.path).finished  # answered or skipped, every item


def test_a_comparison_shows_a_and_b_and_records_the_winner(tmp_path: Path):
    ev = results.create(tmp_path, "c", compare_doc())
    s = Session(ev)
    shown = s.current
    assert shown.outputs == ("tuned says 1", "base says 1")
    s.answer("a")  # tuned
    s.answer("a")  # base (sides swapped on item 2)
    s.answer("tie")
    s.answer("b")  # tuned (b on even items)
    ev = results.load(ev.path)
    assert [it["winner"] for it in ev.items] == ["tuned", "base", "tie", "tuned"]
    sm = summarize(ev)
    assert sm["wins"] == {"model": 2, "base": 1} and sm["ties"] == 1
    assert sm["verdict"] == "no significant difference at n = 3 (p = 1)"


def test_compare_summary_figures_and_verdict(tmp_path: Path):
    doc = compare_doc(10)
    for i, it in enumerate(doc["items"]):
        winner = "tuned" if i < 9 else "base"
        it["choice"] = "a" if it["a_model"] == winner else "b"
        it["winner"] = winner
    ev = results.create(tmp_path, "c", doc)
    sm = summarize(results.load(ev.path))
    assert sm["wins"] == {"model": 9, "base": 1}
    assert sm["p_value"] == 0.0215
    assert sm["win_rate"] == {"rate": 0.9, "low": 0.5958, "high": 0.9821}
    assert sm["verdict"] == "fine-tuned better"


def test_score_summary_sendable_rate_and_change_against_the_previous_model(tmp_path: Path):
    old = score_doc(10, model="base", created="2026-01-01T00:00:00.000Z")
    for it, s in zip(old["items"], [5, 4, 3, 3, 2, 2, 1, 1, 1, 1], strict=True):
        it["score"] = s
    new = score_doc(10, model="tuned", created="2026-01-02T00:00:00.000Z")
    for it, s in zip(new["items"], [5, 5, 5, 4, 4, 4, 4, 4, 2, 1], strict=True):
        it["score"] = s
    results.create(tmp_path, "a", old)
    ev = results.create(tmp_path, "b", new)
    history, problems = results.load_all(tmp_path)
    assert problems == []
    sm = summarize(ev, history)
    assert sm["average"] == 3.8
    assert sm["sendable"] == {"count": 8, "of": 10, "rate": 0.8, "low": 0.4902, "high": 0.9433}
    assert sm["previous"] == {
        "name": "a",
        "model": "base",
        "average": 2.3,
        "sendable_rate": 0.2,
        "average_change": 1.5,
        "sendable_change": 0.6,
    }


def test_a_journal_line_that_does_not_apply_is_reported_with_its_line(tmp_path: Path):
    ev = results.create(tmp_path, "e", score_doc())
    Session(ev).answer(4)
    with open(ev.journal_path, "a") as f:
        f.write('{"id": 99, "score": 3, "skipped": false}\n')
    with pytest.raises(DataError) as e:
        results.load(ev.path)
    assert f"{ev.journal_path}:2" in str(e.value)


def test_a_file_from_a_newer_aitelier_is_refused(tmp_path: Path):
    ev = results.create(tmp_path, "e", score_doc())
    data = json.loads(ev.path.read_text())
    data["schemaVersion"] = 2
    ev.path.write_text(json.dumps(data))
    with pytest.raises(DataError, match="newer aitelier"):
        results.load(ev.path)


def test_eval_files_match_the_shipped_json_schema(tmp_path: Path):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(results.SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    for doc in (score_doc(), compare_doc()):
        ev = results.create(tmp_path, doc["kind"], doc)
        s = Session(ev)
        s.answer(3 if doc["kind"] == "score" else "b")
        s.skip()
        fresh = results.load(ev.path)
        fresh.fold()
        jsonschema.validate(json.loads(ev.path.read_text()), schema)
    bad = score_doc()
    bad["items"][0]["score"] = 7
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**bad, "schemaVersion": 1, "finished": False}, schema)


def test_two_sessions_on_one_eval_lose_nothing_when_one_folds(tmp_path: Path):
    ev = results.create(tmp_path, "e", score_doc())
    first = Session(results.load(ev.path))
    second = Session(results.load(ev.path))  # another terminal, same eval
    first.answer(5)  # item 1
    second.queue = [2]
    second.answer(3)  # item 2, appended after `first` read the eval
    first.eval.fold()
    on_disk = json.loads(ev.path.read_text())
    assert [it["score"] for it in on_disk["items"]] == [5, 3, None, None]
    assert on_disk["summary"]["scored"] == 2
    assert not ev.journal_path.exists()
