"""The terminal front end of ``ait eval``: the scoring and blind-comparison screens, progress and summaries.

Every decision (queue, undo, what is saved) lives in :class:`aitelier.evaluate.session.Session`; this module
reads keys and draws. Each key that changes an item is saved (an fsynced journal append) before the screen is
drawn again, so Ctrl-C, a closed terminal or SIGKILL never lose a given score. In a comparison no model name is
drawn before the session ends: the outputs are "A" and "B" and the header says only which item this is.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from .keys import KeyReader, KeyScreen

if TYPE_CHECKING:
    from ..cli.env import Env
    from ..evaluate.results import Eval
    from ..evaluate.runner import Progress
    from ..evaluate.session import Session

SCORE_KEYS = "1-5 score   s skip   u undo   q quit   up/down/space scroll"
COMPARE_KEYS = "a A better   b B better   t tie   s skip   u undo   q quit   up/down/space scroll"
WIDE = 110  # columns from which the outputs sit side by side


class EvalScreen(KeyScreen):
    def __init__(self, env: Env, session: Session, *, show_expected: bool = True) -> None:
        super().__init__(env)
        self.session = session
        self.show_expected = show_expected
        self.offset = 0  # first line shown (scrolling)

    def _loop(self, keys: KeyReader) -> None:
        s = self.session
        compare = s.kind == "compare"
        choices = {"a": "a", "b": "b", "t": "tie"}
        while not s.done:
            self._draw()
            key = self._command(keys)
            if key is None:
                return
            key = key.lower() if len(key) == 1 else key
            before = self.message
            self.message = ""
            if not compare and key in ("1", "2", "3", "4", "5"):
                step = s.answer(int(key))
                self.message = f"Saved: example {step.id} scored {key}."
                self.offset = 0
            elif compare and key in choices:
                step = s.answer(choices[key])
                said = "a tie" if key == "t" else f"{key.upper()} better"
                self.message = f"Saved: example {step.id}, {said}."
                self.offset = 0
            elif key == "s":
                step = s.skip()
                self.message = f"Skipped example {step.id}."
                self.offset = 0
            elif key == "u":
                undone = s.undo()
                self.message = "Nothing to undo." if undone is None else f"Undone: example {undone.id}."
                self.offset = 0
            elif key in ("\x1b[B", "j", " ", "\x1b[6~"):
                self.offset += self._page() if key in (" ", "\x1b[6~") else 1
                self.message = before
            elif key in ("\x1b[A", "k", "\x1b[5~"):
                self.offset = max(0, self.offset - (self._page() if key == "\x1b[5~" else 1))
                self.message = before
            else:
                self.message = f"The key {key!r} does nothing here."
            self._check_pending()

    # -- drawing --------------------------------------------------------------------------------------------
    def _size(self) -> tuple[int, int]:
        columns, lines = self.env.terminal_size
        return max(40, columns), max(8, lines)

    def _page(self) -> int:
        return max(1, self._size()[1] - 4)

    def _blocks(self, width: int) -> list[Any]:
        from rich.table import Table
        from rich.text import Text

        s = self.session
        shown = s.current
        color = self.env.color
        bold = "bold" if color else ""
        out: list[Any] = []
        head = Text(f"{s.position + 1}/{s.total}   example {shown.id}", style=bold)
        if shown.answer is not None:
            head.append(f"   (was {shown.answer})")
        out.append(head)
        out.append(Text("Input", style=bold))
        for m in shown.input:
            out.append(Text(f"[{m['role']}]", style="cyan" if color else ""))
            out.append(Text(str(m["content"])))
        if s.kind == "score":
            panes = [("Expected", shown.expected), ("Model output", shown.outputs[0])]
        else:
            panes = [("A", shown.outputs[0]), ("B", shown.outputs[1])]
            if self.show_expected:
                out.append(Text("Expected", style=bold))
                out.append(Text(shown.expected))
        out.append(Text(""))
        if width >= WIDE:
            table = Table(show_header=True, header_style=bold, box=None, expand=True, padding=(0, 2, 0, 0))
            for title, _ in panes:
                table.add_column(title, ratio=1, overflow="fold")
            table.add_row(*(Text(text) for _, text in panes))
            out.append(table)
        else:
            for title, text in panes:
                out.append(Text(f"── {title} ──", style=bold))
                out.append(Text(text))
        return out

    def _draw(self) -> None:
        from rich.console import Group

        console = self.env.console
        width, height = self._size()
        with console.capture() as captured:
            console.print(Group(*self._blocks(width)), width=width)
        lines = captured.get().rstrip("\n").split("\n")
        body_rows = max(1, height - 3)
        self.offset = max(0, min(self.offset, max(0, len(lines) - body_rows)))
        window = lines[self.offset : self.offset + body_rows]
        status = self.message
        if len(lines) > body_rows:
            status += f"   lines {self.offset + 1}-{self.offset + len(window)} of {len(lines)}"
        keys = SCORE_KEYS if self.session.kind == "score" else COMPARE_KEYS
        self._clear()
        self._say("\n".join([*window, *([status.strip()] if status.strip() else []), keys]))


# -- progress and summaries -----------------------------------------------------------------------------------------
class ProgressBar:
    """``Generating  37/400 [=====       ] 9%  ETA 0:12`` on stderr when it is a terminal; silent otherwise."""

    def __init__(self, env: Env, label: str) -> None:
        self.env = env
        self.label = label
        self.live = bool(getattr(env.stderr, "isatty", lambda: False)())
        self.last = 0.0

    def __call__(self, p: Progress) -> None:
        if not self.live:
            return
        now = time.monotonic()
        if p.done < p.total and now - self.last < 0.1:
            return
        self.last = now
        width = 24
        filled = int(width * p.done / p.total) if p.total else width
        eta = p.eta
        tail = f"  ETA {int(eta) // 60}:{int(eta) % 60:02d}" if eta is not None else ""
        cached = f"  ({p.cached} cached)" if p.cached else ""
        pct = int(100 * p.done / p.total) if p.total else 100
        line = (
            f"\r{self.label} {p.done}/{p.total} [{'=' * filled}{' ' * (width - filled)}] {pct}%{tail}{cached}"
        )
        self.env.stderr.write(line + "\x1b[K")
        if p.done >= p.total:
            self.env.stderr.write("\n")
        self.env.stderr.flush()


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def score_lines(figures: dict[str, Any], who: str = "") -> list[str]:
    if not figures.get("scored"):
        return [f"{who}no scores yet."]
    s = figures["sendable"]
    return [
        f"{who}average {figures['average']:.2f} over {figures['scored']} scored; "
        f"sendable (4-5) {s['count']}/{s['of']} = {_pct(s['rate'])} (95% CI {_pct(s['low'])}-{_pct(s['high'])})"
    ]


def compare_lines(ev: Eval, figures: dict[str, Any], who: str = "") -> list[str]:
    model, base = ev.data["model"], ev.data["base"]
    w = figures["wins"]
    lines = [
        f"{who}fine-tuned {model}: {w['model']} wins; base {base}: {w['base']} wins; {figures['ties']} ties",
    ]
    rate = figures.get("win_rate")
    if rate:
        lines.append(
            f"{who}fine-tuned win rate {_pct(rate['rate'])} of {figures['decided']} decided "
            f"(95% CI {_pct(rate['low'])}-{_pct(rate['high'])}; ties left out), sign test p = {figures['p_value']:.3g}"
        )
    lines.append(f"{who}verdict: {figures['verdict']}")
    return lines


def summary_lines(ev: Eval) -> list[str]:
    sm = ev.data.get("summary") or {}
    head = f"{ev.name}: {sm.get('items', 0)} items, {sm.get('skipped', 0)} skipped, {sm.get('unanswered', 0)} not answered"
    lines = [head]
    if ev.kind == "score":
        lines.append(f"model {ev.data['model']}")
        lines += score_lines(sm)
        prev = sm.get("previous")
        if prev:
            change = prev.get("sendable_change")
            avg = prev.get("average_change")
            lines.append(
                f"against {prev['name']} ({prev['model']}): average {avg:+.2f}, sendable rate "
                + ("-" if change is None else f"{100 * change:+.0f} points")
            )
    else:
        lines += compare_lines(ev, sm)
    judge = sm.get("judge")
    if judge:
        jmodel = (ev.data.get("judge") or {}).get("model", "?")
        lines += (
            score_lines(judge, f"judge {jmodel}: ")
            if ev.kind == "score"
            else compare_lines(ev, judge, "judge: ")
        )
        ag = judge.get("agreement")
        if ag:
            extra = (
                ""
                if "within_one" not in ag
                else f", within one point {_pct(ag['within_one'])}, Spearman "
                + ("-" if ag.get("spearman") is None else f"{ag['spearman']:.2f}")
            )
            lines.append(f"judge agrees with you on {ag['n']} items: exact {_pct(ag['exact'])}{extra}")
    return lines


def reveal_lines(ev: Eval) -> list[str]:
    """Per item of a comparison: which model was A and B, and the choice."""
    out = []
    for it in ev.items:
        choice = it.get("choice") or ("skipped" if it.get("skipped") else "-")
        out.append(
            f"  example {it['id']}: A = {it['a_model']}, B = {it['b_model']}; chose {choice} -> {it.get('winner') or '-'}"
        )
    return out
