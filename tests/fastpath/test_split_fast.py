"""`ait split` on the verified index must do exactly what the full read + plan + full rewrite did."""

from __future__ import annotations

import heapq
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aitelier import split as splitting
from aitelier.store.records import UNSET, Example

ROLES = ["system", "user", "assistant"]


def reference_plan(
    examples: list[Example], *, threshold: int, ratio: float, seed: int, reshuffle: bool = False
) -> splitting.Plan:
    """The planner as it was written before it ran on columns (one loop over examples), kept as the oracle."""

    def eligible(data: dict[str, Any]) -> bool:
        rating = data.get("rating")
        return isinstance(rating, int) and not isinstance(rating, bool) and rating >= threshold

    plan = splitting.Plan()
    locked_val: dict[int, int] = {}
    locked_train: dict[int, int] = {}
    new: dict[int, list[int]] = {}
    before: dict[int, str] = {}
    for ex in examples:
        data = ex.data
        split = data.get("split")
        ok = eligible(data)
        if reshuffle:
            if split is not None:
                before[data["id"]] = split
                if not ok:
                    plan.clear.append(data["id"])
            split = None
        if not ok:
            continue
        rating = data["rating"]
        if split == "val":
            locked_val[rating] = locked_val.get(rating, 0) + 1
        elif split == "train":
            locked_train[rating] = locked_train.get(rating, 0) + 1
        else:
            new.setdefault(rating, []).append(data["id"])
    if not new:
        return plan
    n_val = sum(locked_val.values())
    n_total = n_val + sum(locked_train.values()) + sum(len(v) for v in new.values())
    n_new = sum(len(v) for v in new.values())
    need = min(max(splitting.val_target(n_total, ratio) - n_val, 0), n_new)
    alloc = {r: 0 for r in new}
    heap = []
    for r, ids in new.items():
        total_r = locked_val.get(r, 0) + locked_train.get(r, 0) + len(ids)
        heap.append((-(total_r * (1 - ratio) - locked_val.get(r, 0)), r))
    heapq.heapify(heap)
    for _ in range(need):
        neg_deficit, r = heapq.heappop(heap)
        alloc[r] += 1
        if alloc[r] < len(new[r]):
            heapq.heappush(heap, (neg_deficit + 1, r))
    for r, ids in new.items():
        ranked = sorted(ids, key=lambda i: splitting.order_key(seed, i))
        for i in ranked[: alloc[r]]:
            plan.assign[i] = "val"
        for i in ranked[alloc[r] :]:
            plan.assign[i] = "train"
    if reshuffle:
        for ident, split in plan.assign.items():
            old = before.get(ident)
            if old == "val" and split == "train":
                plan.val_to_train += 1
            elif old == "train" and split == "val":
                plan.train_to_val += 1
    return plan


def reference_summary(examples: list[Example], *, threshold: int, ratio: float) -> dict[str, Any]:
    s = splitting.Summary(threshold, ratio)
    for ex in examples:
        data = ex.data
        split = data.get("split")
        if splitting.is_eligible(data, threshold):
            row = s.by_rating.setdefault(data["rating"], {"train": 0, "val": 0, "unassigned": 0})
            key = split if split in ("train", "val") else "unassigned"
            row[key] += 1
            setattr(s, key, getattr(s, key) + 1)
        elif split in ("train", "val"):
            setattr(s, f"excluded_{split}", getattr(s, f"excluded_{split}") + 1)
    return s.as_dict()


rating_st = st.one_of(st.none(), st.integers(1, 10), st.sampled_from([True, False, 8.0, "9"]))
example_st = st.builds(
    lambda i, r, s: Example(
        {"id": i, "messages": [], "rating": r, **({} if s == "absent" else {"split": s})}
    ),
    st.integers(1, 10**6),
    rating_st,
    st.sampled_from(["absent", None, "train", "val"]),
)


@settings(max_examples=200, deadline=None)
@given(
    examples=st.lists(example_st, max_size=40, unique_by=lambda ex: ex.data["id"]),
    threshold=st.integers(1, 10),
    ratio=st.floats(0.05, 0.95),
    seed=st.integers(-(2**70), 2**70),
    reshuffle=st.booleans(),
)
def test_planning_on_columns_matches_the_loop_it_replaced(examples, threshold, ratio, seed, reshuffle):
    got = splitting.plan_split(examples, threshold=threshold, ratio=ratio, seed=seed, reshuffle=reshuffle)
    want = reference_plan(examples, threshold=threshold, ratio=ratio, seed=seed, reshuffle=reshuffle)
    assert (got.assign, got.clear, got.val_to_train, got.train_to_val) == (
        want.assign,
        want.clear,
        want.val_to_train,
        want.train_to_val,
    )
    assert splitting.summarize(examples, threshold=threshold, ratio=ratio).as_dict() == reference_summary(
        examples, threshold=threshold, ratio=ratio
    )


@given(seed=st.integers(-(2**80), 2**80), ids=st.lists(st.integers(0, 2**62), max_size=30))
def test_order_keys_is_order_key_for_each_id(seed, ids):
    assert splitting.order_keys(seed, ids) == [splitting.order_key(seed, i) for i in ids]


