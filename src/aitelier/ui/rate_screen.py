"""The `ait rate` screen: draws one example at a time, reads single keys, and stops cleanly on signals.

Every decision about the queue, undo and what is written lives in :class:`aitelier.rating.RatingSession`; this
module only draws, reads keys and asks. Each key that changes an example is saved (one fsynced journal append)
before the screen is drawn again. Ctrl-C, a closed terminal (SIGHUP) and SIGTERM end the session cleanly: the
summary is printed and the journal folded into examples.jsonl. A signal that arrives while a key is being handled
waits until the key's change is saved, so the summary never misses a saved rating.
"""

from __future__ import annotations

import contextlib
import signal
from typing import TYPE_CHECKING

from .keys import (
    ENTER,
    STOP_SIGNALS,
    KeyReader,
    KeyScreen,
    Stop,
    stop_if_gone,
)

if TYPE_CHECKING:
    from types import FrameType

    from ..cli.env import Env
    from ..rating import RatingSession, Summary

KEYS_LINE = "1-9 0 rate (0 = 10)   r rewrite   s skip   u undo   ? keys   q quit"
HELP = """\
Keys (no Enter needed):

  1 ... 9   rate the output 1 to 9
  0         rate it 10
  r         rewrite the assistant output in $VISUAL / $EDITOR (or here if
            neither is set), then rate the new text; the text before the
            first rewrite is kept in originalOutput
  s         skip: leave this example as it is (it comes back next session)
  u         undo the last action (also one on an earlier example)
  ?         this help
  q         quit (Ctrl-C too); the summary follows

Every key is saved the moment you press it."""


def close_session(env: Env, session: RatingSession) -> None:
    """Fold the journal into examples.jsonl; on failure say why what this session saved is still safe.

    Only changes that reached the journal are claimed: when nothing was saved (say the disk refused the very
    first one, and the command is already failing with that error), there is nothing to report.
    """
    from ..errors import AitelierError, describe_os_error

    try:
        session.close()
    except (AitelierError, OSError) as e:  # a problem in the file, the lock, or the disk (full?)
        summary = session.summary()
        saved = summary.rated + summary.rewritten
        if not saved:
            return
        why = describe_os_error(e) if isinstance(e, OSError) else str(e)
        with contextlib.suppress(OSError):  # the terminal may be gone too (SIGHUP)
            env.warn(
                f"could not fold this session's {saved} change(s) into {session.store.path.name}: {why}. "
                f"They are saved in {session.store.journal_path} and every command applies them; "
                "run `ait doctor`"
            )


# -- the terminal session -----------------------------------------------------------------------------------------
class _Cancel(Exception):
    """Ctrl-C while typing a rewrite in the inline editor: drop the rewrite, not the session."""


# Besides waiting for a key (a signal stops at once) or saving (it stops once the change is saved), the screen may
# be running the editor (Ctrl-C belongs to the editor; a hang-up still stops after it) or reading typed text.
_EDITOR, _TYPING = "editor", "typing"


