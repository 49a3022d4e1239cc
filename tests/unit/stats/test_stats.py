"""`ait stats`: the stats object, the readiness advice and the rendering."""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import pexpect
import pytest

from aitelier import Project
from aitelier.errors import DataError
from aitelier.stats import advice, compute_stats

KEYS = {"total", "rated", "unrated", "threshold", "above_threshold", "distribution", "train", "val"}


def commands(stats: dict[str, Any]) -> list[str | None]:
    return [a["command"] for a in stats["advice"] if a["level"] == "todo"]


def test_empty_project(project: Project) -> None:
    s = compute_stats(project)
    assert set(s) >= KEYS
    assert (s["total"], s["rated"], s["unrated"], s["rated_pct"]) == (0, 0, 0, 0.0)
    assert s["distribution"] == {str(r): 0 for r in range(1, 11)}
    assert commands(s) == ["ait add"] and s["next"] == "ait add"


def test_counts_histogram_and_threshold(filled10: Project, store_conv) -> None:
    filled10.store.append([store_conv("u1"), store_conv("u2")])
    s = compute_stats(filled10)
    assert (s["total"], s["rated"], s["unrated"]) == (12, 10, 2)
    assert (s["rated_pct"], s["unrated_pct"]) == (83.3, 16.7)
    assert s["distribution"] == {str(r): 1 for r in range(1, 11)}
    assert (s["threshold"], s["above_threshold"], s["below_threshold"]) == (8, 3, 7)
    assert (s["train"], s["val"], s["excluded"], s["unsplit_above_threshold"]) == (0, 0, 0, 3)
    assert commands(s) == ["ait rate", "ait split"]
    assert s["next"] == "ait rate"
    assert any(a["level"] == "warning" and "fewer than 50" in a["message"] for a in s["advice"])


def test_pending_journal_changes_count(filled10: Project) -> None:
    filled10.store.patch(1, {"rating": 10, "split": "train"})
    filled10.store.patch(9, {"split": "val"})
    filled10.store.patch(2, {"split": "train"})  # rated 2: has a split but is below the threshold
    filled10.store.patch(10, {}, unset=["rating"])
    s = compute_stats(filled10)
    assert s["distribution"]["1"] == 0 and s["distribution"]["10"] == 1 and s["unrated"] == 1
    assert (s["train"], s["val"], s["train_usable"], s["val_usable"]) == (2, 1, 1, 1)
    assert s["excluded"] == 1 and s["unsplit_above_threshold"] == 1  # example 8
    assert any(
        a["level"] == "info" and "1 example with a split is unrated" in a["message"] for a in s["advice"]
    )


def test_the_threshold_comes_from_the_config(filled10: Project) -> None:
    filled10.update_config(lambda cfg: cfg.__setitem__("qualityThreshold", 5))
    assert compute_stats(filled10)["above_threshold"] == 6


def test_openai_needs_ten_examples(tmp_path, store_conv) -> None:
    p = Project.create(tmp_path / "o", name="o", provider="openai")
    p.store.append([{**store_conv(i), "rating": 9} for i in range(9)])
    s = compute_stats(p)
    assert any(a["level"] == "problem" and "OpenAI needs at least 10" in a["message"] for a in s["advice"])
    p.store.append([{**store_conv("tenth"), "rating": 9}])
    assert not any(a["level"] == "problem" for a in compute_stats(p)["advice"])


def test_nothing_good_enough_is_a_problem(project: Project, store_conv) -> None:
    project.store.append([{**store_conv(1), "rating": 3}])
    s = compute_stats(project)
    assert any(a["level"] == "problem" and "nothing to train on" in a["message"] for a in s["advice"])


def test_advice_walks_through_split_format_train(filled10: Project) -> None:
    for i in (8, 9):
        filled10.store.patch(i, {"split": "train"})
    filled10.store.patch(10, {"split": "val"})
    s = compute_stats(filled10)
    assert s["formatted"] == "missing" and commands(s) == ["ait format"]
    filled10.store.compact()
    past = time.time() - 60
    os.utime(filled10.examples_path, (past, past))
    filled10.train_path.write_text("{}\n")
    s = compute_stats(filled10)
    assert s["formatted"] == "current" and commands(s) == ["ait train"]
    filled10.store.patch(8, {"rating": 9})  # examples changed after formatting
    s = compute_stats(filled10)
    assert s["formatted"] == "stale" and commands(s) == ["ait format"]


