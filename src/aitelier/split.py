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

Pure functions plan and summarise; :func:`split_project` plans on the store's data read under the project lock,
records the seed and ratio in the config and rewrites only the lines whose split changes (``Store.rewrite``).
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, UsageError
from .store.records import UNSET

if TYPE_CHECKING:
    from .project import Project
    from .store import Snapshot
    from .store.store import Change

DEFAULT_RATIO = 0.8
DEFAULT_SEED = 42
SEED_KEY = "splitSeed"
RATIO_KEY = "splitRatio"


def check_ratio(ratio: float) -> float:
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 < ratio < 1:
        raise UsageError(f"the train ratio must be between 0 and 1 (exclusive), got {ratio!r}")
    return float(ratio)


def val_target(n: int, ratio: float) -> int:
    """How many of ``n`` eligible examples belong in val: round half up of n * (1 - ratio)."""
    return int(n * (1 - ratio) + 0.5 + 1e-9)


_MASK = (1 << 64) - 1


def order_keys(seed: int, idents: Iterable[int]) -> list[int]:
    """A stable pseudo-random rank of each example under a seed (splitmix64 of seed and id: pure integer
    arithmetic, so identical on every platform and Python version, and cheap enough for 100k examples)."""
    base = seed * 0x9E3779B97F4A7C15 + 0x94D049BB133111EB
    mask, m1, m2 = _MASK, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
    out: list[int] = []
    append = out.append
    for ident in idents:
        z = (base + ident * m1) & mask
        z = ((z ^ (z >> 30)) * m1) & mask
        z = ((z ^ (z >> 27)) * m2) & mask
        append(z ^ (z >> 31))
    return out


@dataclass
class Plan:
    assign: dict[int, str] = field(default_factory=dict)  # id -> "train" / "val" to set
    clear: list[int] = field(default_factory=list)  # ids whose split is removed (reshuffle of excluded ones)
    val_to_train: int = 0  # reshuffle only: how many val examples move to train
    train_to_val: int = 0


def plan_columns(
    ids: Sequence[int],
    ratings: Sequence[Any],
    splits: Sequence[Any],
    *,
    threshold: int,
    ratio: float,
    seed: int,
    reshuffle: bool = False,
) -> tuple[Plan, dict[int, str | None]]:
    """What to change so every eligible example has a split (see the module notes for the rules), from columns
    of ids, ratings and splits (a snapshot's): the plan, and what it changes by row: {row: new split, None for a
    cleared one} for the rows whose split changes.

    Written with comprehensions and counters rather than one loop with branches: it runs over 100,000 rows
    in the benchmark. Eligible means an int rating (not a bool) at or above the threshold.
    """
    ratio = check_ratio(ratio)
    plan = Plan()
    t = threshold
    rows = range(len(ids))
    if reshuffle:
        cleared = [
            row
            for row, r, s in zip(rows, ratings, splits, strict=True)
            if s is not None and not (r.__class__ is int and r >= t)
        ]
        plan.clear = [ids[row] for row in cleared]
        locked: Counter[tuple[int, Any]] = Counter()
        fresh = [(r, row) for row, r in zip(rows, ratings, strict=True) if r.__class__ is int and r >= t]
    else:
        cleared = []
        locked = Counter(
            {(r, s): n for (r, s), n in _count_pairs(ratings, splits).items() if r is not None and r >= t}
        )
        fresh = [
            (r, row)
            for row, r, s in zip(rows, ratings, splits, strict=True)
            if s is None and r.__class__ is int and r >= t
        ]
    changes: dict[int, str | None] = dict.fromkeys(cleared)
    locked_val = {r: n for (r, s), n in locked.items() if s == "val"}
    locked_train = {r: n for (r, s), n in locked.items() if s == "train"}
    new: dict[int, list[int]] = {}  # rating -> rows
    for r, row in fresh:
        new.setdefault(r, []).append(row)
    if not new:
        return plan, changes
    n_val = sum(locked_val.values())
    n_total = n_val + sum(locked_train.values()) + sum(len(v) for v in new.values())
    n_new = sum(len(v) for v in new.values())
    need = min(max(val_target(n_total, ratio) - n_val, 0), n_new)
    if n_total >= 2 and n_val + need == 0:
        need = 1  # an empty validation set evaluates nothing: keep one once there are two or more
    # give each new val place to the rating furthest below its own target share (ties: lower rating first)
    val_share = 1 - ratio
    alloc = {r: 0 for r in new}
    heap = []
    for r, group in new.items():
        total_r = locked_val.get(r, 0) + locked_train.get(r, 0) + len(group)
        heap.append((-(total_r * val_share - locked_val.get(r, 0)), r))
    heapq.heapify(heap)
    for _ in range(need):
        neg_deficit, r = heapq.heappop(heap)
        alloc[r] += 1
        if alloc[r] < len(new[r]):
            heapq.heappush(heap, (neg_deficit + 1, r))
    assign = plan.assign
    for r, group in new.items():
        keys = order_keys(seed, map(ids.__getitem__, group))
        ranked = [group[k] for k in sorted(range(len(group)), key=keys.__getitem__)]  # keys are all distinct
        k = alloc[r]
        for rows_of_side, side in ((ranked[:k], "val"), (ranked[k:], "train")):
            assign.update(zip(map(ids.__getitem__, rows_of_side), repeat(side)))
            if reshuffle:
                changes.update({row: side for row in rows_of_side if splits[row] != side})
            else:  # every new row had no split
                changes.update(zip(rows_of_side, repeat(side)))
    if reshuffle:
        for _r, row in fresh:
            old, split = splits[row], assign[ids[row]]
            if old == "val" and split == "train":
                plan.val_to_train += 1
            elif old == "train" and split == "val":
                plan.train_to_val += 1
    return plan, changes


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


