"""`ait pairs`: counts by source and place, each pair with its ids, the unpairable named, --json."""

from __future__ import annotations

import json

from helpers import conversation


def examples() -> list[dict]:
    same = conversation("same", answer="great")
    worse = conversation("same", answer="poor")
    return [
        {"id": 1, "messages": conversation(1), "rating": 9, "split": "train", "originalOutput": "old 1"},
        {"id": 2, "messages": conversation(2), "rating": 9, "split": "val", "originalOutput": "old 2"},
        {"id": 3, "messages": conversation(3, turns=2), "rating": 9, "originalOutput": "old 3"},
        {"id": 4, "messages": same, "rating": 10, "split": "train"},
        {"id": 5, "messages": worse, "rating": 4},
    ]


def test_pairs_lists_rewrites_and_names_what_cannot_be_paired(ait, make_project) -> None:
    p = make_project(examples())
    r = ait("pairs", cwd=p.root)
    assert r.exit_code == 0, r.output
    assert "Preference pairs: 2 (2 from rewrites); train 1, val 1" in r.stdout
    assert "Cannot be paired (1):" in r.stdout and "example 3: a multi-turn example" in r.stdout
    rows = [line.split()[:3] for line in r.stdout.splitlines() if line.startswith("  ") and "rewrite" in line]
    assert rows == [["1", "rewrite", "train"], ["2", "rewrite", "val"]]


def test_pairs_from_ratings_are_opt_in(ait, make_project) -> None:
    p = make_project(examples())
    r = ait("pairs", "--from-ratings", cwd=p.root)
    assert "Preference pairs: 3 (2 from rewrites, 1 from ratings (gap >= 3)); train 2, val 1" in r.stdout
    assert any(line.split()[:4] == ["4/5", "ratings", "train", "gap"] for line in r.stdout.splitlines())
    r = ait("pairs", "--min-gap", "7", cwd=p.root)  # --min-gap implies --from-ratings
    assert "0 from ratings (gap >= 7)" in r.stdout


def test_pairs_json(ait, make_project) -> None:
    p = make_project(examples())
    out = json.loads(ait("pairs", "--json", "--from-ratings", cwd=p.root).stdout)
    assert out["counts"] == {
        "total": 3,
        "bySource": {"rewrite": 2, "ratings": 1},
        "byPlace": {"train": 2, "val": 1, "unsplit": 0, "excluded": 0, "crossing": 0},
        "unpairable": 1,
    }
    assert out["unpairable"][0]["id"] == 3
    first = out["pairs"][0]
    assert (first["preferredId"], first["source"], first["turn"]) == (1, "rewrite", 1)
    assert first["non_preferred_output"] == [{"role": "assistant", "content": "old 1"}]


def test_min_gap_must_be_positive(ait, make_project) -> None:
    p = make_project(examples())
    assert ait("pairs", "--min-gap", "0", cwd=p.root).exit_code == 2


def test_a_rewrite_waiting_in_the_journal_is_paired(ait, make_project, tmp_path) -> None:
    p = make_project([{"id": 1, "messages": conversation(1), "rating": 9, "split": "train"}])
    (tmp_path / "new.txt").write_text("a better answer")
    assert ait("rate", "--rewrite", "1", "--output", str(tmp_path / "new.txt"), cwd=p.root).exit_code == 0
    out = json.loads(ait("pairs", "--json", cwd=p.root).stdout)
    assert [
        (x["preferred_output"][0]["content"], x["non_preferred_output"][0]["content"]) for x in out["pairs"]
    ] == [("a better answer", "answer 1.0")]
