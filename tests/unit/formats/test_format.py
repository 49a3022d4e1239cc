"""`ait format` and `ait validate`: golden files per provider, all-or-nothing writes, the SDK's own check."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from aitelier import Project, formats
from aitelier.errors import ValidationFailed
from aitelier.split import split_project

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("AITELIER_UPDATE_GOLDEN") == "1"


def golden_records() -> list[dict]:
    """A small project that exercises every formatting path (multi-turn, weights, unicode, exclusions)."""
    sys_ = {"role": "system", "content": "You answer support emails in two sentences."}

    def conv(i: int, turns: int = 1, **last: object) -> list[dict]:
        m: list[dict] = [sys_]
        for t in range(turns):
            m.append({"role": "user", "content": f"Order #{i}0{t}: where is my parcel?"})
            m.append(
                {"role": "assistant", "content": f"Parcel {i}0{t} left our depot today. It arrives tomorrow."}
            )
        m[-1].update(last)
        return m

    recs = []
    for i in range(1, 21):
        recs.append(
            {
                "id": i,
                "messages": conv(i, turns=2 if i % 5 == 0 else 1),
                "rating": (8, 9, 10)[i % 3],
                "createdAt": "2026-01-01T00:00:00.000Z",
                "version": 1,
            }
        )
    recs.append(
        {
            "id": 21,
            "messages": [
                sys_,
                {"role": "user", "content": "Ünïcödé, 日本語 and emoji 🎉?"},
                {"role": "assistant", "content": "Ja — alles gut. ✓"},
            ],
            "rating": 10,
            "createdAt": "2026-01-01T00:00:00.000Z",
            "version": 1,
        }
    )
    # a multi-turn example whose first answer is marked as not to be trained on
    m = conv(22, turns=2)
    m[2]["weight"] = 0
    recs.append({"id": 22, "messages": m, "rating": 9, "createdAt": "2026-01-01T00:00:00.000Z", "version": 1})
    recs.append(
        {
            "id": 23,
            "messages": conv(23),
            "rating": 4,
            "split": "val",  # excluded: rated down
            "createdAt": "2026-01-01T00:00:00.000Z",
            "version": 1,
        }
    )
    recs.append(
        {
            "id": 24,
            "messages": conv(24),
            "rating": None,
            "createdAt": "2026-01-01T00:00:00.000Z",
            "version": 1,
        }
    )
    return recs


GOLDEN_CASES = {
    "together": ("together", "all"),
    "openai": ("openai", "all"),
    "openai-weight-last": ("openai", "last"),
    "local": ("local", "all"),
}


@pytest.mark.parametrize("case", sorted(GOLDEN_CASES))
def test_golden_files(make_project, case: str) -> None:
    provider, weight = GOLDEN_CASES[case]
    p = make_project(golden_records(), provider=provider)
    split_project(p, seed=7)
    result = formats.build(p, weight=weight)
    assert not result.errors, [str(x) for x in result.errors]
    formats.write(p, result)
    for name in ("train.jsonl", "val.jsonl"):
        got = (p.data_dir / name).read_bytes()
        want_path = GOLDEN / case / name
        if UPDATE:
            want_path.parent.mkdir(parents=True, exist_ok=True)
            want_path.write_bytes(got)
        assert got == want_path.read_bytes(), f"{case}/{name} differs (AITELIER_UPDATE_GOLDEN=1 rewrites it)"


def test_golden_files_pass_the_together_sdk_check(make_project) -> None:
    from together.lib.utils.files import check_file

    p = make_project(golden_records())
    split_project(p, seed=7)
    formats.write(p, formats.build(p))
    for path in (p.train_path, p.val_path):
        report = check_file(path)
        assert report["is_check_passed"], report
        assert report["num_samples"] == len(path.read_text().splitlines())
    # and the SDK's check really fails on a broken file (so passing it means something)
    broken = p.data_dir / "broken.jsonl"
    broken.write_text('{"messages": []}\n[1]\n')
    assert not check_file(broken)["is_check_passed"]


def test_format_output_shapes(make_project, jsonl) -> None:
    p = make_project(golden_records())
    split_project(p, seed=7)
    formats.write(p, formats.build(p, "together"))
    lines = jsonl(p.train_path) + jsonl(p.val_path)
    assert all(set(line) == {"messages"} for line in lines)  # Together rejects extra keys such as id
    assert len(lines) == 22  # 24 minus one excluded (rated down) and one unrated
    formats.write(p, formats.build(p, "openai", weight="last"))
    weights = [
        [m.get("weight") for m in line["messages"] if m["role"] == "assistant"]
        for line in jsonl(p.train_path)
    ]
    assert [0, 1] in weights and [None] in weights
    formats.write(p, formats.build(p, "local", weight="last"))  # the local trainer masks weight-0 turns
    local = [
        [m.get("weight") for m in line["messages"] if m["role"] == "assistant"]
        for line in jsonl(p.train_path)
    ]
    assert local == weights


def test_files_are_in_id_order_and_split_by_the_recorded_split(make_project, rec, jsonl) -> None:
    records = [rec(i, split="val" if i in (3, 7) else "train") for i in (9, 3, 1, 7, 5)]
    p = make_project(records)
    result = formats.build(p)
    assert result.train.ids == [1, 5, 9] and result.val.ids == [3, 7]
    formats.write(p, result)
    assert [line["messages"][1]["content"] for line in jsonl(p.val_path)] == ["question 3.0", "question 7.0"]


def test_problems_write_nothing_and_keep_old_files(make_project, rec, conv, write) -> None:
    p = make_project([rec(1, split="train"), rec(2, split="val")])
    formats.write(p, formats.build(p))
    old_train, old_val = p.train_path.read_bytes(), p.val_path.read_bytes()
    bad = conv(3)
    bad[-1]["content"] = "  "
    write(
        p,
        [
            rec(1, split="train"),
            rec(2, split="val"),
            rec(3, split="train", messages=bad),
            rec(4, split="train"),
        ],
    )
    result = formats.build(p)
    assert [(x.rule, x.example_id, x.split) for x in result.errors] == [("empty-content", 3, "train")]
    with pytest.raises(ValidationFailed) as info:
        formats.write(p, result)
    assert info.value.problems[0].example_id == 3
    assert p.train_path.read_bytes() == old_train and p.val_path.read_bytes() == old_val


def test_an_empty_split_removes_its_stale_file(make_project, rec, write) -> None:
    p = make_project([rec(1, split="train"), rec(2, split="val")])
    formats.write(p, formats.build(p))
    assert p.val_path.exists()
    write(p, [rec(1, split="train"), rec(2, split="val", rating=3)])  # the only val example is rated down
    result = formats.build(p)
    assert result.excluded == 1 and result.val.count == 0
    w = formats.write(p, result)
    assert w.removed == [p.val_path] and not p.val_path.exists()


def test_leakage_between_train_and_val_is_an_error(make_project, rec, conv) -> None:
    same = conv("same")
    p = make_project(
        [rec(1, split="train", messages=same), rec(2, split="val", messages=same), rec(3, split="val")]
    )
    leaks = [x for x in formats.build(p).errors if x.rule == "leakage"]
    assert [(x.example_id, x.split) for x in leaks] == [(2, "val")]
    assert "example 1" in leaks[0].message


def test_context_length_uses_config_and_flag(make_project, rec, conv) -> None:
    p = make_project(
        [rec(1, split="train", messages=conv(1, answer="word " * 40)), rec(2, split="val")], maxTokens=30
    )
    assert [x.example_id for x in formats.build(p).errors if x.rule == "context-length"] == [1]
    assert not formats.build(p, max_tokens=1000).errors


# -- the commands ----------------------------------------------------------------------------------------------
def test_cli_format_writes_files_and_reports_tokens(ait, rated_project: Project) -> None:
    ait("split", cwd=rated_project.root)
    r = ait("format", cwd=rated_project.root)
    assert r.exit_code == 0, r.output
    assert "80 train, 20 val" in r.stdout and "wrote data/train.jsonl" in r.stdout
    assert "estimated with cl100k_base" in r.stdout and "median" in r.stdout and "p90" in r.stdout
    assert "Together's exact price comes from its estimate-price endpoint" in r.stdout
    assert len(rated_project.train_path.read_text().splitlines()) == 80


def test_cli_format_json(ait, rated_project: Project) -> None:
    ait("split", cwd=rated_project.root)
    r = ait("format", "--json", "--provider", "openai", cwd=rated_project.root)
    data = json.loads(r.stdout)
    assert data["ok"] and data["provider"] == "openai" and data["counts"]["train"] == 80
    assert data["written"] == ["data/train.jsonl", "data/val.jsonl"]
    t = data["tokens"]
    assert t["encoding"] == "o200k_base" and t["exact"] is True and t["maxTokens"] == 16385
    assert t["train"]["min"] <= t["train"]["median"] <= t["train"]["p90"] <= t["train"]["max"]
    est = data["estimate"]
    assert est["epochs"] == 3 and est["trainingTokens"] == 3 * t["train"]["total"]
    assert est["usd"] == pytest.approx(est["trainingTokens"] * est["pricePer1M"] / 1e6, abs=1e-4)


def test_cli_format_lists_every_problem_with_its_example_id(ait, make_project, rec, conv) -> None:
    records = [rec(1, split="val")]
    for i in range(2, 82):
        m = conv(i)
        m.insert(2, {"role": "user", "content": "again"})  # two user messages in a row
        records.append(rec(i, split="train", messages=m))
    p = make_project(records)
    r = ait("format", cwd=p.root)
    assert r.exit_code == 3
    for i in range(2, 82):
        assert f"example {i} (train): messages 2 and 3 are both `user` [consecutive-roles]" in r.stderr
    assert "nothing was written" in r.stderr
    assert not p.train_path.exists() and not p.val_path.exists()


def test_cli_format_warnings_do_not_block(ait, make_project, rec) -> None:
    p = make_project([rec(1, split="train"), rec(2, split="val"), rec(3)])
    r = ait("format", cwd=p.root)
    assert r.exit_code == 0
    assert "warning: " in r.stderr and "[few-examples]" in r.stderr and "[unsplit]" in r.stderr
    assert p.train_path.exists()


def test_cli_format_openai_cost_and_overrides(ait, make_project, rec) -> None:
    p = make_project(
        [rec(i, split="train") for i in range(1, 11)] + [rec(11, split="val")], provider="openai"
    )
    r = ait("format", cwd=p.root)
    assert r.exit_code == 0, r.output
    assert "Estimated cost: $" in r.stdout and "price table as of" in r.stdout
    assert "3 epoch(s) (`ait train` default)" in r.stdout
    assert "epoch" not in r.stdout.replace("3 epoch(s) (`ait train` default)", "")  # one epoch figure
    est = json.loads(ait("format", "--json", cwd=p.root).stdout)["estimate"]
    # gpt-4.1-mini trains at $5.00 per 1M tokens (README's table), 3 epochs
    assert est["trainingTokens"] == 3 * est["tokensPerEpoch"]
    assert est["usd"] == pytest.approx(est["trainingTokens"] * 5.00 / 1e6, abs=1e-4)  # rounded to 4 places
    r = ait("format", "--price-per-1m", "100", "--epochs", "2", "--json", cwd=p.root)
    est = json.loads(r.stdout)["estimate"]
    assert est["epochs"] == 2 and est["priceSource"] == "--price-per-1m"
    assert est["usd"] == pytest.approx(est["trainingTokens"] * 100 / 1e6, abs=1e-4)
    p.update_config(lambda c: c.update(pricing={"gpt-4.1-mini": 1.0}))
    est = json.loads(ait("format", "--json", cwd=p.root).stdout)["estimate"]
    assert est["pricePer1M"] == 1.0 and est["priceSource"] == ".aitelier.json pricing"


def test_cli_format_openai_needs_ten_examples(ait, make_project, rec) -> None:
    p = make_project(
        [rec(i, split="train") for i in range(1, 10)] + [rec(10, split="val")], provider="openai"
    )
    r = ait("format", cwd=p.root)
    assert r.exit_code == 3 and "needs at least 10 [min-examples]" in r.stderr


def test_cli_format_weight_last_is_refused_where_the_format_has_no_weights(ait, make_project, rec) -> None:
    from aitelier.providers import registry

    registry.register("noweights", None, default_model="m", rules={})
    try:
        p = make_project([rec(1, split="train")])
        r = ait("format", "--weight", "last", "--provider", "noweights", cwd=p.root)
    finally:
        registry.reset()
    assert r.exit_code == 2 and "no per-message weights" in r.stderr


def test_cli_validate_project_writes_nothing(ait, rated_project: Project) -> None:
    ait("split", cwd=rated_project.root)
    r = ait("validate", cwd=rated_project.root)
    assert r.exit_code == 0, r.output
    assert "80 train, 20 val" in r.stdout
    assert not rated_project.train_path.exists()


def test_cli_validate_project_problems_exit_3(ait, make_project, rec, conv) -> None:
    m = conv(1)
    m[0]["content"] = ""
    p = make_project([rec(1, split="train", messages=m), rec(2, split="val")])
    r = ait("validate", "--json", cwd=p.root)
    assert r.exit_code == 3
    data = json.loads(r.stdout)
    assert [(e["rule"], e["exampleId"]) for e in data["errors"]] == [("empty-system-prompt", 1)]


def test_cli_validate_a_file_outside_a_project(ait, tmp_path: Path) -> None:
    f = tmp_path / "mine.jsonl"
    good = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    f.write_text(json.dumps(good) + "\n" + json.dumps({"id": 1, **good}) + "\n{oops\n")
    r = ait("validate", str(f), cwd=tmp_path)
    assert r.exit_code == 2 and "--provider" in r.stderr
    r = ait("validate", str(f), "--provider", "together", cwd=tmp_path)
    assert r.exit_code == 3
    assert f"{f}:2: unexpected key `id`" in r.stderr and f"{f}:3: invalid JSON" in r.stderr
    f.write_text(json.dumps(good) + "\n")
    r = ait("validate", str(f), "--provider", "together", cwd=tmp_path)
    assert r.exit_code == 0 and f"{f}: 1 line(s), 1 example(s); checked for together: 0 error(s)" in r.stdout


def test_cli_validate_file_with_val_finds_leakage(ait, tmp_path: Path) -> None:
    good = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    (tmp_path / "t.jsonl").write_text(json.dumps(good) + "\n")
    (tmp_path / "v.jsonl").write_text(json.dumps(good, indent=None, separators=(", ", ": ")) + "\n")
    r = ait("validate", "t.jsonl", "--val", "v.jsonl", "--provider", "together", "--json", cwd=tmp_path)
    assert r.exit_code == 3
    assert [(e["rule"], e["path"], e["line"]) for e in json.loads(r.stdout)["errors"]] == [
        ("leakage", "v.jsonl", 1)
    ]


def test_cli_validate_a_file_in_a_project_uses_its_provider(ait, make_project, rec) -> None:
    p = make_project([rec(i, split="train") for i in range(1, 4)], provider="openai")
    (p.root / "x.jsonl").write_text(
        json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]})
        + "\n"
    )
    r = ait("validate", "x.jsonl", cwd=p.root)
    assert r.exit_code == 3 and "openai needs at least 10" in r.stderr


def test_cli_format_stops_on_a_malformed_examples_file(ait, make_project, rec) -> None:
    p = make_project([rec(1, split="train"), rec(2, split="val")])
    with open(p.examples_path, "ab") as f:
        f.write(b'{"id": 3, "messages": oops}\n')
    r = ait("format", cwd=p.root)
    assert r.exit_code == 3 and "examples.jsonl:3" in r.stderr
    assert not p.train_path.exists()


def test_cli_format_for_another_provider_counts_with_its_default_model(ait, rated_project: Project) -> None:
    ait("split", cwd=rated_project.root)
    data = json.loads(ait("format", "--provider", "openai", "--json", cwd=rated_project.root).stdout)
    assert data["model"] == "gpt-4.1-mini-2025-04-14" and data["tokens"]["encoding"] == "o200k_base"


def test_parallel_build_equals_serial_build(make_project, rec, conv, monkeypatch) -> None:
    import sys

    records = [
        rec(i, split="val" if i % 5 == 0 else "train", messages=conv(i, turns=1 + i % 3))
        for i in range(1, 90)
    ]
    p = make_project(records)
    monkeypatch.setenv("AITELIER_NO_FORK", "1")
    serial = formats.build(p)
    monkeypatch.delenv("AITELIER_NO_FORK")
    # formatted and counted in forked workers even for this small project
    monkeypatch.setattr(sys.modules["aitelier.tokens"], "PARALLEL_MIN_TEXTS", 10)
    monkeypatch.setattr(sys.modules["aitelier.formats.build"], "PARALLEL_MIN_EXAMPLES", 1)
    (p.data_dir / ".tokens.cache").unlink()  # counted again, in the workers
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    parallel = formats.build(p)
    for a, b in ((serial.train, parallel.train), (serial.val, parallel.val)):
        assert (
            a.encoded == b.encoded and a.token_totals == b.token_totals and a.token_trained == b.token_trained
        )
