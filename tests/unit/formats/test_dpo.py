"""`ait format --method dpo`: golden preference files per provider, every DPO rule failing and passing, errors
naming example ids with exit 3 and nothing written, `ait validate --method dpo` on any file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from aitelier import formats
from aitelier.formats import dpo
from aitelier.formats.rules import ProviderSpec
from helpers import conversation, read_jsonl, rewritten_records

GOLDEN = Path(__file__).parent / "golden-dpo"
UPDATE = os.environ.get("AITELIER_UPDATE_GOLDEN") == "1"


def golden_records() -> list[dict]:
    """Rewrites (one- and two-turn) in train and val, one pair from ratings, and pairs left out."""
    recs = rewritten_records(12, 3)
    same = conversation("same", answer="Your parcel left today.")
    recs += [
        {"id": 16, "messages": same, "rating": 10, "split": "train"},
        {"id": 17, "messages": conversation("same", answer="Dunno."), "rating": 2},
        {"id": 18, "messages": conversation(18), "rating": 9, "originalOutput": "unsplit"},  # left out
        {
            "id": 19,
            "messages": conversation(19, turns=2),
            "rating": 9,
            "split": "train",
            "originalOutput": "x",
        },
    ]
    return recs


@pytest.mark.parametrize("provider", ["together", "openai", "local"])
def test_golden_preference_files(make_project, provider: str) -> None:
    p = make_project(golden_records(), provider=provider)
    result = dpo.build(p, min_gap=3)
    assert not result.errors, [str(x) for x in result.errors]
    assert {(w.rule, w.message) for w in result.warnings} >= {
        ("pair-left-out", "1 pair(s) have no split yet (`ait split`) and are left out: examples 18"),
        (
            "unpairable",
            "1 rewritten multi-turn example(s) do not record which turn was rewritten and cannot be paired: "
            "examples 19 (`ait pairs` lists them)",
        ),
    }
    formats.write(p, result)
    for name in ("train.dpo.jsonl", "val.dpo.jsonl"):
        got = (p.data_dir / name).read_bytes()
        want = GOLDEN / provider / name
        if UPDATE:
            want.parent.mkdir(parents=True, exist_ok=True)
            want.write_bytes(got)
        assert got == want.read_bytes(), f"{provider}/{name} differs (AITELIER_UPDATE_GOLDEN=1 rewrites it)"
    assert not (p.data_dir / "train.jsonl").exists()  # the SFT files are not touched


def test_the_lines_are_what_the_issue_asks_for(make_project) -> None:
    p = make_project(golden_records())
    formats.write(p, dpo.build(p, min_gap=3))
    train = read_jsonl(p.data_dir / "train.dpo.jsonl")
    assert len(train) == 13 and len(read_jsonl(p.data_dir / "val.dpo.jsonl")) == 3
    two_turn = train[1]  # example 2: its first reply was rewritten
    assert two_turn == {
        "input": {
            "messages": [
                {"role": "system", "content": "You are helpful."},
                {"role": "user", "content": "question 2.0"},
            ]
        },
        "preferred_output": [{"role": "assistant", "content": "answer 2.0"}],
        "non_preferred_output": [{"role": "assistant", "content": "first draft 2"}],
    }
    assert train[-1]["preferred_output"][0]["content"] == "Your parcel left today."
    assert train[-1]["non_preferred_output"][0]["content"] == "Dunno."


# -- the rules, failing and passing ------------------------------------------------------------------------------
SPEC = ProviderSpec("together", message_keys=frozenset({"role", "content", "weight"}))
GOOD = {
    "input": {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]},
    "preferred_output": [{"role": "assistant", "content": "Hello!"}],
    "non_preferred_output": [{"role": "assistant", "content": "What do you want."}],
}


def rules(line: dict) -> set[str]:
    return {rule for rule, _ in formats.check_preference(line, SPEC)}


def test_a_good_line_breaks_no_rule() -> None:
    assert formats.check_preference(GOOD, SPEC) == []


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"input": {"messages": []}}, "dpo-input"),
        ({"input": {}}, "dpo-input"),
        (
            {
                "input": {
                    "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "x"}]
                }
            },
            "dpo-input",
        ),
        ({"preferred_output": []}, "dpo-output"),
        (
            {
                "preferred_output": [
                    {"role": "assistant", "content": "a"},
                    {"role": "assistant", "content": "b"},
                ]
            },
            "dpo-output",
        ),
        ({"non_preferred_output": [{"role": "user", "content": "a"}]}, "dpo-output"),
        ({"non_preferred_output": {"role": "assistant", "content": "a"}}, "dpo-output"),
        ({"non_preferred_output": [{"role": "assistant", "content": "Hello!"}]}, "dpo-outputs-differ"),
        ({"non_preferred_output": [{"role": "assistant", "content": "  "}]}, "empty-content"),
        ({"preferred_output": [{"role": "assistant", "content": 5}]}, "content-type"),
        ({"id": 7}, "line-keys"),
    ],
)
def test_each_rule_fails_on_its_case(change: dict, rule: str) -> None:
    assert rule in rules({**GOOD, **change})


def test_an_output_problem_names_the_output() -> None:
    found = formats.check_preference(
        {**GOOD, "non_preferred_output": [{"role": "assistant", "content": ""}]}, SPEC
    )
    assert found == [("empty-content", "`non_preferred_output` (assistant) has empty content")]


def test_format_names_the_example_exits_3_and_writes_nothing(ait, make_project) -> None:
    recs = rewritten_records(3, 1)
    recs[1]["originalOutput"] = recs[1]["messages"][2]["content"]  # rewritten back to the original reply
    p = make_project(recs)
    r = ait("format", "--method", "dpo", cwd=p.root)
    assert r.exit_code == 3, r.output
    assert (
        "error: example 2 (train): the preferred and the rejected output are the same text [dpo-outputs-differ]"
        in r.stderr
    )
    assert not (p.data_dir / "train.dpo.jsonl").exists() and not (p.data_dir / "val.dpo.jsonl").exists()


def test_the_token_limit_counts_both_outputs(ait, make_project) -> None:
    recs = rewritten_records(3, 1)
    recs[0]["originalOutput"] = "word " * 3000  # only the rejected output is long
    p = make_project(recs)
    r = ait("format", "--method", "dpo", "--max-tokens", "1000", cwd=p.root)
    assert r.exit_code == 3
    assert "example 1 (train): " in r.stderr and "over the 1,000-token limit [context-length]" in r.stderr
    assert ait("format", "--method", "dpo", "--max-tokens", "5000", cwd=p.root).exit_code == 0


def test_format_json_reports_the_pairs(ait, make_project) -> None:
    p = make_project(rewritten_records(3, 1))
    out = json.loads(ait("format", "--method", "dpo", "--json", cwd=p.root).stdout)
    assert (out["method"], out["counts"]["train"], out["counts"]["val"]) == ("dpo", 3, 1)
    assert out["pairs"]["bySource"] == {"rewrite": 4, "ratings": 0}
    assert out["written"] == ["data/train.dpo.jsonl", "data/val.dpo.jsonl"]


def test_nothing_to_pair_says_how_to_make_pairs(ait, make_project, rec) -> None:
    p = make_project([rec(1, split="train")])
    r = ait("format", "--method", "dpo", cwd=p.root)
    assert r.exit_code == 3 and "no preference pair goes into train or val" in r.stderr
    assert "key r" in r.stderr


def test_flags_of_the_other_method_are_refused(ait, make_project) -> None:
    p = make_project(rewritten_records(3, 1))
    assert ait("format", "--min-gap", "2", cwd=p.root).exit_code == 2
    assert ait("format", "--method", "dpo", "--weight", "last", cwd=p.root).exit_code == 2


def test_validate_a_preference_file_by_line(ait, tmp_path) -> None:
    path = tmp_path / "prefs.jsonl"
    bad = {**GOOD, "non_preferred_output": GOOD["preferred_output"]}
    path.write_text("".join(json.dumps(x) + "\n" for x in (GOOD, bad)))
    r = ait("validate", str(path), "--provider", "together", "--method", "dpo")
    assert r.exit_code == 3
    assert (
        f"{path}:2: the preferred and the rejected output are the same text [dpo-outputs-differ]" in r.stderr
    )
    assert f"{path}:1:" not in r.stderr
    r = ait("validate", str(path), "--provider", "together")  # as SFT lines: the hint names --method dpo
    assert r.exit_code == 3 and "check it with --method dpo" in r.stderr


def test_validate_project_with_method_dpo(ait, make_project) -> None:
    p = make_project(rewritten_records(3, 1))
    r = ait("validate", "--method", "dpo", cwd=p.root)
    assert r.exit_code == 0, r.output
    assert "together preference pairs (DPO): 3 train, 1 val" in r.stdout
    assert not (p.data_dir / "train.dpo.jsonl").exists()


def test_pairs_left_out_and_unpairable_rewrites_are_warned_only_when_there_are_some(make_project) -> None:
    clean = {w.rule for w in dpo.build(make_project(rewritten_records(3, 1))).warnings}
    assert not clean & {"pair-left-out", "unpairable"}
    recs = rewritten_records(3, 1)
    recs[0].pop("split")
    recs[1].pop("originalOutputTurn")  # a two-turn rewrite from before the turn was recorded
    warned = {w.rule: w.message for w in dpo.build(make_project(recs)).warnings}
    assert warned["pair-left-out"] == "1 pair(s) have no split yet (`ait split`) and are left out: examples 1"
    assert (
        warned["unpairable"].startswith("1 rewritten multi-turn example(s) ")
        and "examples 2 " in warned["unpairable"]
    )
