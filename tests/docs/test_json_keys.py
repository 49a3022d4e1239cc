"""The manual lists the keys that `ait stats --json`, `ait split --json` and `ait format --json` print; these
lists are written by hand, so a test holds them to what the commands really print (a key added or dropped in the
code without the page fails here)."""

from __future__ import annotations

import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COMMANDS = REPO / "docs" / "commands"


def stats_table_keys() -> set[str]:
    page = (COMMANDS / "health.md").read_text(encoding="utf-8")
    table = page[page.index("`ait stats --json` prints:") :].split("\n\n")[1]
    first_cells = [row.split("|")[1] for row in table.splitlines()[2:]]
    return {key for cell in first_cells for key in re.findall(r"`([a-z_]+)`", cell)}


def top_level_keys(sentence: str) -> set[str]:
    """The backticked keys of a "`--json` prints `a`, `b` (`inner`/`keys`) and `c`." sentence, without the ones
    in parentheses (those describe a key's value)."""
    return set(re.findall(r"`([A-Za-z_]+)`", re.sub(r"\([^()]*\)", "", sentence)))


def sentence_after(page: str, start: str) -> str:
    text = " ".join(page.split())
    begin = text.index(start)
    end = re.compile(r"\.(\s|$)").search(text, begin)  # a full stop, not the one in "examples.jsonl"
    assert end is not None
    return text[begin : end.start()]


def test_the_stats_page_lists_every_key_of_stats_json(ait, tmp_path):
    where = tmp_path / "support"
    assert ait("init", "--example", "customer-support", str(where)).exit_code == 0
    printed = json.loads(ait("-C", str(where), "stats", "--json").stdout)
    assert stats_table_keys() == set(printed)


def test_the_data_page_lists_every_key_of_split_and_format_json(ait, tmp_path):
    where = tmp_path / "support"
    assert ait("init", "--example", "customer-support", str(where)).exit_code == 0
    split = json.loads(ait("-C", str(where), "split", "--json").stdout)
    formatted = json.loads(ait("-C", str(where), "format", "--json").stdout)
    page = (COMMANDS / "data.md").read_text(encoding="utf-8")
    assert top_level_keys(sentence_after(page, "`--json` prints `seed`")) == set(split)
    assert top_level_keys(sentence_after(page, "`--json` prints `ok`")) == set(formatted)
