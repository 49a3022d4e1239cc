"""Validate any JSONL training file against a provider's rules (``ait validate FILE``).

Files made elsewhere get the same rules as our own output, plus the byte-level ones (UTF-8, byte-order mark,
CRLF, blank lines, one JSON object per line) that our writer can never break. Every problem carries its path
and line, and all of them are reported, not only the first.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from .. import tokens as tok
from ..errors import UsageError
from ..parallel import Buffer, gc_paused, map_file, map_lines, windows
from ..store.jsonl import BOM
from ..store.schema import decode_problem
from .build import ENCODE, SplitFile, check_context, check_split_files, count_tokens, prompt_key
from .checks import check_conversation, check_preference, check_text_line, line_format
from .rules import Problem, Problems, ProblemSummary, ProviderSpec, spec_for

_DECODE = msgspec.json.Decoder().decode


@dataclass
class FileReport(ProblemSummary):
    provider: str
    paths: list[Path]
    counts: dict[str, int]  # examples (usable lines) per file
    problems: list[Problem]
    encoding: tok.EncodingChoice | None = None
    stats: dict[str, tok.TokenStats] = field(default_factory=dict)
    max_tokens: int | None = None
    lines: dict[str, int] = field(default_factory=dict)  # lines in each file, blank and broken ones included

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "provider": self.provider,
            "files": [str(p) for p in self.paths],
            "counts": dict(self.counts),
            "lines": dict(self.lines),
            "tokens": None
            if self.encoding is None
            else {
                **self.encoding.as_dict(),
                "maxTokens": self.max_tokens,
                **{name: s.as_dict() for name, s in self.stats.items()},
            },
            "errors": [p.as_dict() for p in self.errors],
            "warnings": [p.as_dict() for p in self.warnings],
        }


PARALLEL_MIN_KB = 4 << 10  # below this many kilobytes (4 MB, ~3,000 lines) a file is checked in one process

# What checking some lines of a file found, in line order: (line, rule, message) for each problem and
# (line, None, format) where a usable line's format is compared with the first one's; and per usable line its
# compact encoding and prompt key.
# Line numbers count from the start of the piece; how many lines the piece has comes last.
_Checked = tuple[list[tuple[int, str | None, str]], list[bytes], list[int | None], int]


def _read_lines(
    path: Path, name: str, problems: Problems, spec_name: str, prompts: bool, method: str = "sft"
) -> tuple[SplitFile, int, set[str]]:
    """Parse a JSONL file into a SplitFile, reporting byte- and line-level problems by path:line; how many
    lines the file has, and the formats of its usable lines. ``prompts``: also key each line's prompt (only
    the train/val leakage check uses them). A large file's lines are checked in forked processes, a share each.

    Only each line's compact encoding is kept (``SplitFile.lines`` decodes it again if asked), not the
    decoded objects: holding tens of thousands of them costs more in memory than decoding again."""
    spec = spec_for(spec_name)
    where = str(path)
    f = SplitFile(name, path)

    def work(data: Buffer, start: int, end: int) -> _Checked:
        if start == 0 and data[: len(BOM)] == BOM:
            start = len(BOM)
        return _check_lines(data, start, end, spec, prompts, method)

    try:  # the file mapped, one piece of whole lines per worker
        fd = os.open(path, os.O_RDONLY)
        try:
            if os.pread(fd, len(BOM), 0) == BOM:
                problems.add("bom", "the file starts with a UTF-8 byte-order mark", path=where, line=1)
            pieces = map_lines(map_file(fd, os.fstat(fd).st_size), PARALLEL_MIN_KB, work)
        finally:
            os.close(fd)
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror or e}") from e
    first: tuple[str, int] | None = None  # the format of the first usable line, and its number
    formats: set[str] = set()
    lines = 0  # in the pieces before this one
    for events, encoded, keys, count in pieces:
        for n, rule, message in events:
            n += lines
            if rule is not None:
                problems.add(rule, message, path=where, line=n)
                continue
            f.ids.append(n)
            formats.add(message)
            if first is None:
                first = (message, n)
            elif message != first[0]:
                problems.add(
                    "mixed-formats",
                    f"{message} line in a file whose line {first[1]} is {first[0]}",
                    path=where,
                    line=n,
                )
        f.encoded.extend(encoded)
        if prompts:
            f.prompts.extend(keys)
        lines += count
    return f, lines, formats


def _check_lines(
    data: Buffer, start: int, end: int, spec: ProviderSpec, prompts: bool, method: str
) -> _Checked:
    """Decode and check the lines of ``data[start:end]`` (see :data:`_Checked`)."""
    events: list[tuple[int, str | None, str]] = []
    encoded: list[bytes] = []
    keys: list[int | None] = []
    problem = events.append
    allowed = spec.file_formats if method == "sft" else ("preference",)
    decode = _DECODE
    n = 0
    for chunk, _at in windows(data, start, end):  # copies of 256 KB: quick to search, and in the cache
        find, view, pos, size = chunk.find, memoryview(chunk), 0, len(chunk)
        while pos < size:
            n += 1
            stop = find(b"\n", pos)
            if stop < 0:
                stop = size
            raw, pos = view[pos:stop], stop + 1
            if raw[-1:] == b"\r":
                problem((n, "crlf", "CRLF line ending"))
                raw = raw[:-1]
            try:
                obj = decode(raw)
            except msgspec.DecodeError as e:
                if not bytes(raw).strip():
                    problem((n, "blank-line", "blank line"))
                else:
                    message = decode_problem(bytes(raw), e)
                    rule = "utf8" if "UTF-8" in message or "surrogate" in message else "json-line"
                    problem((n, rule, message))
                continue
            if not isinstance(obj, dict):
                problem((n, "json-line", f"expected a JSON object, got {type(obj).__name__}"))
                continue
            fmt = line_format(obj)
            if fmt is None or fmt not in allowed:
                kinds = " or ".join(
                    {
                        "conversation": "`messages`",
                        "instruction": "`prompt`+`completion`",
                        "general": "`text`",
                        "preference": "`input`+`preferred_output`+`non_preferred_output` (--method dpo)",
                    }[k]
                    for k in allowed
                )
                names = ", ".join(f"`{k}`" for k in obj) or "none"
                more = "; a preference (DPO) line: check it with --method dpo" if fmt == "preference" else ""
                problem((n, "line-format", f"expected {kinds} (keys found: {names}){more}"))
                continue
            problem((n, None, fmt))  # compared with the first usable line's format by the caller
            if fmt == "conversation":
                found = check_conversation(obj, spec)
            elif fmt == "preference":
                found = check_preference(obj, spec)
            else:
                found = check_text_line(obj, fmt)
            for rule, message in found:
                problem((n, rule, message))
            # the compact form, so the same conversation written with other spacing still matches
            encoded.append(ENCODE(obj) + b"\n")
            if prompts:
                keys.append(prompt_key(_prompt_messages(obj, fmt)))
    return events, encoded, keys, n


def _prompt_messages(obj: dict[str, Any], fmt: str) -> Any:
    """The messages whose part before the last assistant one is the line's prompt."""
    if fmt != "preference":
        return obj.get("messages")
    inp = obj.get("input")
    messages = inp.get("messages") if isinstance(inp, dict) else None
    return [*messages, {"role": "assistant", "content": ""}] if isinstance(messages, list) else None


