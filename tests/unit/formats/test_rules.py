"""Every validation rule has a failing and a passing case (and the table below must cover every rule)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aitelier.formats import RULES, build, check_conversation, spec_for, validate_file
from aitelier.formats.rules import ERROR, WARNING


def msgs(*pairs: tuple[str, Any], **extra_last: Any) -> dict[str, Any]:
    out = [{"role": r, "content": c} for r, c in pairs]
    out[-1].update(extra_last)
    return {"messages": out}


OK = msgs(("system", "Be brief."), ("user", "hi"), ("assistant", "hello"))


def lines(*items: Any, n_more: int = 0) -> bytes:
    """A JSONL file: dicts are serialised, str/bytes written as they are; n_more distinct valid lines appended."""
    out = []
    for it in items:
        if isinstance(it, dict):
            out.append(json.dumps(it, ensure_ascii=False).encode())
        elif isinstance(it, str):
            out.append(it.encode())
        else:
            out.append(it)
    out += [json.dumps(msgs(("user", f"q{i}"), ("assistant", f"a{i}"))).encode() for i in range(n_more)]
    return b"\n".join(out) + b"\n"


def multi(*roles: str, **weights: Any) -> dict[str, Any]:
    """A conversation with these roles; weights={index: value} by message position (w0=..., w2=...)."""
    m = [{"role": r, "content": f"text {i}"} for i, r in enumerate(roles)]
    for key, w in weights.items():
        m[int(key[1:])]["weight"] = w
    return {"messages": m}


def pref(
    input: list[dict[str, Any]] | None = None,
    preferred: list[dict[str, Any]] | None = None,
    rejected: str = "no idea",
) -> dict[str, Any]:
    """A preference (DPO) line."""
    return {
        "input": {"messages": input or [{"role": "user", "content": "hi"}]},
        "preferred_output": preferred or [{"role": "assistant", "content": "hello"}],
        "non_preferred_output": [{"role": "assistant", "content": rejected}],
    }


DPO = {"method": "dpo"}
# rule -> (provider, failing file, passing file, extra validate_file kwargs)
LONG = "word " * 17000  # about 17,000 tokens: over OpenAI's 16,385
FILE_CASES: dict[str, tuple[str, bytes, bytes, dict[str, Any]]] = {
    "utf8": ("together", lines(b'{"text": "caf\xe9"}'), lines({"text": "café 🎉"}), {}),
    "bom": ("together", b"\xef\xbb\xbf" + lines(OK), lines(OK), {}),
    "json-line": ("together", lines("{not json", "[1, 2]", OK), lines(OK), {}),
    "blank-line": ("together", lines(OK, "", {"messages": OK["messages"][1:]}), lines(OK, OK), {}),
    "crlf": ("together", lines(OK).replace(b"\n", b"\r\n"), lines(OK), {}),
    "line-format": ("together", lines({"input": "x"}), lines({"prompt": "p", "completion": "c"}), {}),
    "mixed-formats": ("together", lines({"text": "a"}, OK), lines({"text": "a"}, {"text": "b"}), {}),
    "line-keys": ("together", lines({"id": 1, **OK}), lines(OK), {}),
    "text-field": (
        "together",
        lines({"prompt": "", "completion": 3}),
        lines({"prompt": "p", "completion": "c"}),
        {},
    ),
    "messages-list": ("together", lines({"messages": []}, {"messages": "hi"}), lines(OK), {}),
    "message-object": (
        "together",
        lines({"messages": ["hi", {"role": "assistant", "content": "a"}]}),
        lines(OK),
        {},
    ),
    "message-keys": ("together", lines({"messages": [{"role": "user"}, {"content": "a"}]}), lines(OK), {}),
    "unknown-message-key": (
        "openai",
        lines(msgs(("user", "q"), ("assistant", "a"), tool_calls=[]), n_more=9),
        lines(msgs(("user", "q"), ("assistant", "a"), name="bot"), n_more=9),
        {},
    ),
    "role": ("together", lines(msgs(("user", "q"), ("bot", "a"))), lines(OK), {}),
    "consecutive-roles": (
        "together",
        lines(multi("user", "user", "assistant")),
        lines(multi("user", "assistant", "user", "assistant")),
        {},
    ),
    "has-assistant": ("together", lines(msgs(("system", "s"), ("user", "q"))), lines(OK), {}),
    "has-user": ("together", lines(msgs(("system", "s"), ("assistant", "a"))), lines(OK), {}),
    "content-type": ("together", lines(msgs(("user", 5), ("assistant", None))), lines(OK), {}),
    "empty-content": ("together", lines(msgs(("user", "q"), ("assistant", " \n"))), lines(OK), {}),
    "empty-system-prompt": (
        "together",
        lines(msgs(("system", ""), ("user", "q"), ("assistant", "a"))),
        lines(OK),
        {},
    ),
    "weight-value": (
        "together",
        lines(
            multi("user", "assistant", w1=2),
            multi("user", "assistant", w1=True),
            multi("user", "assistant", w1=0.5),
        ),
        lines(multi("user", "assistant", "user", "assistant", w1=0, w3=1)),
        {},
    ),
    "weight-role": (
        "openai",
        lines(multi("user", "assistant", w0=1), n_more=9),
        lines(multi("user", "assistant", w1=1), n_more=9),
        {},
    ),
    "nothing-trained": (
        "together",
        lines(multi("user", "assistant", w1=0)),
        lines(multi("user", "assistant", w1=1)),
        {},
    ),
    "context-length": (
        "openai",
        lines(msgs(("user", "q"), ("assistant", LONG)), n_more=9),
        lines(OK, n_more=9),
        {},
    ),
    "min-examples": ("openai", lines(n_more=9), lines(n_more=10), {}),
    "few-examples": ("together", lines(n_more=49), lines(n_more=50), {}),
    "duplicate": ("together", lines(OK, OK), lines(OK), {}),
    # preference (DPO) lines, checked with method="dpo"
    "dpo-input": (
        "together",
        lines(pref(input=[{"role": "system", "content": "Be brief."}])),
        lines(pref()),
        DPO,
    ),
    "dpo-output": (
        "together",
        lines(pref(preferred=[{"role": "assistant", "content": "a"}, {"role": "assistant", "content": "b"}])),
        lines(pref()),
        DPO,
    ),
    "dpo-outputs-differ": ("together", lines(pref(rejected="hello")), lines(pref()), DPO),
}
# rules that need a validation file: (provider, train, failing val, passing val)
PAIR_CASES: dict[str, tuple[str, bytes, bytes, bytes]] = {
    "leakage": (
        "together",
        lines(OK, n_more=3),
        lines(OK),
        lines(msgs(("user", "other"), ("assistant", "x"))),
    ),
    "prompt-leakage": (
        "together",
        lines(OK),
        lines(msgs(("system", "Be brief."), ("user", "hi"), ("assistant", "a different answer"))),
        lines(msgs(("system", "Be brief."), ("user", "another question"), ("assistant", "hello"))),
    ),
}
PROJECT_RULES = {"unsplit", "no-val", "dropped-keys"}
PAIR_RULES = {"pair-left-out", "unpairable"}  # tests/unit/formats/test_dpo.py
NAME_RULES = {"file-name"}  # tests/unit/providers/test_provider_facts.py


def test_every_rule_has_cases() -> None:
    assert set(RULES) == set(FILE_CASES) | set(PAIR_CASES) | PROJECT_RULES | NAME_RULES | PAIR_RULES


def test_every_rule_has_a_severity_summary_and_providers() -> None:
    for rule in RULES.values():
        assert rule.severity in (ERROR, WARNING)
        assert rule.summary.endswith(".")


def _rules(tmp_path: Path, provider: str, content: bytes, name: str = "f.jsonl", **kw: Any) -> set[str]:
    path = tmp_path / name
    path.write_bytes(content)
    report = validate_file(path, provider, **kw)
    for p in report.problems:  # every problem of a file is addressed by path and (except data-set ones) line
        assert p.path == str(path)
    return {p.rule for p in report.problems}


@pytest.mark.parametrize("rule", sorted(FILE_CASES))
def test_rule_fails_on_the_bad_case_and_passes_on_the_good_one(tmp_path: Path, rule: str) -> None:
    provider, bad, good, kw = FILE_CASES[rule]
    assert rule in _rules(tmp_path, provider, bad, **kw)
    assert rule not in _rules(tmp_path, provider, good, **kw)


@pytest.mark.parametrize("rule", sorted(PAIR_CASES))
def test_pair_rule_fails_and_passes(tmp_path: Path, rule: str) -> None:
    provider, train, bad, good = PAIR_CASES[rule]
    (tmp_path / "train.jsonl").write_bytes(train)
    (tmp_path / "bad.jsonl").write_bytes(bad)
    (tmp_path / "good.jsonl").write_bytes(good)
    report = validate_file(tmp_path / "train.jsonl", provider, val_path=tmp_path / "bad.jsonl")
    hits = [p for p in report.problems if p.rule == rule]
    assert hits and all(p.path == str(tmp_path / "bad.jsonl") and p.line == 1 for p in hits)
    report = validate_file(tmp_path / "train.jsonl", provider, val_path=tmp_path / "good.jsonl")
    assert rule not in {p.rule for p in report.problems}


def test_the_good_cases_are_entirely_clean(tmp_path: Path) -> None:
    """The passing inputs break no error rule at all (so they prove the rule, not some other rule)."""
    for rule, (provider, _bad, good, kw) in FILE_CASES.items():
        path = tmp_path / f"{rule}.jsonl"
        path.write_bytes(good)
        report = validate_file(path, provider, **kw)
        assert report.ok, (rule, [str(p) for p in report.errors])


def test_lone_surrogates_are_reported_as_utf8(tmp_path: Path) -> None:
    bad = b'{"messages":[{"role":"user","content":"q \\ud800"},{"role":"assistant","content":"a"}]}\n'
    assert "utf8" in _rules(tmp_path, "together", bad)


def test_severities_differ_by_provider(tmp_path: Path) -> None:
    blank = lines(OK, "", n_more=10)
    (tmp_path / "b.jsonl").write_bytes(blank)
    sev = {p.rule: p.severity for p in validate_file(tmp_path / "b.jsonl", "together").problems}
    assert sev["blank-line"] == WARNING
    sev = {p.rule: p.severity for p in validate_file(tmp_path / "b.jsonl", "openai").problems}
    assert sev["blank-line"] == ERROR
    # consecutive roles are a Together rule, not an OpenAI one
    (tmp_path / "c.jsonl").write_bytes(lines(multi("user", "user", "assistant"), n_more=10))
    assert "consecutive-roles" not in {p.rule for p in validate_file(tmp_path / "c.jsonl", "openai").problems}


def test_every_problem_is_reported_not_only_the_first(tmp_path: Path) -> None:
    bad = [msgs(("user", "q"), ("assistant", "")) for _ in range(30)]
    (tmp_path / "many.jsonl").write_bytes(lines(*[{**b, "extra": i} for i, b in enumerate(bad)]))
    report = validate_file(tmp_path / "many.jsonl", "together")
    assert sorted(p.line for p in report.problems if p.rule == "empty-content") == list(range(1, 31))
    assert sorted(p.line for p in report.problems if p.rule == "line-keys") == list(range(1, 31))


def test_check_conversation_on_a_valid_line_finds_nothing() -> None:
    for provider in ("together", "openai", "local"):
        assert check_conversation(OK, spec_for(provider)) == []


# -- project-level rules ---------------------------------------------------------------------------------------
def test_unsplit_warns_and_passes(make_project, rec) -> None:
    p = make_project([rec(1, split="train"), rec(2, split="val"), rec(3)])
    assert "unsplit" in {x.rule for x in build(p).warnings}
    p = make_project([rec(1, split="train"), rec(2, split="val")])
    assert "unsplit" not in {x.rule for x in build(p).problems}


def test_no_val_warns_and_passes(make_project, rec) -> None:
    assert "no-val" in {x.rule for x in build(make_project([rec(1, split="train")])).problems}
    assert "no-val" not in {
        x.rule for x in build(make_project([rec(1, split="train"), rec(2, split="val")])).problems
    }


def test_dropped_keys_warns_and_passes(make_project, rec, conv) -> None:
    messages = conv(1)
    messages[-1]["tool_calls"] = []
    result = build(make_project([rec(1, split="train", messages=messages), rec(2, split="val")]))
    hits = [x for x in result.problems if x.rule == "dropped-keys"]
    assert hits and hits[0].example_id == 1
    assert "tool_calls" not in json.dumps(result.train.lines)
    assert "dropped-keys" not in {
        x.rule for x in build(make_project([rec(1, split="train"), rec(2, split="val")])).problems
    }


def test_the_manual_lists_every_rule_with_its_severity() -> None:
    doc = (Path(__file__).resolve().parents[3] / "docs" / "reference" / "rules.md").read_text(
        encoding="utf-8"
    )
    rows = {line.split("|")[1].strip(): line for line in doc.splitlines() if line.startswith("| `")}
    for name, rule in RULES.items():
        row = rows.get(f"`{name}`")
        assert row is not None, f"docs/reference/rules.md has no row for {name}: run `python3 dev.py docs`"
        assert row.split("|")[2].strip().startswith(rule.severity), (name, row)
    # each provider's severities against the table: tests/unit/providers/test_provider_facts.py


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
message_like = st.fixed_dictionaries(
    {},
    optional={
        "role": st.sampled_from(["system", "user", "assistant", "tool", 3]) | json_values,
        "content": st.text(max_size=10) | json_values,
        "weight": st.sampled_from([0, 1, 2, True, None, "1"]),
        "name": json_values,
    },
)
line_like = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"messages": st.lists(message_like | json_values, max_size=4)}, optional={"id": json_values}
    ),
    st.fixed_dictionaries(
        {}, optional={"text": json_values, "prompt": json_values, "completion": json_values}
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(line_like, max_size=6),
    st.lists(line_like, max_size=3),
    st.sampled_from(["together", "openai", "local"]),
)
def test_property_validate_file_never_crashes_and_addresses_every_problem(
    tmp_path: Path, train, val, provider
) -> None:
    t, v = tmp_path / "t.jsonl", tmp_path / "v.jsonl"
    t.write_bytes(b"".join(json.dumps(x).encode() + b"\n" for x in train))
    v.write_bytes(b"".join(json.dumps(x).encode() + b"\n" for x in val))
    report = validate_file(t, provider, val_path=v)
    for p in report.problems:
        assert p.rule in RULES and p.path in (str(t), str(v))
    if not train:
        assert "min-examples" in {p.rule for p in report.errors}


preference_like = st.fixed_dictionaries(
    {},
    optional={
        "input": json_values
        | st.fixed_dictionaries({"messages": st.lists(message_like | json_values, max_size=3)}),
        "preferred_output": json_values | st.lists(message_like, max_size=2),
        "non_preferred_output": json_values | st.lists(message_like, max_size=2),
    },
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(preference_like | line_like, max_size=6), st.sampled_from(["together", "openai"]))
def test_property_preference_files_never_crash_validation(tmp_path: Path, items, provider) -> None:
    t = tmp_path / "t.jsonl"
    t.write_bytes(b"".join(json.dumps(x).encode() + b"\n" for x in items))
    for p in validate_file(t, provider, method="dpo").problems:
        assert p.rule in RULES and p.path == str(t)


def test_data_set_problems_in_a_file_name_the_real_line(tmp_path: Path) -> None:
    f = tmp_path / "f.jsonl"
    f.write_bytes(lines("{broken", "", OK, OK))  # the duplicate is on line 4, the 2nd valid line
    dup = [p for p in validate_file(f, "together").problems if p.rule == "duplicate"]
    assert [(p.line, p.message) for p in dup] == [(4, "same conversation as line 3")]