class RateScreen(KeyScreen):
    signals = [signal.SIGINT, *STOP_SIGNALS]  # a Ctrl-C waits until the key's change is saved

    def __init__(self, env: Env, session: RatingSession) -> None:
        super().__init__(env)
        self.session = session

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT and self.mode == _EDITOR:
            return  # the editor got it too; it decides what Ctrl-C means
        if signum == signal.SIGINT and self.mode == _TYPING:
            raise _Cancel()
        if self.mode == _TYPING:
            raise Stop(signum)
        super()._on_signal(signum, frame)

    def _loop(self, keys: KeyReader) -> None:
        from ..rating import parse_score

        s = self.session
        first = True
        while True:
            if s.done:
                self._draw_done()
                if self._key(keys) == "u" and s.can_undo:
                    self._undo()
                    continue
                return
            with stop_if_gone():
                self._draw()
            if first:
                s.warm_up()  # while the person reads the first example
                first = False
            key = self._command(keys)
            self.message = ""
            if key is None:
                return
            score = parse_score(key)
            if score is not None:
                step = s.rate(score)
                self.message = f"Saved: example {step.id} rated {score}."
            elif key in ("s", "S"):
                step = s.skip()
                self.message = f"Skipped example {step.id}."
            elif key in ("u", "U"):
                self._undo()
            elif key in ("r", "R"):
                self._rewrite(keys)
            elif key == "?":
                self._clear()
                self._say(f"{HELP}\n\nPress any key to go back.")
                self._key(keys)
            elif key.startswith("\x1b") or key in ("enter", "esc"):
                pass
            else:
                self.message = f"The key {key!r} does nothing here; ? shows the keys."
            self._check_pending()

    def _undo(self) -> None:
        step = self.session.undo()
        if step is None:
            self.message = "Nothing to undo."
        else:
            what = {"rate": f"rating {step.score}", "skip": "skip", "rewrite": "rewrite"}[step.kind]
            self.message = f"Undone: the {what} of example {step.id}."

    # -- rewrite --------------------------------------------------------------------------------------------
    def _rewrite(self, keys: KeyReader) -> None:
        from ..curation import clean_text
        from ..editor import EditorFailed, edit_text, has_editor
        from ..rating import assistant_turn_text

        ex = self.session.current
        count = len(ex.assistant_indexes())
        if count == 0:
            self.message = "This example has no assistant message to rewrite."
            return
        turn = count
        if count > 1:
            chosen = self._choose_turn(keys, count)
            if chosen is None:
                self.message = "Rewrite cancelled."
                return
            turn = chosen
        original = assistant_turn_text(ex, turn)
        try:
            with keys.cooked():
                if has_editor(self.env.environ):
                    self.mode = _EDITOR
                    text = edit_text(
                        original, suffix=".md", prefix=f"ait-rewrite-{ex.id}-", environ=self.env.environ
                    )
                else:
                    text = self._type_text(original)
        except EditorFailed as e:
            self.message = f"Rewrite not saved: {e}."
            return
        except _Cancel:
            self.message = "Rewrite cancelled; nothing was saved."
            return
        finally:
            self.mode = self.BUSY
        text = clean_text(text)
        if not text:
            self.message = "The new text is empty; nothing was saved."
            return
        if text == clean_text(original):
            self.message = "The text is unchanged; nothing was saved."
            return
        step = self.session.rewrite(text, turn)
        if step is not None and step.after is not None:
            self.message = f"Saved the rewrite (version {step.after.version})."

    def _choose_turn(self, keys: KeyReader, count: int) -> int | None:
        if count > 9:
            self._say(f"Rewrite which assistant turn? Type 1-{count}, then Enter (empty: the last).")
            with keys.cooked():
                self.mode = _TYPING
                try:
                    line = self.env.stdin.readline().strip()
                except _Cancel:
                    return None
                finally:
                    self.mode = self.BUSY
            if not line:
                return count
            return int(line) if line.isdigit() and 1 <= int(line) <= count else None
        self._say(f"Rewrite which assistant turn? 1-{count} (Enter: the last, any other key cancels)")
        key = self._key(keys)
        if key == ENTER:
            return count
        return int(key) if key.isdigit() and 1 <= int(key) <= count else None

    def _type_text(self, original: str) -> str:
        """The inline editor, for when no $VISUAL / $EDITOR is set: lines up to one holding only '.'."""
        self._say(
            "\nNo $EDITOR is set, so type the new text here (or set EDITOR, e.g. `export EDITOR=nano`).\n"
            f"The current text, for reference:\n\n{original}\n\n"
            "New text: end with a line holding only '.' (Ctrl-D also ends it, Ctrl-C cancels)."
        )
        self.mode = _TYPING
        text, _ = self.env.read_block()
        self.mode = self.BUSY
        return text

    # -- drawing --------------------------------------------------------------------------------------------
    def _draw(self) -> None:
        from rich.text import Text

        from .conversation import conversation

        s = self.session
        ex = s.current
        color = self.env.color
        console = self.env.console
        self._clear()
        rated = "unrated" if ex.rating is None else f"rated {ex.rating}"
        head = Text()
        head.append(f"{s.position + 1}/{s.total}", style="bold" if color else "")
        head.append(f"   example {ex.id}   {rated}")
        if ex.split:
            head.append(f"   {ex.split} split")
        if ex.version > 1:
            head.append(f"   version {ex.version}")
        console.print(head)
        pending = s.pending_rewrite
        console.print(conversation(ex, color=color, highlight_turn=pending.turn if pending else None))
        console.print()
        if pending is not None:
            console.print(
                Text(
                    "Rewritten: rate the new text (s leaves it unrated, u undoes the rewrite).",
                    style="bold yellow" if color else "",
                )
            )
        if self.message:
            console.print(Text(self.message, style="yellow" if color else ""))
        console.print(Text(KEYS_LINE, style="dim" if color else ""))
        self.env.stdout.flush()

    def _draw_done(self) -> None:
        self._clear()
        if self.message:
            self._say(self.message)
        self._say(f"That was the last of the {self.session.total} example(s) in this session.")
        if self.session.can_undo:
            self._say("Press u to undo the last action, or any other key to finish.")
        else:
            self._say("Press any key to finish.")

    # -- the end --------------------------------------------------------------------------------------------
    def _finish(self) -> None:
        """Print the summary, then fold the journal (seconds on a big file; every rating is already saved).

        The terminal may be gone (SIGHUP), so writing to it may fail; the folding happens regardless.
        """
        with contextlib.suppress(OSError):
            self.env.out("")
            for line in summary_lines(self.session.summary()):
                self.env.out(line)
        close_session(self.env, self.session)


def summary_lines(summary: Summary) -> list[str]:
    average = "no ratings" if summary.average is None else f"average {summary.average:.1f}"
    lines = [
        f"Shown {summary.shown}, rated {summary.rated}, rewritten {summary.rewritten}, "
        f"skipped {summary.skipped}; {average}."
    ]
    left = summary.remaining + summary.skipped
    if left:
        lines.append(f"{left} example(s) of this queue are left; `ait rate` picks them up next time.")
    return lines
