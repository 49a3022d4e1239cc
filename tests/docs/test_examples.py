"""Each bundled example's page (docs/examples/NAME.md) states its numbers in an "At a glance" table; they must be
what `ait stats --json` and `ait list --json` say of a project made with `ait init --example NAME`, before and
after the first `ait split`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aitelier.bundled import NAMES

REPO = Path(__file__).resolve().parents[2]


def glance(name: str) -> dict[str, int]:
    page = (REPO / "docs" / "examples" / f"{name}.md").read_text(encoding="utf-8")
    table = page[page.index("## At a glance") :].split("\n\n")[2]
    rows = [line.split("|")[1:3] for line in table.splitlines()[2:]]
    return {label.strip(): int(count) for label, count in rows}


def test_every_bundled_example_has_a_page():
    assert sorted(p.stem for p in (REPO / "docs" / "examples").glob("*.md")) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_the_page_numbers_are_what_ait_stats_says(ait, tmp_path, name):
    where = tmp_path / name
    assert ait("init", "--example", name, str(where)).exit_code == 0
    stats = json.loads(ait("-C", str(where), "stats", "--json", "--no-tokens").stdout)
    examples = json.loads(ait("-C", str(where), "list", "--json").stdout)
    assert ait("-C", str(where), "split").exit_code == 0
    after = json.loads(ait("-C", str(where), "stats", "--json", "--no-tokens").stdout)

    def assistant_turns(example: dict) -> int:
        return sum(m["role"] == "assistant" for m in example["messages"])

    actual = {
        "Examples": stats["total"],
        "Rated": stats["rated"],
        "Unrated": stats["unrated"],
        "Rated 8 or higher (trained on)": stats["above_threshold"],
        "Rated below 8": stats["below_threshold"],
        "Multi-turn conversations": sum(assistant_turns(e) > 1 for e in examples),
        "Rewritten (the original reply kept in `originalOutput`)": sum(
            bool(e.get("originalOutput")) for e in examples
        ),
        "In train after the first `ait split`": after["train"],
        "In val after the first `ait split`": after["val"],
    }
    assert stats["threshold"] == 8
    assert glance(name) == actual, f"docs/examples/{name}.md disagrees with `ait stats --json`"
