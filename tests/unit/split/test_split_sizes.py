"""How many examples `ait split` puts in validation: literal expectations, never computed by the code."""

from __future__ import annotations

from pathlib import Path

import pytest

from aitelier import Project
from aitelier.split import split_project
from helpers import record, write_records


def _project(tmp_path: Path, n: int) -> Project:
    project = Project.create(tmp_path / "p", name="t", provider="together", threshold=8)
    write_records(project.examples_path, [record(i, rating=9) for i in range(1, n + 1)])
    return project


@pytest.mark.parametrize(
    ("eligible", "ratio", "val"),
    [
        (5, 0.9, 1),  # 0.5 rounds up
        (15, 0.9, 2),  # 1.5 rounds up
        (25, 0.9, 3),  # 2.5 rounds up
        (14, 0.9, 1),  # 1.4 rounds down
        (10, 0.8, 2),
        (100, 0.8, 20),
        (3, 0.75, 1),  # 0.75 rounds up
    ],
)
def test_validation_size_rounds_half_up(tmp_path: Path, eligible: int, ratio: float, val: int) -> None:
    result = split_project(_project(tmp_path, eligible), ratio=ratio, seed=1)
    assert (result.summary.train, result.summary.val) == (eligible - val, val)


@pytest.mark.parametrize(("eligible", "val"), [(2, 1), (3, 1), (4, 1)])
def test_two_or_more_eligible_examples_keep_one_for_validation(
    tmp_path: Path, eligible: int, val: int
) -> None:
    """0.2 x 2 rounds to 0, but an empty validation set cannot evaluate anything (issue 9, item 28)."""
    result = split_project(_project(tmp_path, eligible), ratio=0.8, seed=7)
    assert (result.summary.train, result.summary.val) == (eligible - val, val)


def test_one_eligible_example_goes_to_train(tmp_path: Path) -> None:
    result = split_project(_project(tmp_path, 1), ratio=0.8, seed=7)
    assert (result.summary.train, result.summary.val) == (1, 0)