def test_advice_is_a_pure_function_of_the_stats() -> None:
    base = {
        "total": 100,
        "rated": 100,
        "unrated": 0,
        "above_threshold": 80,
        "threshold": 8,
        "provider": "together",
        "train": 0,
        "val": 0,
        "train_usable": 0,
        "excluded": 0,
        "unsplit_above_threshold": 80,
        "formatted": "missing",
    }
    assert advice(base) == [
        {"level": "todo", "message": "assign 80 good examples to train or val", "command": "ait split"}
    ]


def test_extra_collectors_add_their_keys(filled10: Project) -> None:
    class Longest:
        def result(self) -> dict[str, Any]:
            snap = filled10.store.read()
            return {"longest_conversation": max(len(snap.record(r)["messages"]) for r in range(len(snap)))}

    assert compute_stats(filled10, [Longest()])["longest_conversation"] == 2


def test_malformed_data_raises_with_every_line(filled10: Project) -> None:
    with open(filled10.examples_path, "ab") as f:
        f.write(b"{oops\n[]\n")
    with pytest.raises(DataError) as e:
        compute_stats(filled10)
    assert [p.line for p in e.value.problems] == [11, 12]


# -- the command ------------------------------------------------------------------------------------------------------
def test_stats_json(ait, filled10: Project) -> None:
    r = ait("stats", "--json", cwd=filled10.root)
    assert r.exit_code == 0, r.stderr
    s = json.loads(r.stdout)
    assert set(s) >= KEYS and s["total"] == 10 and s["distribution"]["10"] == 1 and r.stderr == ""


def test_stats_text(ait, filled10: Project, store_conv) -> None:
    filled10.store.append([store_conv("u")])
    r = ait("stats", cwd=filled10.root)
    assert r.exit_code == 0, r.stderr
    out = r.stdout
    assert "Examples  11" in out and "Rated     10 (90.9%)" in out and "Unrated   1 (9.1%)" in out
    bars = [line.split() for line in out.splitlines() if line[:4].strip().isdigit()]
    assert [b[0] for b in bars] == [str(r) for r in range(10, 0, -1)]
    assert all(b[1] == "#" * 30 and b[2] == "1" for b in bars)  # plain ASCII bars in a pipe
    assert "Rated 8 or higher: 3 (30.0% of rated)" in out
    assert "next: rate 1 unrated example: ait rate" in out
    assert "\x1b[" not in out and "█" not in out


def test_stats_empty_project_text(ait, project: Project) -> None:
    r = ait("stats", cwd=project.root)
    assert r.exit_code == 0
    assert "Examples  0" in r.stdout and "Ratings" not in r.stdout and "ait add" in r.stdout


def test_stats_outside_a_project(ait, tmp_path) -> None:
    r = ait("stats", cwd=tmp_path)
    assert r.exit_code == 1 and "no aitelier project found" in r.stderr and "ait init" in r.stderr


def test_stats_bad_flag_is_a_usage_error(ait, project: Project) -> None:
    r = ait("stats", "--bogus", cwd=project.root)
    assert r.exit_code == 2 and "No such option" in r.stderr


def test_stats_missing_final_newline_is_a_warning_not_an_error(ait, filled10: Project) -> None:
    data = filled10.examples_path.read_bytes()[:-1]
    filled10.examples_path.write_bytes(data)
    r = ait("stats", "--json", cwd=filled10.root)
    assert r.exit_code == 0 and json.loads(r.stdout)["total"] == 10
    assert f"warning: {filled10.examples_path}:10: no newline at end of file" in r.stderr
    assert filled10.examples_path.read_bytes() == data


def test_stats_on_a_terminal_has_colour_and_solid_bars(filled10: Project) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env["TERM"] = "xterm-256color"
    child = pexpect.spawn(
        sys.executable,
        ["-m", "aitelier", "stats"],
        cwd=str(filled10.root),
        env=env,
        encoding="utf-8",
        timeout=30,
    )
    child.expect(pexpect.EOF)
    child.close()
    out = child.before or ""
    assert child.exitstatus == 0, out
    assert "█" in out and "#####" not in out and "\x1b[" in out
    assert "Rated 8 or higher: 3" in out
