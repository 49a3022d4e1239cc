"""Preference pairs from rewrites and from rating gaps, and where each goes (train, val or left out)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from aitelier.pairs import build_pairs
from helpers import conversation


def rewritten(ident: int, *, turns: int = 1, rating=9, split="train", turn=None, original="the old reply"):
    msgs = conversation(ident, turns=turns)
    rec = {"id": ident, "messages": msgs, "rating": rating, "originalOutput": original, "version": 2}
    if split is not None:
        rec["split"] = split
    if turn is not None:
        rec["originalOutputTurn"] = turn
    return rec


def test_a_single_turn_rewrite_pairs_the_reply_with_the_original(make_project, rec) -> None:
    p = make_project([rewritten(1), rec(2, split="train")])
    found = build_pairs(p)
    assert [pair.line() for pair in found.pairs] == [
        {
            "input": {
                "messages": [
                    {"role": "system", "content": "You are helpful."},
                    {"role": "user", "content": "question 1.0"},
                ]
            },
            "preferred_output": [{"role": "assistant", "content": "answer 1.0"}],
            "non_preferred_output": [{"role": "assistant", "content": "the old reply"}],
        }
    ]
    pair = found.pairs[0]
    assert (pair.source, pair.preferred_id, pair.rejected_id, pair.place, pair.turn) == (
        "rewrite",
        1,
        1,
        "train",
        1,
    )


def test_a_multi_turn_rewrite_takes_the_conversation_up_to_the_rewritten_turn(make_project) -> None:
    p = make_project([rewritten(1, turns=3, turn=2)])
    (pair,) = build_pairs(p).pairs
    assert [m["content"] for m in pair.input] == [
        "You are helpful.",
        "question 1.0",
        "answer 1.0",
        "question 1.1",
    ]
    assert (pair.preferred, pair.rejected, pair.turn) == ("answer 1.1", "the old reply", 2)


def test_an_older_multi_turn_rewrite_without_its_turn_cannot_be_paired(make_project) -> None:
    p = make_project([rewritten(1, turns=2), rewritten(2), rewritten(3, turns=2, turn=5)])
    found = build_pairs(p)
    assert [pair.preferred_id for pair in found.pairs] == [2]
    assert [u.id for u in found.unpairable] == [1, 3]
    assert "which turn" in found.unpairable[0].reason
    assert found.unpairable[1].reason == "originalOutputTurn is 5 but it has 2 assistant turn(s)"


def test_examples_never_rewritten_make_no_pairs(make_project, rec) -> None:
    p = make_project([rec(1, split="train"), rec(2, split="val", originalOutput=None)])
    assert build_pairs(p).pairs == [] and build_pairs(p).unpairable == []


def test_places_follow_the_split_and_the_threshold(make_project) -> None:
    p = make_project(
        [
            rewritten(1, split="train"),
            rewritten(2, split="val"),
            rewritten(3, split=None, rating=None),
            rewritten(4, split="train", rating=3),  # below the threshold (8) now
        ]
    )
    assert [(x.preferred_id, x.place) for x in build_pairs(p).pairs] == [
        (1, "train"),
        (2, "val"),
        (3, "unsplit"),
        (4, "excluded"),
    ]


def same_input(ident: int, answer: str, rating, split) -> dict:
    rec = {"id": ident, "messages": conversation("same", answer=answer), "rating": rating, "version": 1}
    if split is not None:
        rec["split"] = split
    return rec


def test_rating_pairs_need_the_same_input_and_the_gap(make_project, rec) -> None:
    p = make_project(
        [
            same_input(1, "great", 9, "train"),
            same_input(2, "poor", 5, None),  # gap 4
            same_input(3, "fine", 7, None),  # gap 2 to example 1: below the default gap
            rec(4, rating=1, split="train"),  # another input
        ]
    )
    assert build_pairs(p).pairs == []  # not asked for
    found = build_pairs(p, min_gap=3)
    assert [(x.source, x.preferred_id, x.rejected_id, x.gap, x.place) for x in found.pairs] == [
        ("ratings", 1, 2, 4, "train")
    ]
    assert found.pairs[0].line()["non_preferred_output"] == [{"role": "assistant", "content": "poor"}]
    assert [(x.preferred_id, x.rejected_id) for x in build_pairs(p, min_gap=2).pairs] == [
        (1, 2),
        (1, 3),
        (3, 2),
    ]


def test_a_rating_pair_across_the_split_is_left_out(make_project) -> None:
    p = make_project([same_input(1, "great", 9, "train"), same_input(2, "poor", 2, "val")])
    assert [x.place for x in build_pairs(p, min_gap=3).pairs] == ["crossing"]


def test_stats_counts_the_pairs(ait, make_project) -> None:
    import json

    p = make_project([rewritten(1), rewritten(2, split="val"), rewritten(3, turns=2)])
    out = json.loads(ait("stats", "--json", cwd=p.root).stdout)["pairs"]
    assert out["bySource"]["rewrite"] == 2
    assert (out["byPlace"]["train"], out["byPlace"]["val"]) == (1, 1)
    assert (out["unpairable"], out["unpairableIds"]) == (1, [3])
    text = ait("stats", cwd=p.root).stdout
    assert "from rewrites 2: train 1  val 1" in text
    assert "cannot be paired: 1 rewritten example(s) (3)" in text


# -- the split never leaks -----------------------------------------------------------------------------------------
example = st.fixed_dictionaries(
    {
        "input": st.integers(0, 2),
        "answer": st.sampled_from(["a", "b", "c"]),
        "rating": st.one_of(st.none(), st.integers(1, 10)),
        "split": st.sampled_from([None, "train", "val"]),
        "rewritten": st.booleans(),
    }
)


@given(st.lists(example, min_size=1, max_size=12), st.integers(1, 9))
def test_no_val_example_ever_reaches_a_train_pair(tmp_path_factory, examples, min_gap) -> None:
    from aitelier import Project

    root = tmp_path_factory.mktemp("p")
    p = Project.create(root / "p", name="t", provider="together", system_prompt="s", threshold=5)
    recs = []
    for i, e in enumerate(examples, 1):
        r = {"id": i, "messages": conversation(e["input"], answer=e["answer"]), "rating": e["rating"]}
        if e["split"]:
            r["split"] = e["split"]
        if e["rewritten"]:
            r["originalOutput"] = "old"
        recs.append(r)
    import json

    p.examples_path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    split_of = {r["id"]: r.get("split") for r in recs}
    for pair in build_pairs(p, min_gap=min_gap).pairs:
        if pair.place in ("train", "val"):
            assert split_of[pair.preferred_id] == pair.place
            other = "val" if pair.place == "train" else "train"
            assert all(split_of[i] != other for i in pair.ids), pair


def test_stats_suggests_dpo_after_a_finished_sft_run(ait, make_project) -> None:
    import json

    def advice(runs: list[dict]) -> list[dict]:
        p = make_project([rewritten(1), rewritten(2, split="val")])
        p.update_config(lambda c: c.update(runs=runs))
        return json.loads(ait("stats", "--json", cwd=p.root).stdout)["advice"]

    sft = {"id": "run-000000000001", "provider": "together", "status": "completed", "jobId": "ft-1"}
    (note,) = [a for a in advice([sft]) if "DPO" in a["message"]]
    assert note == {
        "level": "info",
        "message": "1 preference pair from your rewrites can tune run run-000000000001 further with DPO "
        "(then `ait train --method dpo --from run-000000000001`)",
        "command": "ait format --method dpo",
    }
    assert not [a for a in advice([{**sft, "method": "dpo"}]) if "DPO" in a["message"]]
    assert not [a for a in advice([{**sft, "status": "running"}]) if "DPO" in a["message"]]
