"""The train/validation split: deterministic, stratified by rating, and locked.

Rules (the npm tool re-split train on every run, so its val set grew each time; this does not):

* Only examples rated at or above the threshold take part ("eligible").
* An assigned split is never changed by a normal run: val stays val, train stays train. A run only assigns
  eligible examples that have no split yet, choosing how many go to val so that the overall val share comes
  as close as possible to ``1 - ratio``, and spreading them over the ratings so each rating keeps roughly the
  same share (proportional stratification).
* Which examples of a rating go to val is decided by a keyed hash of (seed, id), so the same data and seed
  always give the same split, and the choice for one example does not depend on which others exist.
* An example that falls below the threshold keeps its recorded split but is left out of the exported files
  ("excluded"); if it is rated up again it returns to the same side.
* ``reshuffle`` clears every split and assigns all eligible examples afresh (the caller confirms first).

Pure functions plan and summarise; :func:`split_project` applies a plan through ``store.update`` (under the
project lock, re-planned on the fresh data) and records the seed and ratio in the config.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, UsageError
from .store.records import UNSET, Example

if TYPE_CHECKING:
    from .project import Project

DEFAULT_RATIO = 0.8
DEFAULT_SEED = 42
SEED_KEY = "splitSeed"
RATIO_KEY = "splitRatio"


def is_eligible(data: dict[str, Any], threshold: int) -> bool:
    rating = data.get("rating")
    return isinstance(rating, int) and not isinstance(rating, bool) and rating >= threshold


def check_ratio(ratio: float) -> float:
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 < ratio < 1:
        raise UsageError(f"the train ratio must be between 0 and 1 (exclusive), got {ratio!r}")
    return float(ratio)


def val_target(n: int, ratio: float) -> int:
    """How many of ``n`` eligible examples belong in val: round half up of n * (1 - ratio)."""
    return int(n * (1 - ratio) + 0.5 + 1e-9)


_MASK = (1 << 64) - 1


def order_key(seed: int, ident: int) -> int:
    """A stable pseudo-random rank of one example under a seed (splitmix64 of seed and id: pure integer
    arithmetic, so identical on every platform and Python version, and cheap enough for 100k examples)."""
    z = (seed * 0x9E3779B97F4A7C15 + ident * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


@dataclass
class Plan:
    assign: dict[int, str] = field(default_factory=dict)  # id -> "train" / "val" to set
    clear: list[int] = field(default_factory=list)  # ids whose split is removed (reshuffle of excluded ones)
    val_to_train: int = 0  # reshuffle only: how many val examples move to train
    train_to_val: int = 0

    @property
    def empty(self) -> bool:
        return not self.assign and not self.clear


def plan_split(
    examples: Iterable[Example], *, threshold: int, ratio: float, seed: int, reshuffle: bool = False
) -> Plan:
    """What to change so every eligible example has a split (see the module notes for the rules)."""
    ratio = check_ratio(ratio)
    plan = Plan()
    locked_val: dict[int, int] = {}
    locked_train: dict[int, int] = {}
    new: dict[int, list[int]] = {}
    before: dict[int, str] = {}
    for ex in examples:
        data = ex.data
        split = data.get("split")
        eligible = is_eligible(data, threshold)
        if reshuffle:
            if split is not None:
                before[data["id"]] = split
                if not eligible:
                    plan.clear.append(data["id"])
            split = None
        if not eligible:
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
    need = min(max(val_target(n_total, ratio) - n_val, 0), n_new)
    # give each new val place to the rating furthest below its own target share (ties: lower rating first)
    val_share = 1 - ratio
    alloc = {r: 0 for r in new}
    heap = []
    for r, ids in new.items():
        total_r = locked_val.get(r, 0) + locked_train.get(r, 0) + len(ids)
        heap.append((-(total_r * val_share - locked_val.get(r, 0)), r))
    heapq.heapify(heap)
    for _ in range(need):
        neg_deficit, r = heapq.heappop(heap)
        alloc[r] += 1
        if alloc[r] < len(new[r]):
            heapq.heappush(heap, (neg_deficit + 1, r))
    for r, ids in new.items():
        ranked = sorted(ids, key=lambda i: order_key(seed, i))
        k = alloc[r]
        for i in ranked[:k]:
            plan.assign[i] = "val"
        for i in ranked[k:]:
            plan.assign[i] = "train"
    if reshuffle:
        for ident, split in plan.assign.items():
            old = before.get(ident)
            if old == "val" and split == "train":
                plan.val_to_train += 1
            elif old == "train" and split == "val":
                plan.train_to_val += 1
    return plan


def apply_plan(examples: list[Example], plan: Plan) -> list[Example]:
    """The examples with the plan applied; untouched examples are the same objects (byte-identical lines)."""
    if plan.empty:
        return examples
    clear = set(plan.clear)
    out = []
    assign = plan.assign
    for ex in examples:
        ident = ex.data["id"]
        target = assign.get(ident)
        if target is not None:
            if ex.data.get("split") != target:
                ex = ex.updated(split=target)
        elif ident in clear and "split" in ex.data:
            ex = ex.updated(split=UNSET)
        out.append(ex)
    return out


@dataclass
class Summary:
    threshold: int
    ratio: float
    train: int = 0  # eligible examples in train
    val: int = 0
    unassigned: int = 0  # eligible examples with no split yet
    excluded_train: int = 0  # below the threshold now but with a recorded split (kept out of exports)
    excluded_val: int = 0
    by_rating: dict[int, dict[str, int]] = field(default_factory=dict)

    @property
    def achieved_ratio(self) -> float | None:
        n = self.train + self.val
        return self.train / n if n else None

    @property
    def excluded(self) -> int:
        return self.excluded_train + self.excluded_val

    def as_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "ratio": self.ratio,
            "train": self.train,
            "val": self.val,
            "unassigned": self.unassigned,
            "achievedRatio": None if self.achieved_ratio is None else round(self.achieved_ratio, 4),
            "excluded": {"train": self.excluded_train, "val": self.excluded_val},
            "byRating": {str(r): dict(v) for r, v in sorted(self.by_rating.items())},
        }


def summarize(examples: Iterable[Example], *, threshold: int, ratio: float = DEFAULT_RATIO) -> Summary:
    s = Summary(threshold, ratio)
    for ex in examples:
        data = ex.data
        split = data.get("split")
        if is_eligible(data, threshold):
            row = s.by_rating.setdefault(data["rating"], {"train": 0, "val": 0, "unassigned": 0})
            if split == "train":
                s.train += 1
                row["train"] += 1
            elif split == "val":
                s.val += 1
                row["val"] += 1
            else:
                s.unassigned += 1
                row["unassigned"] += 1
        elif split == "train":
            s.excluded_train += 1
        elif split == "val":
            s.excluded_val += 1
    return s


def project_settings(project: Project, ratio: float | None, seed: int | None) -> tuple[float, int]:
    """The ratio and seed to use: the flags, else the ones recorded in the config, else the defaults."""
    cfg = project.config
    if ratio is None:
        stored = cfg.get(RATIO_KEY)
        if stored is not None:
            try:
                ratio = check_ratio(stored)
            except UsageError as e:
                raise ConfigError(f"`{RATIO_KEY}` in .aitelier.json: {e.message}") from e
        else:
            ratio = DEFAULT_RATIO
    if seed is None:
        stored_seed = cfg.get(SEED_KEY)
        if stored_seed is not None and (isinstance(stored_seed, bool) or not isinstance(stored_seed, int)):
            raise ConfigError(f"`{SEED_KEY}` in .aitelier.json must be an integer, got {stored_seed!r}")
        seed = DEFAULT_SEED if stored_seed is None else stored_seed
    return check_ratio(ratio), seed


class _Unchanged(Exception):
    def __init__(self, examples: list[Example]) -> None:
        super().__init__("nothing to change")
        self.examples = examples


@dataclass
class SplitResult:
    plan: Plan
    summary: Summary
    ratio: float
    seed: int
    rewritten: bool


def preview(
    project: Project, *, ratio: float | None = None, seed: int | None = None, reshuffle: bool = False
) -> tuple[Plan, float, int]:
    """The plan a run would apply now (nothing is written); used to ask before a reshuffle."""
    ratio, seed = project_settings(project, ratio, seed)
    examples = project.store.read()
    return (
        plan_split(examples, threshold=project.threshold, ratio=ratio, seed=seed, reshuffle=reshuffle),
        ratio,
        seed,
    )


def split_project(
    project: Project, *, ratio: float | None = None, seed: int | None = None, reshuffle: bool = False
) -> SplitResult:
    """Assign splits in the project's examples.jsonl (and record seed and ratio in the config).

    The plan is made on the data read under the project lock, so a concurrent `ait add` or rating cannot be
    lost or mis-assigned. When there is nothing to change, examples.jsonl is not rewritten.
    """
    ratio, seed = project_settings(project, ratio, seed)
    threshold = project.threshold
    store = project.store
    box: dict[str, Plan] = {}

    def change(current: list[Example]) -> list[Example]:
        plan = plan_split(current, threshold=threshold, ratio=ratio, seed=seed, reshuffle=reshuffle)
        box["plan"] = plan
        if plan.empty:
            raise _Unchanged(current)  # leaves examples.jsonl untouched (update() writes only on return)
        return apply_plan(current, plan)

    final: Sequence[Example]
    with store.locked():
        try:
            final = store.update(change)
        except _Unchanged as e:
            final = e.examples
        cfg = project.config
        if cfg.get(SEED_KEY) != seed or cfg.get(RATIO_KEY) != ratio:

            def record(c: dict[str, Any]) -> None:
                c[SEED_KEY] = seed
                c[RATIO_KEY] = ratio

            project.update_config(record)
    plan = box["plan"]
    return SplitResult(plan, summarize(final, threshold=threshold, ratio=ratio), ratio, seed, not plan.empty)


__all__ = [
    "DEFAULT_RATIO",
    "DEFAULT_SEED",
    "Plan",
    "SplitResult",
    "Summary",
    "apply_plan",
    "is_eligible",
    "plan_split",
    "preview",
    "split_project",
    "summarize",
]
