"""Adding, editing and removing single examples: the library behind ``ait add``, ``ait edit`` and ``ait rm``.

Conversations are checked here once, so every way in (add, import, edit) accepts the same shapes:

* roles are system/user/assistant, every ``content`` is a string, user and assistant text is not blank;
* at most one system message, and only as the first message;
* at least one user message, and the conversation ends with the assistant's reply (the text that is rated).

Nothing here prints; problems are raised as typed errors carrying every reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import AitelierError, DataProblem, ExitStatus, ValidationFailed
from .fsutil import now_iso
from .rating import check_score
from .store import UNSET, Example, validate_messages, validate_record
from .store.records import ORIGINAL_TURN, normalise_messages

if TYPE_CHECKING:
    from .project import Project


# -- conversations ----------------------------------------------------------------------------------------------
def conversation_problems(messages: Any) -> list[str]:
    """Why ``messages`` cannot be an example (empty list: it can)."""
    problems = validate_messages(messages)
    if problems:
        return problems
    for i, m in enumerate(messages, 1):
        if m["role"] == "system" and i != 1:
            problems.append(f"message {i} is a system message; only the first message may be one")
        if m["role"] in ("user", "assistant") and not m["content"].strip():
            problems.append(f"message {i} ({m['role']}) is empty")
    if not any(m["role"] == "user" for m in messages):
        problems.append("there is no user message")
    if messages[-1]["role"] != "assistant":
        problems.append("the last message must be the assistant's reply")
    return problems


def with_system(messages: list[dict[str, Any]], system: str | None) -> list[dict[str, Any]]:
    """Put ``system`` first unless the conversation already has a system message (that one is kept)."""
    messages = normalise_messages(messages)
    if system and not (messages and messages[0]["role"] == "system"):
        return [{"role": "system", "content": system}, *messages]
    return messages


def from_turns(turns: list[tuple[str, str]], system: str | None = None) -> list[dict[str, Any]]:
    """A conversation from (user text, assistant text) turns, with an optional system message first."""
    messages: list[dict[str, Any]] = []
    for user, assistant in turns:
        messages.append({"role": "user", "content": user})
        messages.append({"role": "assistant", "content": assistant})
    return with_system(messages, system)


def system_for(project_system: str | None, override: str | None) -> str | None:
    """``--system`` wins over the project's systemPrompt; ``--system ''`` means no system message."""
    if override is not None:
        return override or None
    return project_system or None


def parse_messages_json(text: str, where: str) -> list[dict[str, Any]]:
    """The messages of a conversation file: a JSON list of messages, or an object with ``messages``."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValidationFailed(f"{where}:{e.lineno}: invalid JSON: {e.msg} (column {e.colno})") from e
    if isinstance(obj, dict) and "messages" in obj:
        obj = obj["messages"]
    if not isinstance(obj, list):
        raise ValidationFailed(
            f"{where}: expected a JSON list of messages (or an object with `messages`), "
            f"got {type(obj).__name__}",
            hint='for example [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]',
        )
    return obj


def check_conversation(messages: list[dict[str, Any]], where: str = "the example") -> None:
    problems = conversation_problems(messages)
    if problems:
        raise ValidationFailed(
            f"{where} is not a valid conversation: {'; '.join(problems)}",
            [DataProblem(where, None, p) for p in problems],
        )


def clean_text(text: str) -> str:
    """Text from a file, paste or editor: CRLF becomes LF; blank or whitespace-only lines at either end and
    trailing whitespace go. The first kept line keeps its indentation (code)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    start = 0
    while start < len(lines) and not lines[start].strip():
        start += 1
    return "\n".join(lines[start:]).rstrip()


# -- adding ---------------------------------------------------------------------------------------------------
@dataclass
class Added:
    id: int
    duplicate_of: int | None
    malformed: list[int]  # lines of examples.jsonl that are not valid examples (the first few)


def add_example(project: Project, messages: list[dict[str, Any]], *, rating: int | None = None) -> Added:
    """Append one conversation (already including any system message). Duplicates are added, and reported."""
    check_conversation(messages)
    if rating is not None:
        check_score(rating)
    result = project.store.append([{"messages": messages, "rating": rating}])
    dup = result.duplicates[0][1] if result.duplicates else None
    return Added(result.ids[0], dup, result.malformed)


# -- editing --------------------------------------------------------------------------------------------------
class EditConflict(AitelierError):
    """The example changed on disk while it was open in the editor."""

    exit_status = ExitStatus.ERROR


def edit_document(example: Example) -> str:
    """The text the editor shows: the record as indented JSON."""
    return json.dumps(example.data, indent=2, ensure_ascii=False) + "\n"


