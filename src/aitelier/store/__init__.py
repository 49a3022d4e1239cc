"""Crash-safe JSONL storage of examples. No printing here: callers render."""

from .records import ROLES, SPLITS, UNSET, Example, dumps, validate_messages, validate_record
from .store import AppendResult, Snapshot, Store

__all__ = [
    "ROLES",
    "SPLITS",
    "UNSET",
    "AppendResult",
    "Example",
    "Snapshot",
    "Store",
    "dumps",
    "validate_messages",
    "validate_record",
]
