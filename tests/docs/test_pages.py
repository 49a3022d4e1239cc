"""Hand-written parts of the manual that the code can contradict: the variables aitelier reads, the test files the
reliability page names, the README's quick start and links."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"


def test_every_environment_variable_aitelier_reads_is_documented():
    names = set()
    for path in (REPO / "src" / "aitelier").rglob("*.py"):
        names |= set(re.findall(r"\bAITELIER_[A-Z_]+\b", path.read_text(encoding="utf-8")))
    assert "AITELIER_PROJECT" in names  # the scan works
    keys = (DOCS / "keys.md").read_text(encoding="utf-8")
    missing = sorted(n for n in names if f"`{n}" not in keys)
    assert not missing, f"docs/keys.md does not describe {missing}"


def test_every_file_the_reliability_page_names_exists():
    page = (DOCS / "reliability.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`(tests/[\w/.-]+)`", page))
    assert len(named) >= 10
    missing = sorted(n for n in named if not (REPO / n).exists())
    assert not missing, f"docs/reliability.md names tests that do not exist: {missing}"


def test_every_page_is_in_the_site_navigation():
    nav = (REPO / "mkdocs.yml").read_text(encoding="utf-8")
    pages = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md"))
    assert [p for p in pages if p not in nav] == []
