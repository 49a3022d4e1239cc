"""The figures of an eval, computed from its items (never stored alone: a summary always matches its items).

Score evals: scored/skipped counts, average, the "sendable rate" (share scored 4 or 5) with its 95% Wilson
interval, the change against the previous eval of another model on the same val set, and the same figures for
the judge with its agreement with the person. Comparisons: wins, losses and ties per model, the fine-tuned
model's win rate over decided pairs with its interval, the two-sided sign test and a plain verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .results import SCORE, Eval
from .stats import sign_test, spearman, wilson

SENDABLE = 4  # a score of 4 or 5: the output could be sent as it is
ALPHA = 0.05


def _r(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else round(x, digits)


def score_figures(scores: Sequence[int]) -> dict[str, Any]:
    n = len(scores)
    good = sum(1 for s in scores if s >= SENDABLE)
    interval = wilson(good, n)
    return {
        "scored": n,
        "average": _r(sum(scores) / n if n else None, 3),
        "sendable": None
        if interval is None
        else {"count": good, "of": n, "rate": _r(good / n), "low": _r(interval[0]), "high": _r(interval[1])},
    }


def agreement(pairs: Sequence[tuple[int, int]]) -> dict[str, Any] | None:
    """How often the judge and the person agree on the same items: exact, within one point, Spearman."""
    if not pairs:
        return None
    n = len(pairs)
    return {
        "n": n,
        "exact": _r(sum(1 for h, j in pairs if h == j) / n),
        "within_one": _r(sum(1 for h, j in pairs if abs(h - j) <= 1) / n),
        "spearman": _r(spearman([h for h, _ in pairs], [j for _, j in pairs])),
    }


def verdict(model_wins: int, base_wins: int, p: float | None) -> str:
    n = model_wins + base_wins
    if p is not None and p < ALPHA:
        return "fine-tuned better" if model_wins > base_wins else "base better"
    shown = "n/a" if p is None else f"{p:.2g}"
    return f"no significant difference at n = {n} (p = {shown})"


def compare_figures(model: str, base: str, winners: Sequence[str]) -> dict[str, Any]:
    mw = sum(1 for w in winners if w == model)
    bw = sum(1 for w in winners if w == base)
    ties = sum(1 for w in winners if w == "tie")
    p = sign_test(mw, bw)
    interval = wilson(mw, mw + bw)
    return {
        "decided": mw + bw,
        "ties": ties,
        "wins": {"model": mw, "base": bw},
        "win_rate": None
        if interval is None
        else {"rate": _r(mw / (mw + bw)), "low": _r(interval[0]), "high": _r(interval[1])},
        "p_value": _r(p),
        "verdict": verdict(mw, bw, p),
    }


def summarize(ev: Eval, history: Sequence[Eval] = ()) -> dict[str, Any]:
    """The summary of ``ev``; ``history``: other evals of the project, for the change against the previous."""
    items = ev.items
    field = ev.answer_field
    skipped = sum(1 for it in items if it.get(field) is None and it.get("skipped"))
    answered = [it for it in items if it.get(field) is not None]
    out: dict[str, Any] = {
        "items": len(items),
        "skipped": skipped,
        "unanswered": len(items) - len(answered) - skipped,
    }
    judged = [it for it in items if isinstance(it.get("judge"), dict)]
    if ev.kind == SCORE:
        out.update(score_figures([it["score"] for it in answered]))
        out["previous"] = _previous(ev, history, out)
        jscores = [it["judge"]["score"] for it in judged if it["judge"].get("score") is not None]
        if judged:
            out["judge"] = score_figures(jscores)
            pairs = [
                (it["score"], it["judge"]["score"])
                for it in judged
                if it.get("score") is not None and it["judge"].get("score") is not None
            ]
            out["judge"]["agreement"] = agreement(pairs)
    else:
        model, base = ev.data["model"], ev.data["base"]
        out.update(compare_figures(model, base, [it["winner"] for it in answered]))
        if judged:
            jwinners = [it["judge"]["winner"] for it in judged if it["judge"].get("winner") is not None]
            out["judge"] = compare_figures(model, base, jwinners)
            both = [
                it for it in judged if it.get("winner") is not None and it["judge"].get("winner") is not None
            ]
            out["judge"]["agreement"] = (
                None
                if not both
                else {
                    "n": len(both),
                    "exact": _r(sum(1 for it in both if it["winner"] == it["judge"]["winner"]) / len(both)),
                }
            )
    return out


def _previous(ev: Eval, history: Sequence[Eval], mine: dict[str, Any]) -> dict[str, Any] | None:
    """The latest earlier score eval of another model on the same val set, with the change against it."""
    fp = (ev.data.get("val_set") or {}).get("fingerprint")
    created = str(ev.data.get("created", ""))
    best: tuple[Eval, dict[str, Any]] | None = None
    for other in history:
        if other.path == ev.path or other.kind != SCORE or other.data.get("model") == ev.data.get("model"):
            continue
        if (other.data.get("val_set") or {}).get("fingerprint") != fp or str(
            other.data.get("created", "")
        ) > created:
            continue
        figures = score_figures([it["score"] for it in other.items if it.get("score") is not None])
        if figures["scored"] and (
            best is None or str(other.data.get("created", "")) >= str(best[0].data.get("created", ""))
        ):
            best = (other, figures)
    if best is None:
        return None
    other, figures = best
    prev_rate = figures["sendable"]["rate"] if figures["sendable"] else None
    my_rate = mine["sendable"]["rate"] if mine.get("sendable") else None
    return {
        "name": other.name,
        "model": other.data.get("model"),
        "average": figures["average"],
        "sendable_rate": prev_rate,
        "average_change": None
        if mine.get("average") is None or figures["average"] is None
        else _r(mine["average"] - figures["average"], 3),
        "sendable_change": None if my_rate is None or prev_rate is None else _r(my_rate - prev_rate),
    }
