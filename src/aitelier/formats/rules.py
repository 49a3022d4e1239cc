"""The validation rules, each with a name and a severity, and what each provider accepts.

A rule is registered once here with a stable name (shown in brackets after every problem, usable in scripts
and docs), a default severity and the providers it applies to. An *error* blocks ``ait format`` and makes
``ait validate`` exit with status 3; a *warning* is shown and never blocks. Sources: Together's SDK check (the
older, stricter one) and OpenAI's fine-tuning cookbook, as summarised in shared/PROVIDERS.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import DataProblem

ERROR = "error"
WARNING = "warning"
OFF = "off"


@dataclass(frozen=True)
class Rule:
    """A rule and its default severity. Which providers check it, and how severely, is each provider's fact
    (``ProviderInfo.rules`` in :mod:`aitelier.providers.registry`); ``default_on=False`` rules apply only
    where a provider turns them on."""

    name: str
    severity: str
    summary: str
    default_on: bool = True


RULES: dict[str, Rule] = {}


def _register(name: str, severity: str, summary: str, *, default_on: bool = True) -> Rule:
    assert name not in RULES, name
    rule = Rule(name, severity, summary, default_on)
    RULES[name] = rule
    return rule


# -- file level (only when checking a file made elsewhere) ------------------------------------------------------
_register("utf8", ERROR, "The file is UTF-8 and every string can be written as UTF-8 (no lone surrogates).")
_register(
    "bom", ERROR, "No byte-order mark at the start (it makes the first line invalid JSON for the SDKs)."
)
_register("json-line", ERROR, "Each line is one JSON object.")
_register("file-name", WARNING, "A file to upload is named *.jsonl (the SDKs refuse other names).")
_register(
    "blank-line", WARNING, "No blank lines (Together skips them; OpenAI's validator is not documented to)."
)
_register("crlf", WARNING, "Lines end in LF, not CRLF (the SDKs strip the CR, other tools may not).")
_register(
    "line-format",
    ERROR,
    "Each line is a conversation (`messages`); Together also takes `prompt`+`completion` or `text` lines.",
)
_register("mixed-formats", ERROR, "All lines use the same format.", default_on=False)
# -- line level -------------------------------------------------------------------------------------------------
_register(
    "line-keys",
    ERROR,
    "A line holds only the keys the provider knows (Together rejects extra keys such as `id`).",
)
_register("text-field", ERROR, "`text`, `prompt` and `completion` are non-empty strings.", default_on=False)
_register("messages-list", ERROR, "`messages` is a non-empty list.")
_register("message-object", ERROR, "Each message is a JSON object.")
_register("message-keys", ERROR, "Each message has `role` and `content`.")
_register(
    "unknown-message-key",
    WARNING,
    "A message holds only known keys (OpenAI: role, content, name, function_call, weight).",
)
_register(
    "role", ERROR, "Each role is one the provider knows (system, user, assistant; OpenAI also function)."
)
_register(
    "consecutive-roles",
    ERROR,
    "The same role never appears twice in a row (Together's rule; chat templates of local models need it too).",
    default_on=False,
)
_register("has-assistant", ERROR, "At least one assistant message.")
_register("has-user", ERROR, "At least one user message (an example with no input teaches nothing).")
_register("content-type", ERROR, "`content` is a string.")
_register("empty-content", ERROR, "`content` of user and assistant messages is not empty or only whitespace.")
_register("empty-system-prompt", ERROR, "A system message is not empty (leave it out instead).")
_register("weight-value", ERROR, "`weight` is the integer 0 or 1.", default_on=False)
_register("weight-role", ERROR, "`weight` appears only on assistant messages.", default_on=False)
_register("nothing-trained", WARNING, "At least one assistant message is trained on (not every weight is 0).")
_register(
    "context-length",
    ERROR,
    "An example fits the model's context (OpenAI: 16,385 tokens, a warning as OpenAI truncates longer ones; "
    "set maxTokens or --max-tokens for others).",
)
# -- preference (DPO) lines: {"input": {"messages": [...]}, "preferred_output": [...], "non_preferred_output": [...]}
_register(
    "dpo-input",
    ERROR,
    "A preference line's `input.messages` is a non-empty list of messages ending with a user message.",
)
_register(
    "dpo-output",
    ERROR,
    "`preferred_output` and `non_preferred_output` each hold exactly one assistant message.",
)
_register("dpo-outputs-differ", ERROR, "The preferred and the rejected output differ.")
# -- data set level ---------------------------------------------------------------------------------------------
_register("min-examples", ERROR, "Enough training examples: OpenAI needs 10, Together and local 1.")
_register("few-examples", WARNING, "At least 50 training examples (fewer rarely teaches a model anything).")
_register("leakage", ERROR, "No conversation is in both train and val (it would make the eval dishonest).")
_register("prompt-leakage", WARNING, "No prompt is in both train and val with different answers.")
_register("duplicate", WARNING, "No conversation appears twice in the same file.")
# -- project level ----------------------------------------------------------------------------------------------
_register("unsplit", WARNING, "Every example at or above the threshold has a split (run `ait split`).")
_register("no-val", WARNING, "The validation set is not empty (evaluation needs it).")
_register(
    "pair-left-out",
    WARNING,
    "Every preference pair goes into train or val (no split yet, rated below the threshold, or a rating pair "
    "whose two examples are in different splits: left out).",
)
_register(
    "unpairable",
    WARNING,
    "Every rewritten example can be paired (a multi-turn one needs `originalOutputTurn`, which older versions "
    "and the npm tool do not write).",
)
_register(
    "dropped-keys", WARNING, "Message keys the provider format cannot carry are dropped when formatting."
)


@dataclass(frozen=True)
class ProviderSpec:
    """What a provider's chat fine-tuning file may contain (each provider registers one)."""

    name: str
    line_keys: frozenset[str] = frozenset({"messages"})
    message_keys: frozenset[str] = frozenset({"role", "content"})
    roles: frozenset[str] = frozenset({"system", "user", "assistant"})
    min_examples: int = 1
    max_tokens: int | None = None  # default per-example limit (None: unknown until configured)
    truncates: bool = False  # the provider cuts a longer example to the limit instead of refusing the file
    file_formats: tuple[str, ...] = ("conversation",)

    @property
    def carries_weight(self) -> bool:
        return "weight" in self.message_keys