# -- split_project against the old path (strict read, plan, apply, full rewrite) ---------------------------------
def _conversation(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f'q{i} "é"\n'}, {"role": "assistant", "content": f"a{i}"}]


line_st = st.builds(
    lambda i, rating, split, style: (i, rating, split, style),
    st.integers(1, 10**4),
    st.one_of(st.none(), st.integers(1, 10)),
    st.sampled_from(["absent", None, "train", "val"]),
    st.sampled_from(["canonical", "canonical", "canonical", "spaced", "ascii", "reordered"]),
)


def _line(i: int, rating: Any, split: Any, style: str) -> bytes:
    rec: dict[str, Any] = {
        "id": i,
        "messages": _conversation(i),
        "rating": rating,
        "createdAt": "c",
        "version": 1,
    }
    if split != "absent":
        rec["split"] = split
    if style == "reordered":
        rec = dict(reversed(list(rec.items())))
    sep = (", ", ": ") if style == "spaced" else (",", ":")
    return json.dumps(rec, separators=sep, ensure_ascii=style == "ascii").encode("utf-8")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(line_st, max_size=25, unique_by=lambda r: r[0]),
    patches=st.lists(st.tuples(st.integers(0, 24), st.one_of(st.none(), st.integers(1, 10))), max_size=4),
    reshuffle=st.booleans(),
    seed=st.integers(0, 5),
)
def test_split_project_writes_what_the_full_rewrite_wrote(project, rows, patches, reshuffle, seed):
    Path(project.examples_path).write_bytes(b"".join(_line(*r) + b"\n" for r in rows))
    Path(project.store.journal_path).unlink(missing_ok=True)
    for k, rating in patches:
        if k < len(rows):
            project.store.patch(
                rows[k][0], {"rating": rating} if rating else {}, [] if rating else ["rating"]
            )
    examples = project.store.read()
    plan = reference_plan(examples, threshold=project.threshold, ratio=0.8, seed=seed, reshuffle=reshuffle)
    after = splitting.apply_plan(examples, plan)
    before_bytes = Path(project.examples_path).read_bytes()
    expected = b"".join(ex.to_line() + b"\n" for ex in after)

    result = splitting.split_project(project, ratio=0.8, seed=seed, reshuffle=reshuffle)

    assert result.plan.assign == plan.assign and result.plan.clear == plan.clear
    assert (result.plan.val_to_train, result.plan.train_to_val) == (plan.val_to_train, plan.train_to_val)
    assert result.summary.as_dict() == reference_summary(after, threshold=project.threshold, ratio=0.8)
    written = Path(project.examples_path).read_bytes()
    if result.rewritten:
        assert written == expected
        assert not project.store.has_pending_journal()
    else:
        assert written == before_bytes  # nothing to change: not rewritten, the journal stays pending
        assert [ex.data for ex in project.store.read()] == [ex.data for ex in after]


def test_split_refuses_a_malformed_conversation_with_its_line(ait, project):
    good = _line(1, 9, "absent", "canonical")
    bad = b'{"id":2,"messages":[{"role":"user","content":"q"},{"role":"robot","content":"a"}],"rating":9}'
    data = good + b"\n" + bad + b"\n"
    Path(project.examples_path).write_bytes(data)
    r = ait("split", cwd=project.root)
    assert r.exit_code == 3
    assert "examples.jsonl:2: message 2 has role 'robot'" in r.stderr
    assert Path(project.examples_path).read_bytes() == data


def test_split_refuses_a_raw_control_character(ait, project):
    bad = b'{"id":1,"messages":[{"role":"user","content":"tab\there"}],"rating":9}'
    Path(project.examples_path).write_bytes(bad + b"\n")
    r = ait("split", cwd=project.root)
    assert r.exit_code == 3 and "examples.jsonl:1: invalid JSON" in r.stderr


def test_split_changes_only_the_split_field_of_canonical_lines(ait, project):
    lines = [_line(i, 9, "absent", "canonical") for i in range(1, 11)]
    Path(project.examples_path).write_bytes(b"".join(x + b"\n" for x in lines))
    r = ait("split", "--json", cwd=project.root)
    assert r.exit_code == 0, r.stderr
    out = Path(project.examples_path).read_bytes().split(b"\n")[:-1]
    for old, new in zip(lines, out, strict=True):
        side = json.loads(new)["split"]
        assert new == old[:-1] + b',"split":"' + side.encode() + b'"}'
    assert json.loads(r.stdout)["rewritten"] is True
    again = ait("split", "--json", cwd=project.root)
    assert json.loads(again.stdout)["rewritten"] is False


@pytest.mark.parametrize("split", ["train", "val"])
def test_a_split_cleared_by_reshuffle_is_removed_from_the_line(ait, project, split):
    line = _line(1, 2, split, "canonical")  # below the threshold: excluded, cleared by a reshuffle
    Path(project.examples_path).write_bytes(line + b"\n")
    r = ait("split", "--reshuffle", "--yes", cwd=project.root)
    assert r.exit_code == 0, r.stderr
    assert (
        Path(project.examples_path).read_bytes()
        == Example(json.loads(line)).updated(split=UNSET).to_line() + b"\n"
    )
