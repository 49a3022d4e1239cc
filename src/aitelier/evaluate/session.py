"""The scoring and blind-comparison sessions: queue, cursor and undo stack, with no drawing and no terminal.

A front end (the terminal screen in :mod:`aitelier.ui.eval_screen` today) shows :attr:`Session.current`, turns
a key into one call (:meth:`~Session.answer`, :meth:`~Session.skip`, :meth:`~Session.undo`) and draws again.
Every call that changes an item is saved by :meth:`Eval.record` (an fsynced journal append) before it returns.
Nothing here holds a lock: a session waits for a person.

In a comparison the current item is shown as "A" and "B" only; which model is which is in the item (and the
file), and the session never hands a model name to the front end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .results import SCORE, Eval


@dataclass(frozen=True)
class Step:
    id: int
    position: int
    before: Any  # the item's answer before the step (None: none)
    before_skipped: bool


@dataclass(frozen=True)
class Shown:
    """What a front end may show of the current item (no model names)."""

    id: int
    input: list[dict[str, Any]]
    expected: str
    outputs: tuple[str, ...]  # (output,) for scoring, (A, B) for a comparison
    answer: Any  # the answer given earlier (a resumed or undone item)


class Session:
    """Items still to answer, in file order; the skipped ones come back only when nothing else is left."""

    def __init__(self, ev: Eval) -> None:
        self.eval = ev
        self.kind = ev.kind
        field = ev.answer_field
        items = ev.items
        queue = [it["id"] for it in items if it.get(field) is None and not it.get("skipped")]
        if not queue:
            queue = [it["id"] for it in items if it.get(field) is None]
        self.queue: list[int] = queue
        self.position = 0
        self.undo_stack: list[Step] = []

    @property
    def total(self) -> int:
        return len(self.queue)

    @property
    def done(self) -> bool:
        return self.position >= len(self.queue)

    @property
    def current(self) -> Shown:
        it = self.eval.item(self.queue[self.position])
        if self.kind == SCORE:
            outputs: tuple[str, ...] = (str(it["output"]),)
        else:
            outputs = (str(it["a_output"]), str(it["b_output"]))
        return Shown(
            it["id"], it["input"], str(it.get("expected", "")), outputs, it.get(self.eval.answer_field)
        )

    def answer(self, value: Any) -> Step:
        """Score the current item (1-5) or choose ("a", "b" or "tie"); saved when this returns."""
        return self._step(value, skipped=False)

    def skip(self) -> Step:
        return self._step(None, skipped=True)

    def _step(self, value: Any, *, skipped: bool) -> Step:
        if self.done:
            raise IndexError("the session is over")
        it = self.eval.item(self.queue[self.position])
        field = self.eval.answer_field
        step = Step(it["id"], self.position, it.get(field), bool(it.get("skipped")))
        self.eval.record(it["id"], value, skipped=skipped)
        self.undo_stack.append(step)
        self.position += 1
        return step

    def undo(self) -> Step | None:
        """Take the last step back (saved at once) and show its item again."""
        if not self.undo_stack:
            return None
        step = self.undo_stack.pop()
        self.eval.record(step.id, step.before, skipped=step.before_skipped)
        self.position = step.position
        return step
