"""The words for what is odd in a JSONL data file, and which of those stop a reading command."""

from __future__ import annotations

from ..errors import DataProblem

BOM = b"\xef\xbb\xbf"

# Problems that are reported (and fixed by `ait doctor --fix`) but do not stop a command from reading the file:
# no data is in doubt. A missing final newline leaves the last line intact; an incomplete last line of the
# journal is a patch whose write never finished, so it was never acknowledged and is not applied.
NO_NEWLINE = "no newline at end of file"
TORN_TAIL = "incomplete last line (an interrupted write; it is ignored)"
ORPHAN_PATCH = "is not in examples.jsonl; the pending change is ignored"
_NOT_BLOCKING = frozenset((NO_NEWLINE, TORN_TAIL))


def is_blocking(problem: DataProblem) -> bool:
    """Whether a problem must stop a reading command."""
    return problem.message not in _NOT_BLOCKING and not problem.message.endswith(ORPHAN_PATCH)
