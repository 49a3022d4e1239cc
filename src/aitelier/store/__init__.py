"""Crash-safe JSONL storage of examples. No printing here: callers render."""

from .records import ROLES, SPLITS, UNSET, Example, dumps, validate_messages, validate_record
from .store import AppendResult, ReadResult, Store

__all__ = [
    "ROLES",
    "SPLITS",
    "UNSET",
    "AppendResult",
    "Example",
    "ReadResult",
    "Store",
    "dumps",
    "validate_messages",
    "validate_record",
]
