"""One rule everywhere: an example with no user message is refused by `format` as by add/import/edit."""

from __future__ import annotations

from pathlib import Path

from aitelier import Project, formats
from helpers import record, write_records

ASSISTANT_ONLY = [{"role": "system", "content": "s"}, {"role": "assistant", "content": "an answer"}]


def test_format_refuses_an_assistant_only_example(tmp_path: Path, ait) -> None:
    project = Project.create(tmp_path / "p", name="t", provider="together", threshold=8)
    write_records(
        project.examples_path,
        [
            record(1, rating=9, split="train"),
            record(2, rating=9, split="train", messages=ASSISTANT_ONLY),
            record(3, rating=9, split="val"),
        ],
    )
    errors = [(p.rule, p.example_id) for p in formats.build(project).errors]
    assert errors == [("has-user", 2)]
    result = ait("format", cwd=project.root)
    assert result.exit_code == 3
    assert "no user message" in result.output and not project.train_path.exists()
