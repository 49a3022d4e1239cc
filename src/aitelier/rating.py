"""The rating session: queue, cursor, undo stack and summary, with no drawing and no terminal.

A front end (``ait rate`` in a terminal today, a web page later) shows :attr:`RatingSession.current`, turns a
key press into one call (:meth:`~RatingSession.rate`, :meth:`~RatingSession.skip`, :meth:`~RatingSession.rewrite`,
:meth:`~RatingSession.undo`) and draws again. Every call that changes an example is one ``Store.patch``: a small
append to the journal, fsynced before the call returns, so a rating survives Ctrl-C, a closed terminal or SIGKILL
the moment the call returns. :meth:`~RatingSession.close` folds the journal into examples.jsonl.

The session never holds the project lock while waiting for the person: each patch takes it for one append.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

from .errors import NotFound, UsageError
from .fsutil import now_iso
from .store import Snapshot, Store
from .store.records import ORIGINAL_TURN, Example

ORDERS = ("id", "random", "oldest")
RATE, SKIP, REWRITE = "rate", "skip", "rewrite"


@dataclass(frozen=True)
class Step:
    """One entry of the undo stack: what was done, to which example, and how to take it back."""

    kind: str  # RATE, SKIP or REWRITE
    id: int
    position: int  # the cursor before the step (undo returns there)
    awaiting: bool  # whether the example was waiting for a rating of rewritten text before the step
    before: Example | None  # the example before the step (None for a skip: nothing was written)
    after: Example | None
    score: int | None = None  # the rating given (RATE)
    turn: int | None = None  # the assistant turn replaced, 1-based (REWRITE)


@dataclass(frozen=True)
class Summary:
    shown: int
    rated: int
    rewritten: int
    skipped: int
    average: float | None  # of the ratings given in this session (undone ones excluded)
    remaining: int  # examples in the queue not reached yet

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "average": None if self.average is None else round(self.average, 2)}


def parse_score(key: str) -> int | None:
    """The rating a key stands for: ``1``-``9``, and ``0`` for 10; None for any other key."""
    if len(key) == 1 and key.isdigit() and key.isascii():
        return 10 if key == "0" else int(key)
    return None


def check_score(score: int) -> int:
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 10:
        raise UsageError(f"a rating must be an integer from 1 to 10, got {score!r}")
    return score


def _when(value: str | None) -> tuple[int, datetime]:
    """Sort key for --order oldest: a missing or unreadable createdAt comes first (such examples predate it)."""
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return (1, when if when.tzinfo else when.replace(tzinfo=timezone.utc))
    return (0, datetime.min.replace(tzinfo=timezone.utc))


class Entry:
    """One example of the queue: its id at hand, the full example loaded when it is shown."""

    __slots__ = ("snapshot", "row")

    def __init__(self, snapshot: Snapshot, row: int) -> None:
        self.snapshot = snapshot
        self.row = row

    @property
    def id(self) -> int:
        return self.snapshot.heads[self.row].id

    def load(self) -> Example:
        """The full example (pending journal changes applied); DataError with path:line if it is invalid."""
        return self.snapshot.example(self.row)


def select(
    index: Snapshot,
    *,
    min_rating: int | None = None,
    ids: Sequence[int] = (),
    order: str = "id",
    seed: int | None = None,
) -> list[Entry]:
    """The queue: the examples named by ``ids`` (in that order, rated or not), else the unrated ones plus, with
    ``min_rating``, those rated below it; in ``order`` (``id``: lowest first, ``oldest``: by createdAt, then
    id; ``random``: shuffled, reproducibly with ``seed``)."""
    if order not in ORDERS:
        raise UsageError(f"unknown order {order!r} (expected one of {', '.join(ORDERS)})")
    if ids:
        missing = [i for i in ids if index.row_of(i) is None]
        if missing:
            raise NotFound(
                f"no example with id {', '.join(map(str, missing))}", hint="`ait list` shows the ids"
            )
        return [Entry(index, index.find(i)) for i in dict.fromkeys(ids)]
    ratings = index.ratings
    if min_rating is not None:
        check_score(min_rating)
        rows = [row for row, r in enumerate(ratings) if r is None or r < min_rating]
    else:
        rows = [row for row, r in enumerate(ratings) if r is None]
    ident = index.ids.__getitem__
    rows.sort(key=ident)  # also the fixed starting point of a shuffle, so one seed always gives one queue
    if order == "oldest":
        created = index.created
        rows.sort(key=lambda row: _when(created[row]))  # stable: ties stay in id order
    elif order == "random":
        random.Random(seed).shuffle(rows)
    return [Entry(index, row) for row in rows]


def replace_turn(example: Example, text: str, turn: int | None = None) -> list[dict[str, Any]]:
    """The example's messages with assistant turn ``turn`` (1-based; None: the last) replaced by ``text``."""
    indexes = example.assistant_indexes()
    if not indexes:
        raise UsageError(f"example {example.id} has no assistant message to rewrite")
    if turn is None:
        turn = len(indexes)
    if not 1 <= turn <= len(indexes):
        raise UsageError(
            f"example {example.id} has {len(indexes)} assistant turn(s); there is no turn {turn}"
        )
    messages = [dict(m) for m in example.data["messages"]]
    messages[indexes[turn - 1]]["content"] = text
    return messages