def summarize_columns(
    ratings: Sequence[Any], splits: Sequence[Any], *, threshold: int, ratio: float = DEFAULT_RATIO
) -> Summary:
    """:func:`summarize` from columns (e.g. a store index's ``ratings`` and ``splits``)."""
    s = Summary(threshold, ratio)
    t = threshold
    # (rating, split) -> how many, counted at C speed; then a loop over a few keys
    counts = _count_pairs(ratings, splits)
    for (rating, split), n in counts.items():
        if rating is not None and rating >= t:
            row = s.by_rating.setdefault(rating, {"train": 0, "val": 0, "unassigned": 0})
            key = split if split in ("train", "val") else "unassigned"
            row[key] += n
            if key == "train":
                s.train += n
            elif key == "val":
                s.val += n
            else:
                s.unassigned += n
        elif split == "train":
            s.excluded_train += n
        elif split == "val":
            s.excluded_val += n
    return s


def _count_pairs(ratings: Sequence[Any], splits: Sequence[Any]) -> Counter[tuple[Any, Any]]:
    """How many rows have each (rating, split), counted at C speed, with every rating that is not an int (a
    bool, say, which would count as the int it equals; never in validated data) counted as None."""
    if not set(map(type, ratings)) <= {int, type(None)}:
        ratings = [r if r.__class__ is int else None for r in ratings]
    return Counter(zip(ratings, splits, strict=True))


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


@dataclass
class SplitResult:
    plan: Plan
    summary: Summary
    ratio: float
    seed: int
    rewritten: bool


def preview(
    project: Project, *, ratio: float | None = None, seed: int | None = None, reshuffle: bool = False
) -> Plan:
    """The plan a run would apply now (nothing is written); used to ask before a reshuffle."""
    ratio, seed = project_settings(project, ratio, seed)
    snap = project.store.read()
    return plan_columns(
        snap.ids,
        snap.ratings,
        snap.splits,
        threshold=project.threshold,
        ratio=ratio,
        seed=seed,
        reshuffle=reshuffle,
    )[0]


def split_project(
    project: Project, *, ratio: float | None = None, seed: int | None = None, reshuffle: bool = False
) -> SplitResult:
    """Assign splits in the project's examples.jsonl (and record seed and ratio in the config).

    The plan is made on the data read under the project lock, so a concurrent `ait add` or rating cannot be
    lost or mis-assigned; a malformed line stops the run with its file:line. Only the lines whose split
    changes are written anew (the others are copied as read); when nothing changes, examples.jsonl is not
    rewritten. The config is written first, so a config that cannot be written leaves the examples untouched.
    """
    ratio, seed = project_settings(project, ratio, seed)
    threshold = project.threshold
    made: list[tuple[Plan, dict[int, str | None], list[Any], list[Any]]] = []

    def assign(snap: Snapshot) -> dict[int, Change | None]:
        ratings, splits = snap.ratings, snap.splits
        plan, changes = plan_columns(
            snap.ids, ratings, splits, threshold=threshold, ratio=ratio, seed=seed, reshuffle=reshuffle
        )
        made.append((plan, changes, ratings, splits))
        cfg = project.config
        if cfg.get(SEED_KEY) != seed or cfg.get(RATIO_KEY) != ratio:

            def record(c: dict[str, Any]) -> None:
                c[SEED_KEY] = seed
                c[RATIO_KEY] = ratio

            project.update_config(record)
        to = {"train": {"split": "train"}, "val": {"split": "val"}, None: {"split": UNSET}}
        return {row: to[split] for row, split in changes.items()}

    project.store.rewrite(assign)
    plan, changes, ratings, splits = made[0]
    for row, split in changes.items():
        splits[row] = split
    summary = summarize_columns(ratings, splits, threshold=threshold, ratio=ratio)
    return SplitResult(plan, summary, ratio, seed, bool(changes))


__all__ = [
    "DEFAULT_RATIO",
    "DEFAULT_SEED",
    "Plan",
    "SplitResult",
    "Summary",
    "plan_columns",
    "preview",
    "split_project",
    "summarize_columns",
]
