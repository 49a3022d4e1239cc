"""An LLM judge: scores 1-5 with a short reason, or picks the better of two outputs.

A comparison is asked twice with the outputs swapped; the judge's choice counts only when both answers agree
(the same output wins from either position), otherwise it is a tie, which cancels position bias. The rubric
(what "good" means for this task) is the project's to change: ``--rubric FILE`` or ``eval-rubric.md`` in the
project root replaces the default; the answer format below it is fixed so the reply can be read.
"""

from __future__ import annotations

import re
from typing import Any

DEFAULT_RUBRIC = """\
You are grading the output of an assistant fine-tuned for one narrow task.
Judge the candidate output against the input conversation and the reference output written by a person.
5: as good as the reference or better; could be sent as is.
4: correct and usable, with small issues of style or length.
3: partly right; needs editing before it could be sent.
2: mostly wrong, off-task or badly formatted.
1: wrong, harmful, empty or nonsense."""

SCORE_FORMAT = """\
Answer in exactly this format:
SCORE: <1-5>
REASON: <one short sentence>"""

COMPARE_FORMAT = """\
Two candidate outputs follow, "Output 1" and "Output 2". Decide which one better fulfils the task (use the same
standards as above). Answer in exactly this format:
WINNER: <1, 2 or tie>
REASON: <one short sentence>"""


def _transcript(messages: list[dict[str, Any]]) -> str:
    return "\n\n".join(f"[{m.get('role', '?')}]\n{m.get('content', '')}" for m in messages)


def _ask(rubric: str, answer_format: str, item: dict[str, Any], candidates: str) -> list[dict[str, Any]]:
    body = (
        f"## Input conversation\n{_transcript(item['input'])}\n\n"
        f"## Reference output\n{item.get('expected', '')}\n\n{candidates}"
    )
    return [
        {"role": "system", "content": f"{rubric.strip()}\n\n{answer_format}"},
        {"role": "user", "content": body},
    ]


def score_messages(rubric: str, item: dict[str, Any]) -> list[dict[str, Any]]:
    return _ask(rubric, SCORE_FORMAT, item, f"## Candidate output\n{item['output']}")


def compare_messages(rubric: str, item: dict[str, Any], first: str, second: str) -> list[dict[str, Any]]:
    return _ask(rubric, COMPARE_FORMAT, item, f"## Output 1\n{first}\n\n## Output 2\n{second}")


_SCORE = re.compile(r"SCORE\s*[:=]\s*\**\s*([1-5])\b", re.IGNORECASE)
_WINNER = re.compile(r"WINNER\s*[:=]\s*\**\s*(1|2|tie)\b", re.IGNORECASE)
_REASON = re.compile(r"REASON\s*[:=]\s*(.+)", re.IGNORECASE | re.DOTALL)


def _reason(text: str) -> str:
    m = _REASON.search(text)
    reason = " ".join((m.group(1) if m else text).split())
    return reason if len(reason) <= 300 else reason[:297] + "..."


def parse_score(text: str) -> tuple[int | None, str]:
    """The score (None when the reply has none) and the reason."""
    m = _SCORE.search(text)
    return (int(m.group(1)) if m else None), _reason(text)


def parse_winner(text: str) -> tuple[str | None, str]:
    """ "1", "2" or "tie" (None when the reply names none) and the reason."""
    m = _WINNER.search(text)
    return (m.group(1).lower() if m else None), _reason(text)


def combine(first: str | None, second: str | None) -> str | None:
    """The choice ("a", "b", "tie") from the two orders: asked with (A, B), then with (B, A)."""
    if first is None or second is None:
        return None
    as_a = {"1": "a", "2": "b", "tie": "tie"}[first]
    swapped = {"1": "b", "2": "a", "tie": "tie"}[second]
    return as_a if as_a == swapped else "tie"
