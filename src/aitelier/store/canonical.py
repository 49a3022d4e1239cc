"""Canonical form: recognising, without a JSON parse, the bytes our own writer produces.

``json.dumps(..., ensure_ascii=False, separators=(",", ":"))`` (``records.dumps``) writes every string the same
way: non-ASCII characters as they are, and only these escapes: ``\\"`` ``\\\\`` ``\\n`` ``\\r`` ``\\t`` ``\\b``
``\\f`` and ``\\u00XX`` (lower-case hex) for the other control characters. A line in that form, with the
structure a regular expression checks (keys, roles, value shapes), is valid JSON whose parse serialises back to
the same bytes. Parsing costs about 60 MB/s in CPython; these checks run several times faster, so the store (the
verified index) and the provider-file checks (``formats``) parse only lines that are not canonical.

What a regular expression cannot check cheaply is done by byte passes over the whole buffer
(:func:`flagged_lines`): valid UTF-8, no raw control character (never valid inside a JSON string), and no
backslash that starts an escape our writer would not produce. A line they flag gets the careful checks of
:func:`careful_ok` and the slower expression that understands ``\\"``; anything else is parsed whole.
"""

from __future__ import annotations

import json
import mmap
import re
from typing import Any

Buffer = bytes | mmap.mmap  # a file's bytes, or (in a worker process) a read-only map of the file

# Inside strings: in the fast expression anything but a quote (the byte passes rule out control characters,
# invalid UTF-8 and every backslash that is not a canonical escape, \" included, so a quote always ends a
# string); in the careful one, for a line the passes flagged, escapes too (\" among them).
FREE = rb'"[^"]*"'
FREE_ESCAPED = rb'"[^"\\]*(?:\\.[^"\\]*)*"'


def messages_pattern(free: bytes) -> bytes:
    """A non-empty messages array of plain ``{"role", "content"}`` messages with the three known roles."""
    message = rb'\{"role":"(?:system|user|assistant)","content":' + free + rb"\}"
    return rb"\[" + message + rb"(?:," + message + rb")*\]"


# A provider-file line as `ait format` writes it (every provider takes {"messages": [...]})
PROVIDER_LINE = re.compile(rb'\{"messages":' + messages_pattern(FREE) + rb"\}")
PROVIDER_LINE_ESCAPED = re.compile(rb'\{"messages":' + messages_pattern(FREE_ESCAPED) + rb"\}")

# A backslash that does not start an escape json.dumps(ensure_ascii=False) writes: \" \\ \n \r \t \b \f and
# \u00XX for the other control characters (lower-case hex). ODD also flags \" (the fast expression cannot
# tell an escaped quote from the end of a string); NON_CANONICAL does not. A backslash that is itself escaped
# (\\) may be flagged needlessly: that only sends the line the slower way.
_ESCAPES = rb"[\\nrtbf]|u00(?:0[0-7bef]|1[0-9a-f])"
ODD = re.compile(rb"\\(?!" + _ESCAPES + rb")")
NON_CANONICAL = re.compile(rb'\\(?!"|' + _ESCAPES + rb")")
CONTROL = bytes(c for c in range(32) if c != 10)  # raw control characters: never in valid JSON strings
_CONTROL_RE = re.compile(rb"[\x00-\x09\x0b-\x1f]")
_CHUNK = 1 << 16


def careful_ok(data: Buffer, start: int, end: int) -> bool:
    """The byte checks for one line on its own: valid UTF-8, no raw control character, only canonical escapes
    (\\" included). A line that passes may be matched with an expression built on :data:`FREE_ESCAPED`."""
    line = data[start:end]
    if not line.isascii():
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            return False
    return len(line.translate(None, CONTROL)) == len(line) and NON_CANONICAL.search(line) is None


def flagged_lines(data: Buffer, start: int = 0, stop: int | None = None) -> set[int]:
    """Start offsets of the lines of ``data[start:stop]`` (whole lines) that an expression built on :data:`FREE`
    cannot judge alone: those with invalid UTF-8, a raw control character, or a backslash that is not a
    canonical escape other than \\".

    Passes at C speed over the bytes (per newline-aligned chunk of about 64 KiB: an ASCII test, UTF-8 decoding
    only if that fails, a byte deletion to count control characters; then a regular expression that jumps from
    backslash to backslash); only where one finds something is a line looked at.
    """
    stop = len(data) if stop is None else stop
    flagged: set[int] = set()
    find, rfind = data.find, data.rfind
    control = CONTROL
    pos = start
    while pos < stop:
        cut = find(b"\n", min(pos + _CHUNK, stop - 1), stop)
        cut = stop if cut == -1 else cut + 1
        chunk = data[pos:cut]
        if len(chunk.translate(None, control)) != len(chunk):
            for m in _CONTROL_RE.finditer(chunk):
                flagged.add(rfind(b"\n", 0, pos + m.start()) + 1)
        if not chunk.isascii():
            try:
                chunk.decode("utf-8")
            except UnicodeDecodeError:
                line = pos
                while line < cut:
                    end = find(b"\n", line, cut)
                    end = cut if end == -1 else end
                    try:
                        data[line:end].decode("utf-8")
                    except UnicodeDecodeError:
                        flagged.add(line)
                    line = end + 1
        pos = cut
    if data.find(b"\\", start, stop) == -1:  # memchr speed; the search below is ten times slower per byte
        return flagged
    search = ODD.search
    hit = search(data, start, stop)
    while hit is not None:
        at = hit.start()
        flagged.add(rfind(b"\n", 0, at) + 1)
        end = find(b"\n", at, stop)
        if end == -1:
            break
        hit = search(data, end + 1, stop)
    return flagged


_ROLES = {b"system": "system", b"user": "user", b"assistant": "assistant"}
_scanstring: Any = json.decoder.scanstring  # type: ignore[attr-defined]


def plain_messages(line: bytes) -> tuple[list[str], list[str]] | None:
    """Roles and contents of a canonical provider line ``{"messages":[...]}`` (one :data:`PROVIDER_LINE` or
    :data:`PROVIDER_LINE_ESCAPED` accepted, byte passes included; a final newline may follow), without a JSON
    parse; None when a string holds an escaped quote (splitting at quotes would not be exact: parse it).

    Between quotes come ``{``, ``messages``, ``:[{``, then for each message: ``role``, ``:``, the role, ``,``,
    ``content``, ``:``, the content, and ``},{`` or ``}]}``.
    """
    if b'\\"' in line:
        return None
    pieces = line.split(b'"')
    roles = [_ROLES[r] for r in pieces[5::8]]
    contents = [
        c.decode("utf-8") if b"\\" not in c else _scanstring(c.decode("utf-8") + '"', 0)[0]
        for c in pieces[9::8]
    ]
    return roles, contents


__all__ = [
    "CONTROL",
    "FREE",
    "FREE_ESCAPED",
    "NON_CANONICAL",
    "ODD",
    "PROVIDER_LINE",
    "PROVIDER_LINE_ESCAPED",
    "Buffer",
    "careful_ok",
    "flagged_lines",
    "messages_pattern",
    "plain_messages",
]
