"""The README is the front door: short, its quick start the two commands CI and the demo run, the published
name, the recording, and a link to every command page (so any command is two clicks away)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")


def _block_after(heading: str) -> list[str]:
    section = README[README.index(heading) :]
    block = section[section.index("```sh\n") + 6 :]
    return block[: block.index("```")].splitlines()


def test_the_readme_stays_short():
    assert len(README.splitlines()) < 200


def test_the_quick_start_is_the_two_commands_and_ci_runs_the_second():
    commands = [line.split("#")[0].strip() for line in _block_after("## Quick start")]
    assert commands == ["python3 dev.py demo", "python3 dev.py test"]
    ci = [
        line for line in (REPO / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")
    ]
    assert ci[-1] == "python3 dev.py test"


def test_the_install_commands_use_the_published_name():
    name = re.search(r'^name = "([^"]+)"', (REPO / "pyproject.toml").read_text(), re.M)
    assert name and name[1] == "aitelier-cli"
    for command in ("pipx install aitelier-cli", "uv tool install aitelier-cli", "pip install aitelier-cli"):
        assert command in README, command
    assert "pip install aitelier\n" not in README and "pip install aitelier " not in README


def test_every_command_page_is_one_click_from_the_readme():
    pages = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "docs" / "commands").glob("*.md"))
    assert pages and [p for p in pages if f"]({p})" not in README] == []


def test_every_link_from_the_readme_into_the_repository_exists():
    targets = re.findall(r"\]\(((?:docs/|LICENSE|CHANGELOG)[^)#]*)(?:#[^)]*)?\)", README)
    assert len(targets) > 10
    assert [t for t in targets if not (REPO / t).exists()] == []
    assert "](docs/demo.svg)" in README