def assistant_turn_text(example: Example, turn: int | None = None) -> str:
    indexes = example.assistant_indexes()
    if not indexes:
        return ""
    i = indexes[-1] if turn is None else indexes[turn - 1]
    return str(example.data["messages"][i]["content"])


class RatingSession:
    """A queue of examples to rate, a cursor into it and an undo stack. See the module docstring."""

    def __init__(self, store: Store, queue: Sequence[Entry], *, clock: Callable[[], str] = now_iso) -> None:
        self.store = store
        self.queue = list(queue)
        self.position = 0
        self.awaiting = False  # the current example was rewritten and waits for a rating of the new text
        self.steps: list[Step] = []
        self._clock = clock
        self._current: dict[int, Example] = {}  # examples as this session last wrote them
        self._shown: set[int] = set()
        self._mark_shown()

    @classmethod
    def open(
        cls,
        store: Store,
        *,
        min_rating: int | None = None,
        ids: Sequence[int] = (),
        order: str = "id",
        seed: int | None = None,
        clock: Callable[[], str] = now_iso,
    ) -> RatingSession:
        """Read the project's examples (strictly: DataError on any problem) and build the queue."""
        queue = select(store.read(), min_rating=min_rating, ids=ids, order=order, seed=seed)
        return cls(store, queue, clock=clock)

    # -- where we are ---------------------------------------------------------------------------------------
    @property
    def total(self) -> int:
        return len(self.queue)

    @property
    def done(self) -> bool:
        return self.position >= len(self.queue)

    @property
    def current(self) -> Example:
        """The example under the cursor, as it is now (changes made in this session included)."""
        if self.done:
            raise IndexError("the queue is finished")
        entry = self.queue[self.position]
        ex = self._current.get(entry.id)
        return ex if ex is not None else entry.load()

    @property
    def can_undo(self) -> bool:
        return bool(self.steps)

    @property
    def pending_rewrite(self) -> Step | None:
        """The rewrite of the current example that waits for a rating of the new text, if any."""
        if self.awaiting and self.steps and self.steps[-1].kind == REWRITE:
            return self.steps[-1]
        return None

    def _mark_shown(self) -> None:
        if not self.done:
            self._shown.add(self.queue[self.position].id)

    def _move(self, position: int) -> None:
        self.position = position
        self._mark_shown()

    # -- actions (each one durable when it returns) ---------------------------------------------------------
    def _write(self, before: Example, after: Example, keys: Sequence[str]) -> None:
        """Persist the change of ``keys`` from ``before`` to ``after`` as one journal patch."""
        set_fields = {k: after.data[k] for k in keys if k in after.data}
        unset = [k for k in keys if k not in after.data]
        self.store.patch(after.id, set_fields, unset)
        self._current[after.id] = after

    def rate(self, score: int) -> Step:
        """Give the current example ``score`` (1-10) and move to the next one."""
        check_score(score)
        before = self.current
        after = before.updated(rating=score, ratedAt=self._clock())
        self._write(before, after, ("rating", "ratedAt"))
        step = Step(RATE, before.id, self.position, self.awaiting, before, after, score)
        self.steps.append(step)
        self.awaiting = False
        self._move(self.position + 1)
        return step

    def skip(self) -> Step:
        """Leave the current example as it is and move on (nothing is written)."""
        ex = self.current
        step = Step(SKIP, ex.id, self.position, self.awaiting, None, None)
        self.steps.append(step)
        self.awaiting = False
        self._move(self.position + 1)
        return step

    def rewrite(self, text: str, turn: int | None = None) -> Step | None:
        """Replace assistant turn ``turn`` (1-based, default the last) with ``text``; stays on the example,
        which then waits for a rating of the new text. Returns None (and writes nothing) if the text is the same.

        The text before the first rewrite is kept in ``originalOutput`` and, in a multi-turn example, the
        number of the assistant turn it belongs to in ``originalOutputTurn``; ``version`` goes up by one.
        """
        if not text.strip():
            raise UsageError("the new output is empty; nothing was saved")
        before = self.current
        messages = replace_turn(before, text, turn)
        if messages == before.data["messages"]:
            return None
        fields: dict[str, Any] = {
            "messages": messages,
            "updatedAt": self._clock(),
            "version": before.version + 1,
        }
        if before.original_output is None:
            fields["originalOutput"] = assistant_turn_text(before, turn)
            n = len(before.assistant_indexes())
            if n > 1:  # which turn it was; without the field (one turn, the npm tool) it is the last one
                fields[ORIGINAL_TURN] = n if turn is None else turn
        after = before.updated(**fields)
        self._write(before, after, tuple(fields))
        turn = turn if turn is not None else len(before.assistant_indexes())
        step = Step(REWRITE, before.id, self.position, self.awaiting, before, after, turn=turn)
        self.steps.append(step)
        self.awaiting = True
        self._mark_shown()
        return step

    def undo(self) -> Step | None:
        """Take back the last step (also one on an earlier example) and return to that example."""
        if not self.steps:
            return None
        step = self.steps.pop()
        if step.before is not None and step.after is not None:
            from .curation import changed_fields  # curation imports this module

            self._write(step.after, step.before, sorted(changed_fields(step.before.data, step.after.data)))
        self.position = step.position
        self.awaiting = step.awaiting
        return step

    def warm_up(self) -> None:
        """Take and release the project lock once (loading the lock library, creating the lock file), so the
        first key press saves as fast as the others. Call it after drawing the first example."""
        with self.store.locked():
            pass

    # -- the end --------------------------------------------------------------------------------------------
    def summary(self) -> Summary:
        final: dict[int, int] = {}
        rewritten: set[int] = set()
        skipped: set[int] = set()
        for step in self.steps:
            if step.kind == RATE and step.score is not None:
                final[step.id] = step.score
            elif step.kind == REWRITE:
                rewritten.add(step.id)
            elif step.kind == SKIP:
                skipped.add(step.id)
        scores = list(final.values())
        return Summary(
            shown=len(self._shown),
            rated=len(final),
            rewritten=len(rewritten),
            skipped=len(skipped - set(final)),
            average=sum(scores) / len(scores) if scores else None,
            remaining=max(0, len(self.queue) - self.position),
        )

    def close(self) -> int:
        """Fold the journal into examples.jsonl (one atomic rewrite). Returns how many patches were folded.

        Raises DataError when the file has problems; the ratings stay in the journal and every read applies
        them, so nothing is lost (``ait doctor`` shows the problems).
        """
        return self.store.compact()


__all__ = [
    "ORDERS",
    "RATE",
    "REWRITE",
    "SKIP",
    "RatingSession",
    "Step",
    "Summary",
    "assistant_turn_text",
    "check_score",
    "parse_score",
    "replace_turn",
    "select",
]
