"""The split: stratified, seeded, locked; the library functions and `ait split`."""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aitelier import Project
from aitelier.split import DEFAULT_SEED, Plan, Summary, plan_columns, split_project, summarize_columns


def examples_of(records: list[dict]) -> list[dict]:
    return [dict(r) for r in records]


def plan_split(records: list[dict], **kw) -> Plan:
    return plan_columns(
        [r["id"] for r in records],
        [r.get("rating") for r in records],
        [r.get("split") for r in records],
        **kw,
    )[0]


def summarize(records: list[dict], *, threshold: int) -> Summary:
    return summarize_columns(
        [r.get("rating") for r in records], [r.get("split") for r in records], threshold=threshold
    )


def apply_plan(records: list[dict], plan: Plan) -> list[dict]:
    out = []
    for r in records:
        r = dict(r)
        if r["id"] in plan.assign:
            r["split"] = plan.assign[r["id"]]
        elif r["id"] in plan.clear:
            r.pop("split", None)
        out.append(r)
    return out


def half_up(n: int, ratio: float) -> int:
    """How many of n belong in val, worked out in decimal arithmetic (not by the code under test)."""
    exact = Decimal(n) * (1 - Decimal(str(ratio))) + Decimal("0.5")
    return max(int(exact), 1 if n >= 2 else 0)


# -- the pure plan ---------------------------------------------------------------------------------------------
def test_fresh_split_is_80_20_and_stratified_by_rating(rec) -> None:
    records = [rec(i, rating=10) for i in range(1, 51)] + [rec(i, rating=8) for i in range(51, 101)]
    exs = apply_plan(examples_of(records), plan_split(examples_of(records), threshold=8, ratio=0.8, seed=1))
    s = summarize(exs, threshold=8)
    assert (s.train, s.val) == (80, 20)
    assert s.by_rating[10]["val"] == 10 and s.by_rating[8]["val"] == 10


def test_stratification_keeps_each_rating_near_the_ratio(rec) -> None:
    rnd = random.Random(3)
    records = [rec(i, rating=rnd.choice([8, 9, 10, 10, 10])) for i in range(1, 401)]
    exs = apply_plan(examples_of(records), plan_split(examples_of(records), threshold=8, ratio=0.75, seed=5))
    s = summarize(exs, threshold=8)
    assert s.val == half_up(400, 0.75) == 100
    for row in s.by_rating.values():
        n = row["train"] + row["val"]
        assert abs(row["val"] - n * 0.25) <= 1


def test_only_examples_at_or_above_the_threshold_take_part(rec) -> None:
    records = [rec(1, rating=8), rec(2, rating=7), rec(3, rating=None), rec(4, rating=10)]
    plan = plan_split(examples_of(records), threshold=8, ratio=0.5, seed=0)
    assert set(plan.assign) == {1, 4}
    assert sorted(plan.assign.values()) == ["train", "val"]


def test_same_data_and_seed_give_the_same_split_in_any_order(rec) -> None:
    records = [rec(i, rating=9) for i in range(1, 61)]
    a = plan_split(examples_of(records), threshold=8, ratio=0.8, seed=7).assign
    shuffled = records[:]
    random.Random(1).shuffle(shuffled)
    b = plan_split(examples_of(shuffled), threshold=8, ratio=0.8, seed=7).assign
    c = plan_split(examples_of(records), threshold=8, ratio=0.8, seed=8).assign
    assert a == b
    assert a != c


def test_locked_val_and_train_never_move_and_new_ones_restore_the_ratio(rec) -> None:
    locked = [rec(i, rating=9, split="val") for i in range(1, 21)] + [
        rec(i, rating=9, split="train") for i in range(21, 101)
    ]
    new = [rec(i, rating=9) for i in range(101, 111)]
    plan = plan_split(examples_of(locked + new), threshold=8, ratio=0.8, seed=0)
    assert set(plan.assign) == set(range(101, 111))  # only the new ones
    assert sum(v == "val" for v in plan.assign.values()) == half_up(110, 0.8) - 20 == 2


