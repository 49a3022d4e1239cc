"""Fixtures for the provider, train, status and cancel tests: loopback fake servers, keys and base URLs pointing
at them, a project with formatted files, and the trimmed spec extracts for contract checks.

Helpers are fixtures because test modules cannot import each other under ``--import-mode=importlib``; the
fake servers are loaded once as the module ``aitelier_provider_fakes``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aitelier import Project

HERE = Path(__file__).resolve().parent
SPECS = HERE / "specs"


def _load_fakes() -> Any:
    name = "aitelier_provider_fakes"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, HERE / "fakes" / "__init__.py", submodule_search_locations=[str(HERE / "fakes")]
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    importlib.import_module(f"{name}.together")
    importlib.import_module(f"{name}.openai")
    return sys.modules[name]


fakes = _load_fakes()


@pytest.fixture
def fake_together() -> Iterator[Any]:
    server = fakes.together.FakeTogether().start()
    yield server
    server.stop()


@pytest.fixture
def fake_openai() -> Iterator[Any]:
    server = fakes.openai.FakeOpenAI().start()
    yield server
    server.stop()


def _fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AITELIER_TIMEOUT", "1")
    monkeypatch.setenv("AITELIER_MAX_RETRIES", "2")
    monkeypatch.setenv("AITELIER_POLL_INTERVAL", "0.01")


@pytest.fixture
def together_env(monkeypatch: pytest.MonkeyPatch, fake_together: Any) -> Any:
    """TOGETHER_API_KEY and TOGETHER_BASE_URL point at the fake; timeouts and polls are short."""
    monkeypatch.setenv("TOGETHER_API_KEY", fake_together.api_key)
    monkeypatch.setenv("TOGETHER_BASE_URL", fake_together.url)
    _fast(monkeypatch)
    return fake_together


@pytest.fixture
def openai_env(monkeypatch: pytest.MonkeyPatch, fake_openai: Any) -> Any:
    monkeypatch.setenv("OPENAI_API_KEY", fake_openai.api_key)
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.url + "/v1")
    _fast(monkeypatch)
    return fake_openai


def chat_line(i: int) -> str:
    return json.dumps(
        {
            "messages": [
                {"role": "system", "content": "Answer support questions briefly."},
                {"role": "user", "content": f"Where is my order number {i}?"},
                {"role": "assistant", "content": f"Order {i} ships tomorrow; you will get a tracking link."},
            ]
        }
    )


def write_formatted(project: Project, n_train: int = 60, n_val: int = 10) -> None:
    """data/train.jsonl and data/val.jsonl as `ait format` writes them, newer than the examples."""
    project.train_path.write_text("".join(chat_line(i) + "\n" for i in range(n_train)), encoding="utf-8")
    if n_val:
        project.val_path.write_text(
            "".join(chat_line(1000 + i) + "\n" for i in range(n_val)), encoding="utf-8"
        )
    old = project.examples_path.stat().st_mtime - 100
    os.utime(project.examples_path, (old, old))


@pytest.fixture
def train_project(tmp_path: Path) -> Project:
    project = Project.create(tmp_path / "proj", name="support", provider="together")
    write_formatted(project)
    return project


@pytest.fixture
def openai_project(tmp_path: Path) -> Project:
    project = Project.create(tmp_path / "oproj", name="support", provider="openai")
    write_formatted(project)
    return project


@pytest.fixture
def formatted() -> Callable[..., None]:
    return write_formatted


@pytest.fixture
def runs_of() -> Callable[[Project], list[dict[str, Any]]]:
    def read(project: Project) -> list[dict[str, Any]]:
        return list(json.loads(project.config_path.read_text())["runs"])

    return read


# -- spec contract helpers ----------------------------------------------------------------------------------------
def _pointer(*parts: str) -> str:
    return "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def openapi30_idioms(node: Any) -> Any:
    """Rewrite the OpenAPI 3.0 idioms these 3.1 documents still use into JSON Schema 2020-12:
    ``nullable: true`` beside a ``type`` admits null, and a boolean ``exclusiveMinimum`` qualifies ``minimum``."""
    if isinstance(node, list):
        return [openapi30_idioms(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: openapi30_idioms(v) for k, v in node.items()}
    if out.get("exclusiveMinimum") is True and "minimum" in out:
        out["exclusiveMinimum"] = out.pop("minimum")
    elif isinstance(out.get("exclusiveMinimum"), bool):
        out.pop("exclusiveMinimum")
    if out.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


class SpecChecker:
    """Validates JSON against a schema of a trimmed spec extract, with every $ref resolved inside it.

    OpenAPI documents use ``oneOf`` for alternatives that are not mutually exclusive (Together's
    ``LinearLRSchedulerArgs`` also accepts the cosine arguments the SDK sends), so by default ``oneOf`` is
    checked as ``anyOf``; ``strict=True`` keeps JSON Schema's exactly-one meaning.
    """

    def __init__(self, name: str) -> None:
        from jsonschema import Draft202012Validator, validators
        from jsonschema._keywords import anyOf
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012

        self.doc = openapi30_idioms(json.loads((SPECS / f"{name}.json").read_text()))
        self.uri = f"urn:aitelier-spec:{name}"
        self.registry = Registry().with_resource(
            self.uri, Resource(contents=self.doc, specification=DRAFT202012)
        )
        self._strict = Draft202012Validator
        self._lenient = validators.extend(Draft202012Validator, {"oneOf": anyOf})

    def errors(self, pointer: str, instance: Any, *, strict: bool = False) -> list[str]:
        cls = self._strict if strict else self._lenient
        v = cls({"$ref": self.uri + pointer}, registry=self.registry)
        return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in v.iter_errors(instance)]

    def request_schema(self, path: str, method: str, media: str = "application/json") -> str:
        return _pointer("paths", path, method, "requestBody", "content", media, "schema")

    def response_schema(
        self, path: str, method: str, status: str = "200", media: str = "application/json"
    ) -> str:
        return _pointer("paths", path, method, "responses", status, "content", media, "schema")

    def schema(self, name: str) -> str:
        return _pointer("components", "schemas", name)

    def enum(self, name: str) -> list[Any]:
        return list(self.doc["components"]["schemas"][name]["enum"])


@pytest.fixture(scope="session")
def together_spec() -> SpecChecker:
    return SpecChecker("together")


@pytest.fixture(scope="session")
def openai_spec() -> SpecChecker:
    return SpecChecker("openai")
