"""Nothing in the manual can silently go stale: the generated blocks of docs/ (every command's --help, the
command list, exit statuses, validation rules, providers, status words, the rate and eval keys, the example
sessions) equal what `python3 dev.py docs` writes from the code now; every command and option has help text and
every command a page."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIX = "run `python3 dev.py docs` and commit what it changes"


def _gen():
    spec = importlib.util.spec_from_file_location("aitelier_gen_docs", REPO / "scripts" / "gen_docs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gen():
    return _gen()


def test_the_generated_parts_of_the_docs_are_current(gen):
    stale = [
        str(page.relative_to(REPO))
        for page, text in gen.expected().items()
        if page.read_text(encoding="utf-8") != text
    ]
    assert not stale, f"stale generated docs in {', '.join(stale)}: {FIX}"


def test_every_command_and_option_has_help_text(gen):
    missing = gen.missing_help()
    assert not missing, "give these a help text (then " + FIX + "):\n" + "\n".join(missing)


def test_every_command_has_a_page(gen):
    pages = gen.command_pages()
    homeless = ["ait " + " ".join(path) for path, _, _ in gen.walk() if path not in pages]
    assert not homeless, (
        f"{', '.join(homeless)}: no page shows its --help; add a "
        "`<!-- BEGIN GENERATED: help NAME (python3 dev.py docs) -->` / `<!-- END GENERATED -->` pair to the page "
        f"under docs/commands/ that describes it, then {FIX}"
    )


def test_a_stale_block_is_found(gen, tmp_path, monkeypatch):
    page = tmp_path / "page.md"
    page.write_text(
        "# x\n<!-- BEGIN GENERATED: help rm (python3 dev.py docs) -->\nold text\n<!-- END GENERATED -->\n"
    )
    monkeypatch.setattr(gen, "DOCS", tmp_path)
    (fresh,) = gen.expected().values()
    assert "old text" not in fresh and "$ ait rm --help\nUsage: ait rm [OPTIONS] ID" in fresh
    assert fresh.endswith("```\n<!-- END GENERATED -->\n")
