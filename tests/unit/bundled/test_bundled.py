"""The bundled example projects: valid, varied, and enough good examples for the split/format demo steps."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from aitelier.bundled import NAMES, create_from_example, example_config, example_data
from aitelier.curation import conversation_problems
from aitelier.errors import ProjectExists, UsageError
from aitelier.project import validate_config
from aitelier.store import Store, dumps
from aitelier.store.records import canonical


@pytest.fixture(params=NAMES)
def bundled(request, tmp_path):
    name = request.param
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "examples.jsonl").write_bytes(example_data(name))
    return name, Store(tmp_path / "data")


def test_config_is_valid(bundled):
    name, _ = bundled
    cfg = example_config(name)
    validate_config(cfg, Path(f"{name}.json"))
    assert cfg["name"] == name and cfg["systemPrompt"] and cfg["qualityThreshold"] == 8


def test_examples_read_cleanly_and_are_canonical(bundled):
    name, store = bundled
    result = store.read(full=True)
    assert result.problems == []
    examples = list(result)
    for ex in examples:
        assert conversation_problems(ex.messages) == []
        assert ex.raw == dumps(canonical(ex.data)).encode()  # written the way the store writes
        assert ex.messages[0] == {"role": "system", "content": example_config(name)["systemPrompt"]}
    assert [ex.id for ex in examples] == list(range(1, len(examples) + 1))


def test_examples_are_varied_enough_for_the_demo(bundled):
    name, store = bundled
    examples = store.read()
    ratings = Counter(ex.rating for ex in examples)
    threshold = example_config(name)["qualityThreshold"]
    good = sum(n for r, n in ratings.items() if r is not None and r >= threshold)
    low = sum(n for r, n in ratings.items() if r is not None and r < threshold)
    assert len(examples) >= 30
    assert good >= 10 and good > len(examples) / 2
    assert low >= 3 and ratings[None] >= 3
    assert sum(1 for ex in examples if len(ex.assistant_indexes()) > 1) >= 3  # multi-turn
    assert any(ex.original_output for ex in examples)  # some were rewritten
    conversations = {dumps([[m["role"], m["content"]] for m in ex.messages]) for ex in examples}
    assert len(conversations) == len(examples)  # no duplicates
    assert all(ex.split is None for ex in examples)  # `ait split` assigns them


def test_create_from_example_and_refuse_overwrite(tmp_path):
    p = create_from_example(tmp_path / "cs", "customer-support", project_name="renamed", threshold=9)
    assert p.name == "renamed" and p.threshold == 9 and len(p.store.read()) == 40
    with pytest.raises(ProjectExists):
        create_from_example(tmp_path / "cs", "customer-support")


def test_unknown_example_name():
    with pytest.raises(UsageError, match="no bundled example"):
        example_data("nope")