def test_when_val_is_short_new_examples_fill_it_and_val_never_shrinks(rec) -> None:
    locked = [rec(i, rating=9, split="train") for i in range(1, 101)]
    plan = plan_split(examples_of(locked + [rec(i) for i in range(101, 106)]), threshold=8, ratio=0.8, seed=0)
    assert set(plan.assign.values()) == {"val"}  # all 5 go to val: as close to 20% as it can get
    too_much_val = [rec(i, rating=9, split="val") for i in range(1, 51)]
    plan = plan_split(
        examples_of(too_much_val + [rec(i) for i in range(51, 61)]), threshold=8, ratio=0.8, seed=0
    )
    assert set(plan.assign.values()) == {"train"}


def test_examples_below_the_threshold_keep_their_split_but_count_as_excluded(rec) -> None:
    records = [
        rec(1, rating=3, split="val"),
        rec(2, rating=None, split="train"),
        rec(3, rating=9, split="train"),
    ]
    plan = plan_split(examples_of(records), threshold=8, ratio=0.8, seed=0)
    assert plan.assign == {} and plan.clear == []
    s = summarize(examples_of(records), threshold=8)
    assert (s.train, s.val, s.excluded_val, s.excluded_train) == (1, 0, 1, 1)


def test_reshuffle_reassigns_everything_and_counts_the_moves(rec) -> None:
    records = [rec(i, rating=9, split="val") for i in range(1, 51)] + [rec(51, rating=2, split="val")]
    plan = plan_split(examples_of(records), threshold=8, ratio=0.8, seed=0, reshuffle=True)
    assert plan.val_to_train == 40 and plan.train_to_val == 0
    assert plan.clear == [51]
    exs = apply_plan(examples_of(records), plan)
    assert summarize(exs, threshold=8).val == 10
    assert "split" not in exs[-1]


@pytest.mark.parametrize("bad", [0, 1, 1.5, -0.2])
def test_ratio_must_be_strictly_between_0_and_1(rec, bad) -> None:
    from aitelier.errors import UsageError

    with pytest.raises(UsageError):
        plan_split(examples_of([rec(1)]), threshold=8, ratio=bad, seed=0)


# -- on a project ----------------------------------------------------------------------------------------------
def test_split_project_writes_splits_and_records_seed_and_ratio(rated_project: Project) -> None:
    before = rated_project.examples_path.read_bytes().splitlines()
    result = split_project(rated_project, ratio=0.75, seed=3)
    assert result.rewritten and (result.summary.train, result.summary.val) == (75, 25)
    cfg = json.loads(rated_project.config_path.read_text())
    assert (cfg["splitSeed"], cfg["splitRatio"]) == (3, 0.75)
    after = rated_project.examples_path.read_bytes().splitlines()
    # examples that took no part are byte-identical; the others only gained a split
    assert after[100:] == before[100:]
    for b, a in zip(before[:100], after[:100], strict=True):
        old, new = json.loads(b), json.loads(a)
        assert new.pop("split") in ("train", "val") and new == old
    # a second run assigns nothing and does not rewrite the file
    mtime = os.stat(rated_project.examples_path).st_mtime_ns
    again = split_project(Project.find(rated_project.root))
    assert not again.rewritten and again.seed == 3 and again.ratio == 0.75
    assert os.stat(rated_project.examples_path).st_mtime_ns == mtime


def test_split_applies_pending_journal_patches(rated_project: Project) -> None:
    split_project(rated_project)
    rated_project.store.patch(106, {"rating": 10})  # an unrated example is rated up through the journal
    result = split_project(rated_project)
    assert set(result.plan.assign) == {106}
    assert not rated_project.store.has_pending_journal()
    assert rated_project.store.read().get(106).split in ("train", "val")


# -- the property: val never moves ------------------------------------------------------------------------------
ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.lists(st.sampled_from([None, 3, 8, 9, 10]), min_size=1, max_size=12)),
        st.tuples(st.just("rate"), st.integers(0, 200), st.sampled_from([None, 2, 8, 10])),
        st.tuples(st.just("split"), st.sampled_from([0.5, 0.7, 0.8, 0.9]), st.integers(0, 3)),
    ),
    min_size=1,
    max_size=10,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_property_split_never_moves_an_example_between_train_and_val(sequence) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        project = Project.create(Path(tmp) / "p", name="p", provider="together", threshold=8)
        store = project.store
        ever: dict[int, str] = {}
        added = 0
        for op in sequence:
            if op[0] == "add":
                store.append(
                    [
                        {
                            "messages": [
                                {"role": "user", "content": f"q{added + k}"},
                                {"role": "assistant", "content": "a"},
                            ],
                            "rating": r,
                        }
                        for k, r in enumerate(op[1])
                    ],
                    check_duplicates=False,
                )
                added += len(op[1])
            elif op[0] == "rate" and added:
                store.patch(op[1] % added + 1, {"rating": op[2]})
            elif op[0] == "split":
                exs = store.read().heads
                eligible = [e for e in exs if e.rating is not None and e.rating >= 8]
                v_before = sum(e.split == "val" for e in eligible)
                n_new = sum(e.split is None for e in eligible)
                result = split_project(project, ratio=op[1], seed=op[2])
                target = half_up(len(eligible), op[1])
                assert result.summary.unassigned == 0
                assert result.summary.val == min(max(target, v_before), v_before + n_new)
            for ex in store.read().heads:
                if ex.split is not None:
                    assert ever.setdefault(ex.id, ex.split) == ex.split, f"example {ex.id} moved"