def _text_tokens(f: SplitFile, choice: tok.EncodingChoice) -> None:
    """Token counts of prompt/completion or text lines (Together's other formats): no chat overhead."""
    counter = tok.counter(choice.name)
    totals, trained = [], []
    for line in f.lines:
        parts = [line.get(k) for k in ("prompt", "completion", "text")]
        counts = [counter.count(p) if isinstance(p, str) else 0 for p in parts]
        totals.append(sum(counts))
        trained.append(counts[1] + counts[2])
    f.token_totals, f.token_trained = totals, trained


def validate_file(
    path: str | Path,
    provider: str,
    *,
    val_path: str | Path | None = None,
    model: str | None = None,
    max_tokens: int | None = None,
    count: bool = True,
    cache_dir: Path | None = None,
    method: str = "sft",
) -> FileReport:
    """Every problem in a training file (and optionally its validation file) for ``provider``.

    The first file is treated as the training file (minimum example counts apply to it); with ``val_path``
    the two are also checked for leakage. Problems are addressed by path and line. ``method="dpo"``: the lines
    must be preference pairs (``input``, ``preferred_output``, ``non_preferred_output``).
    """
    if method == "dpo":
        from ..providers import registry

        registry.get(provider).check_method(method)
    spec = spec_for(provider)
    problems = Problems(provider)
    for p in [Path(path)] + ([Path(val_path)] if val_path else []):
        if p.suffix != ".jsonl" and p.exists():
            problems.add(
                "file-name", f"{p.name} is not named *.jsonl; the SDKs refuse to upload it", path=str(p)
            )
    with gc_paused():  # tens of thousands of decoded lines: nothing here forms a cycle
        train, n_lines, train_formats = _read_lines(
            Path(path), "train", problems, provider, bool(val_path), method
        )
        line_counts = {"train": n_lines}
        formats = {"train": train_formats}
        if val_path:
            val, line_counts["val"], formats["val"] = _read_lines(
                Path(val_path), "val", problems, provider, True, method
            )
        else:
            val = SplitFile("val", Path("-"))
    where: dict[str, dict[str, Any]] = {"train": {"path": str(path)}}
    if val_path:
        where["val"] = {"path": str(val_path)}
    check_split_files(problems, train, val, spec, where=where)
    report = FileReport(
        provider,
        [Path(path)] + ([Path(val_path)] if val_path else []),
        {"train": train.count, **({"val": val.count} if val_path else {})},
        problems.items,
        lines=line_counts,
    )
    if count:
        from ..providers import registry

        choice = tok.encoding_for(provider, model or registry.get(provider).default_model)
        limit = max_tokens if max_tokens is not None else spec.max_tokens
        for f in [train] + ([val] if val_path else []):
            kinds = formats[f.name]
            if kinds <= {"conversation"} or kinds == {"preference"}:
                cache = tok.TokenCache(cache_dir, choice.name) if cache_dir is not None else None
                count_tokens([f], choice, cache)
            elif "conversation" not in kinds and len(kinds) == 1:
                _text_tokens(f, choice)
            else:
                continue  # mixed formats (already an error): no meaningful counts
            check_context(problems, f, limit, where=where)
            report.stats[f.name] = f.stats()
        report.encoding = choice
        report.max_tokens = limit
    report.problems = problems.items
    return report


__all__ = ["FileReport", "validate_file"]
