"""The JSON Schema of an example line ships with the package and is what the code generates."""

from __future__ import annotations

import json
from importlib import resources

import jsonschema

from aitelier.store.schema import json_schema
from helpers import record


def shipped() -> dict:
    return json.loads(resources.files("aitelier.store").joinpath("example.schema.json").read_text("utf-8"))


def test_the_shipped_schema_is_the_generated_one() -> None:
    assert shipped() == json_schema()


def test_the_schema_accepts_an_npm_line_and_refuses_what_the_store_refuses() -> None:
    schema = shipped()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    good = record(1, rating=9, split="train", source="import", tags=["a"], unknownField={"kept": True})
    assert list(validator.iter_errors(good)) == []
    for bad in (
        {**good, "createdAt": "yesterday"},
        {**good, "rating": 11},
        {**good, "split": "test"},
        {**good, "messages": []},
        {**good, "messages": [{"role": "bot", "content": "x"}]},
        {k: v for k, v in good.items() if k != "id"},
    ):
        assert list(validator.iter_errors(bad)), bad