def spec_for(provider: str) -> ProviderSpec:
    """The file format of a registered provider (a usage error naming the known ones otherwise)."""
    from ..providers import registry

    return registry.get(provider).spec


FEW_EXAMPLES = 50


@dataclass
class Problem:
    """One broken rule, addressed by example id (project data) or by path and line (a file)."""

    rule: str
    severity: str
    message: str
    example_id: int | None = None
    path: str | None = None
    line: int | None = None
    split: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    def where(self) -> str:
        if self.example_id is not None:
            return f"example {self.example_id}" + (f" ({self.split})" if self.split else "")
        if self.path is not None:
            return self.path if self.line is None else f"{self.path}:{self.line}"
        return self.split or "data set"

    def __str__(self) -> str:
        return f"{self.where()}: {self.message} [{self.rule}]"

    def as_data_problem(self, path: str | None = None) -> DataProblem:
        return DataProblem(
            self.path or path or "", self.line, f"{self.message} [{self.rule}]", example_id=self.example_id
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "message": self.message,
            "exampleId": self.example_id,
            "split": self.split,
            "path": self.path,
            "line": self.line,
        }


class ProblemSummary:
    """`errors`, `warnings` and `ok` for a report that holds a `problems` list (Build and FileReport)."""

    problems: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if not p.is_error]

    @property
    def ok(self) -> bool:
        return not self.errors


class Problems:
    """Collects problems for one provider, giving each the severity its rule has there."""

    def __init__(self, provider: str) -> None:
        from ..providers import registry

        self.provider = provider
        self._severity = registry.get(provider).severity
        self.items: list[Problem] = []

    def add(
        self,
        rule: str,
        message: str,
        *,
        example_id: int | None = None,
        path: str | None = None,
        line: int | None = None,
        split: str | None = None,
    ) -> None:
        severity = self._severity(rule)
        if severity == OFF:
            return
        self.items.append(Problem(rule, severity, message, example_id, path, line, split))


__all__ = [
    "ERROR",
    "FEW_EXAMPLES",
    "OFF",
    "RULES",
    "WARNING",
    "Problem",
    "Problems",
    "ProviderSpec",
    "Rule",
    "spec_for",
]