# -- the command -----------------------------------------------------------------------------------------------
def test_cli_split_prints_counts_ratio_and_ratings(ait, rated_project: Project) -> None:
    r = ait("split", cwd=rated_project.root)
    assert r.exit_code == 0, r.output
    assert "assigned 100 example(s): 80 to train, 20 to val" in r.stdout
    assert "achieved train ratio 0.800" in r.stdout
    assert "rating" in r.stdout and "10" in r.stdout
    r = ait("split", cwd=rated_project.root)
    assert "nothing new to assign" in r.stdout


def test_cli_split_json(ait, rated_project: Project) -> None:
    r = ait("split", "--json", "--ratio", "0.9", "--seed", "11", cwd=rated_project.root)
    data = json.loads(r.stdout)
    assert data["assigned"] == {"train": 90, "val": 10}
    assert (data["train"], data["val"], data["seed"], data["ratio"]) == (90, 10, 11, 0.9)
    assert data["byRating"]["10"]["val"] + data["byRating"]["9"]["val"] + data["byRating"]["8"]["val"] == 10


def test_cli_split_shows_excluded(ait, make_project, rec) -> None:
    p = make_project([rec(1, rating=4, split="val"), rec(2, rating=9)])
    r = ait("split", cwd=p.root)
    assert "Excluded" in r.stdout and "0 train, 1 val" in r.stdout


def test_cli_split_rejects_a_bad_ratio(ait, rated_project: Project) -> None:
    r = ait("split", "--ratio", "1.2", cwd=rated_project.root)
    assert r.exit_code == 2 and "between 0 and 1" in r.stderr


def test_cli_reshuffle_without_a_terminal_refuses_and_changes_nothing(ait, rated_project: Project) -> None:
    ait("split", cwd=rated_project.root)
    before = rated_project.examples_path.read_bytes()
    r = ait("split", "--reshuffle", cwd=rated_project.root)
    assert r.exit_code == 2 and "--yes" in r.stderr
    assert rated_project.examples_path.read_bytes() == before


def test_cli_reshuffle_with_yes(ait, rated_project: Project) -> None:
    ait("split", cwd=rated_project.root)
    r = ait("split", "--reshuffle", "--yes", "--seed", "99", "--json", cwd=rated_project.root)
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["moved"]["valToTrain"] == data["moved"]["trainToVal"] > 0
    assert (data["train"], data["val"]) == (80, 20)


@pytest.mark.parametrize("answer,changed", [("n", False), ("y", True)])
def test_cli_reshuffle_asks_on_a_terminal(rated_project: Project, answer: str, changed: bool) -> None:
    pexpect = pytest.importorskip("pexpect")
    split_project(rated_project)
    before = rated_project.examples_path.read_bytes()
    child = pexpect.spawn(
        sys.executable,
        ["-m", "aitelier", "split", "--reshuffle", "--seed", "5"],
        cwd=str(rated_project.root),
        env=dict(os.environ),
        encoding="utf-8",
        timeout=30,
    )
    child.expect(r"Reshuffle moves (\d+) validation example\(s\) to train")
    assert int(child.match.group(1)) > 0
    child.expect(r"\[y/N\]")
    child.sendline(answer)
    child.expect(pexpect.EOF)
    child.close()
    assert (rated_project.examples_path.read_bytes() != before) is changed
    assert child.exitstatus == (0 if changed else 1)


def test_default_seed_is_recorded(rated_project: Project) -> None:
    split_project(rated_project)
    assert json.loads(rated_project.config_path.read_text())["splitSeed"] == DEFAULT_SEED