def apply_edit(original: Example, text: str, *, now: str | None = None) -> Example | None:
    """The example after an edit of :func:`edit_document`'s text, or None when nothing changed.

    Raises :class:`ValidationFailed` (listing every reason) for text that is not a valid example, a changed id
    or split, or a version other than the example's (a stale export). The version is bumped and ``updatedAt`` set; when the assistant's reply changed and the
    record had no ``originalOutput``, the old reply is kept there (so a rewrite can still be compared).
    """
    where = f"example {original.id}"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValidationFailed(
            f"{where}: the edited text is not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})"
        ) from e
    problems = (
        conversation_problems(data["messages"]) if isinstance(data, dict) and "messages" in data else []
    )
    if not problems:
        problems = validate_record(data)
    if problems:
        raise ValidationFailed(
            f"{where}: {'; '.join(problems)}", [DataProblem(where, None, p) for p in problems]
        )
    if data["id"] != original.id:
        raise ValidationFailed(
            f"{where}: the id cannot be changed (it was changed to {data['id']})",
            hint="ids are permanent; use `ait add` to make a new example",
        )
    # the concurrency token: `version` (bumped by every edit and rewrite) and `ratedAt` (set by every rating). A
    # text taken before a later change must not undo it: refuse, naming the fields that differ now.
    stale_version = (data.get("version") or 1) != original.version
    if stale_version or data.get("ratedAt") != original.data.get("ratedAt"):
        differ = sorted(changed_fields(original.data, data) - {"version", "ratedAt"})
        named = ", ".join(f"`{k}`" for k in differ) or "none"
        what = (
            f"is at version {original.version}, but the edited text says version {data.get('version')!r}"
            if stale_version
            else f"was rated at {original.data.get('ratedAt')}, after this text was taken"
        )
        raise ValidationFailed(
            f"{where} {what}: the text is from before a later change (fields that differ now: {named}), "
            "so saving it could undo that change; nothing was written",
            hint=f"start again from `ait show {original.id} --json` or `ait edit {original.id}`; "
            "the version is bumped by aitelier",
        )
    if data.get("split") != original.data.get("split"):
        raise ValidationFailed(
            f"{where}: the split cannot be changed by editing",
            hint="splits are assigned by `ait split`, which keeps the validation set locked",
        )
    if data == original.data:
        return None
    now = now or now_iso()
    data["messages"] = normalise_messages(data["messages"])
    edited = Example(data)
    fields: dict[str, Any] = {"version": original.version + 1, "updatedAt": now}
    if original.original_output is None and data.get("originalOutput") is None:
        fields.update(_original_fields(original, edited))
    if data.get("rating") != original.rating:
        fields["ratedAt"] = now if data.get("rating") is not None else UNSET
    return edited.updated(**fields)


def _original_fields(original: Example, edited: Example) -> dict[str, Any]:
    """``originalOutput`` (and in a multi-turn example ``originalOutputTurn``) for an edit that changed an
    assistant reply: the last one if it changed, else the last changed turn; {} when no reply changed."""
    old = [original.data["messages"][i]["content"] for i in original.assistant_indexes()]
    new = [edited.data["messages"][i]["content"] for i in edited.assistant_indexes()]
    if not old or not new or old == new:
        return {}
    if old[-1] != new[-1]:
        turn = len(old)
    elif len(old) == len(new):
        turn = max(k for k in range(len(old)) if old[k] != new[k]) + 1
    else:  # turns added or removed before an unchanged last reply: no reply was rewritten
        return {}
    fields: dict[str, Any] = {"originalOutput": old[turn - 1]}
    if len(old) > 1:
        fields[ORIGINAL_TURN] = turn
    return fields


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    """The top-level fields whose values differ (a missing field differs from any value, null included)."""
    missing = object()
    return {k for k in {*before, *after} if before.get(k, missing) != after.get(k, missing)}


def save_edit(project: Project, original: Example, edited: Example) -> None:
    """Record the fields that ``edited`` changes as one journal patch, unless the example changed meanwhile
    (then nothing is written and :class:`EditConflict` names the fields that changed since)."""
    store = project.store
    with store.locked():  # checked and written under one lock: no change can slip in between
        snap = store.read()
        if snap.row_of(original.id) is None:
            raise EditConflict(f"example {original.id} was removed while you were editing it")
        current = snap.get(original.id).data
        since = changed_fields(original.data, current)
        if since:
            raise EditConflict(
                f"example {original.id} was changed by another command while you were editing it "
                f"({', '.join(f'`{k}`' for k in sorted(since))} changed); nothing was written",
                hint="open it again with `ait edit`",
            )
        keys = changed_fields(original.data, edited.data)
        store.patch(
            original.id,
            {k: edited.data[k] for k in keys if k in edited.data},
            [k for k in keys if k not in edited.data],
        )


# -- removing -------------------------------------------------------------------------------------------------
def remove_example(project: Project, ident: int) -> Example:
    """Remove one example; its id is never handed out again."""
    return project.store.remove(ident)
