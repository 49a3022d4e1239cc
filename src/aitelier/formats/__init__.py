"""Provider file formats and the validation that runs before anything is written or uploaded.

The public surface, for the CLI and for provider code that checks a file before uploading it:

    from aitelier import formats
    result = formats.build(project)            # format + validate + count tokens, in memory
    formats.write(project, result)             # atomic write; ValidationFailed (nothing written) on errors
    report = formats.validate_file("data/train.jsonl", "together")   # any JSONL file, by path:line
    report.errors, report.warnings             # lists of formats.Problem

``formats.dpo.build(project)`` builds the preference (DPO) files the same way (``write`` writes them too).

Rules live in :mod:`aitelier.formats.rules` (``RULES``: name -> severity and summary), the per-line checks in
:mod:`aitelier.formats.checks`.
"""

from __future__ import annotations

from .build import Build, build, write
from .checks import check_conversation, check_preference
from .files import FileReport, validate_file
from .rules import RULES, Problem, spec_for

__all__ = [
    "RULES",
    "Build",
    "FileReport",
    "Problem",
    "build",
    "check_conversation",
    "check_preference",
    "spec_for",
    "validate_file",
    "write",
]
