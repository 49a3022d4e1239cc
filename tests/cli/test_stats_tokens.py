"""The token section of `ait stats`: the same numbers as `ait format`, skipped on large projects unless asked."""

from __future__ import annotations

import json

from aitelier import Project, stats


def test_stats_tokens_match_format(ait, rated_project: Project) -> None:
    ait("split", cwd=rated_project.root)
    stats = json.loads(ait("stats", "--json", cwd=rated_project.root).stdout)["tokens"]
    fmt = json.loads(ait("format", "--json", cwd=rated_project.root).stdout)["tokens"]
    assert stats["counted"] is True
    assert stats["train"] == fmt["train"] and stats["val"] == fmt["val"]
    assert stats["encoding"] == "cl100k_base" and stats["exact"] is False
    assert stats["estimate"]["trainingTokens"] == 3 * fmt["train"]["total"]
    text = ait("stats", cwd=rated_project.root).stdout
    assert "Tokens per example (estimated with cl100k_base" in text
    assert f"{fmt['train']['total']:,}" in text and "training tokens" in text


def test_stats_counts_only_exported_examples(ait, make_project, rec) -> None:
    p = make_project([rec(1, split="train"), rec(2, split="val"), rec(3, rating=2, split="train"), rec(4)])
    t = json.loads(ait("stats", "--json", cwd=p.root).stdout)["tokens"]
    assert (t["train"]["examples"], t["val"]["examples"]) == (1, 1)


def test_stats_before_any_split(ait, rated_project: Project) -> None:
    r = ait("stats", cwd=rated_project.root)
    assert "no examples rated at or above the threshold have a split yet" in r.stdout


def test_stats_skips_tokens_on_a_large_project_unless_asked(ait, rated_project: Project, monkeypatch) -> None:
    ait("split", cwd=rated_project.root)
    monkeypatch.setattr(stats, "STATS_AUTO_MAX_BYTES", 100)
    r = ait("stats", cwd=rated_project.root)
    assert "not counted for a project this size" in r.stdout and "`ait stats --tokens`" in r.stdout
    assert json.loads(ait("stats", "--json", cwd=rated_project.root).stdout)["tokens"]["counted"] is False
    assert json.loads(ait("stats", "--json", "--tokens", cwd=rated_project.root).stdout)["tokens"]["counted"]
    monkeypatch.setattr(stats, "STATS_AUTO_MAX_BYTES", 10**9)
    assert not json.loads(ait("stats", "--json", "--no-tokens", cwd=rated_project.root).stdout)["tokens"][
        "counted"
    ]
