"""Preference pairs for DPO, with provenance: which example(s) each pair came from and why.

Two sources:

* **rewrite**: an example rewritten in `ait rate` (or `ait edit`) keeps the model's first reply in
  ``originalOutput``. The pair's input is the conversation up to the rewritten assistant turn, the preferred
  output that turn as it reads now, the rejected output the original. The turn is ``originalOutputTurn`` (1 =
  the first assistant turn); a one-turn example needs no such field. A multi-turn example rewritten before
  aitelier recorded the turn (or by the npm tool, which rewrites the first reply) cannot be paired: which
  turn the original belongs to is unknown, and such examples are listed in :attr:`PairSet.unpairable`.
* **ratings** (opt-in, ``min_gap``): two examples with the same input (every message before the last assistant
  message) whose ratings differ by at least ``min_gap``; the higher-rated reply is preferred.

The split (never leak val into train): a pair goes where its preferred example's locked split says, and only
when that example would go into the SFT files too (it has a split and is rated at or above the threshold).
A rating pair whose rejected example is in the *other* split is left out (``crossing``): its text belongs to
that split. A rejected example without a split may appear in either (it is in no file of its own).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .project import Project
    from .store import Snapshot

REWRITE = "rewrite"
RATINGS = "ratings"
SOURCES = (REWRITE, RATINGS)
DEFAULT_MIN_GAP = 3
# where a pair goes: a file, or why it is in none
TRAIN, VAL, UNSPLIT, EXCLUDED, CROSSING = "train", "val", "unsplit", "excluded", "crossing"
PLACES = (TRAIN, VAL, UNSPLIT, EXCLUDED, CROSSING)


@dataclass(frozen=True)
class Pair:
    """One preference pair and where it came from."""

    source: str  # rewrite or ratings
    preferred_id: int
    rejected_id: int  # the same example as preferred_id for a rewrite
    place: str  # train, val (the file it goes into), or unsplit, excluded, crossing (left out)
    input: list[dict[str, Any]]  # the messages before the compared reply ({role, content} each)
    preferred: str
    rejected: str
    turn: int | None = None  # rewrite: the assistant turn that was rewritten (1 = the first)
    gap: int | None = None  # ratings: how far apart the two ratings are

    @property
    def ids(self) -> tuple[int, ...]:
        return (
            (self.preferred_id,)
            if self.rejected_id == self.preferred_id
            else (self.preferred_id, self.rejected_id)
        )

    def line(self) -> dict[str, Any]:
        """The provider file line (Together, OpenAI and TRL all take this shape)."""
        return {
            "input": {"messages": self.input},
            "preferred_output": [{"role": "assistant", "content": self.preferred}],
            "non_preferred_output": [{"role": "assistant", "content": self.rejected}],
        }

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "source": self.source,
            "preferredId": self.preferred_id,
            "rejectedId": self.rejected_id,
            "place": self.place,
        }
        if self.turn is not None:
            out["turn"] = self.turn
        if self.gap is not None:
            out["gap"] = self.gap
        return {**out, **self.line()}


@dataclass(frozen=True)
class Unpairable:
    id: int
    reason: str


@dataclass
class PairSet:
    pairs: list[Pair] = field(default_factory=list)
    unpairable: list[Unpairable] = field(default_factory=list)
    min_gap: int | None = None  # None: no pairs from ratings were looked for

    def counts(self) -> dict[str, Any]:
        by_source = {s: sum(1 for p in self.pairs if p.source == s) for s in SOURCES}
        by_place = {s: sum(1 for p in self.pairs if p.place == s) for s in PLACES}
        return {
            "total": len(self.pairs),
            "bySource": by_source,
            "byPlace": by_place,
            "unpairable": len(self.unpairable),
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "minGap": self.min_gap,
            "counts": self.counts(),
            "pairs": [p.as_dict() for p in self.pairs],
            "unpairable": [{"id": u.id, "reason": u.reason} for u in self.unpairable],
        }


def _plain(messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def _assistant_indexes(messages: Sequence[dict[str, Any]]) -> list[int]:
    return [i for i, m in enumerate(messages) if m.get("role") == "assistant"]


NO_TURN = (
    "a multi-turn example rewritten before aitelier recorded which turn (originalOutputTurn) was rewritten, "
    "or by the npm tool; the turn of its original reply is unknown"
)


def rewrite_pair(record: dict[str, Any], place: str) -> Pair | Unpairable | None:
    """The pair of a rewritten example (None: it was never rewritten)."""
    original = record.get("originalOutput")
    if original is None:
        return None
    ident = int(record["id"])
    messages = record["messages"]
    turns = _assistant_indexes(messages)
    if not turns:
        return Unpairable(ident, "it has no assistant message")
    turn = record.get("originalOutputTurn")
    if turn is None:
        if len(turns) > 1:
            return Unpairable(ident, NO_TURN)
        turn = 1
    if turn > len(turns):
        return Unpairable(ident, f"originalOutputTurn is {turn} but it has {len(turns)} assistant turn(s)")
    at = turns[turn - 1]
    return Pair(
        REWRITE,
        ident,
        ident,
        place,
        _plain(messages[:at]),
        str(messages[at]["content"]),
        str(original),
        turn=turn,
    )


def _place(split: str | None, rating: Any, threshold: int) -> str:
    if split is None:
        return UNSPLIT
    if rating is None or rating < threshold:
        return EXCLUDED
    return split


def build_pairs(project: Project, *, min_gap: int | None = None, snap: Snapshot | None = None) -> PairSet:
    """Every pair the project's examples make (rewrite pairs; rating pairs too when ``min_gap`` is given),
    in id order, each placed in train, val or left out (see the module notes)."""
    snap = snap if snap is not None else project.store.read()
    threshold = project.threshold
    out = PairSet(min_gap=min_gap)
    for row in [r for r, h in enumerate(snap.heads) if h.originalOutput is not None]:
        record = snap.record(row)
        head = snap.heads[row]
        found = rewrite_pair(record, _place(head.split, head.rating, threshold))
        if isinstance(found, Pair):
            out.pairs.append(found)
        elif found is not None:
            out.unpairable.append(found)
    if min_gap is not None:
        out.pairs += rating_pairs(snap, min_gap, threshold)
    out.pairs.sort(key=lambda p: (p.preferred_id, p.rejected_id, p.source))
    out.unpairable.sort(key=lambda u: u.id)
    return out


def rating_pairs(snap: Snapshot, min_gap: int, threshold: int) -> list[Pair]:
    """Pairs of rated examples with the same input whose ratings differ by ``min_gap`` or more."""
    if min_gap < 1:
        from .errors import UsageError

        raise UsageError(f"--min-gap must be at least 1, got {min_gap}")
    groups: dict[tuple[str, ...], list[tuple[int, int, str | None, str, list[dict[str, Any]]]]] = {}
    for row, head in enumerate(snap.heads):
        if head.rating is None:
            continue
        messages = snap.record(row)["messages"]
        turns = _assistant_indexes(messages)
        if not turns:
            continue
        last = turns[-1]
        key = tuple(x for m in messages[:last] for x in (m["role"], m["content"]))
        if not key:
            continue
        groups.setdefault(key, []).append(
            (head.id, head.rating, head.split, str(messages[last]["content"]), messages[:last])
        )
    pairs: list[Pair] = []
    for members in groups.values():
        if len(members) < 2:
            continue
        for hi in members:
            for lo in members:
                gap = hi[1] - lo[1]
                if gap < min_gap:
                    continue
                place = _place(hi[2], hi[1], threshold)
                if place in (TRAIN, VAL) and lo[2] is not None and lo[2] != place:
                    place = CROSSING
                pairs.append(Pair(RATINGS, hi[0], lo[0], place, _plain(hi[4]), hi[3], lo[3], gap=gap))
    return pairs


__all__ = [
    "DEFAULT_MIN_GAP",
    "PLACES",
    "RATINGS",
    "REWRITE",
    "SOURCES",
    "Pair",
    "PairSet",
    "Unpairable",
    "build_pairs",
    "rating_pairs",
    "rewrite_pair",
]
