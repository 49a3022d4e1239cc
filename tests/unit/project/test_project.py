"""Projects on disk: npm-compatible config, finding, creating, refusing what must be refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aitelier import Project
from aitelier.errors import ConfigError, ProjectExists, ProjectNotFound
from aitelier.project import SCHEMA_VERSION, looks_secret

# What the npm aitelier 0.5 writes (JSON.stringify(config, null, 2)), with a field this version does not know.
NPM_CONFIG = """{
  "name": "support-bot",
  "provider": "together",
  "model": "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
  "systemPrompt": "You are a support agent.",
  "qualityThreshold": 7,
  "runs": [
    {
      "id": "ft-123",
      "status": "completed"
    }
  ],
  "npmOnlyField": {
    "keep": true
  }
}
"""


def npm_project(root: Path) -> Path:
    (root / "data").mkdir(parents=True)
    (root / ".aitelier.json").write_text(NPM_CONFIG)
    (root / "data" / "examples.jsonl").write_bytes(b"")
    return root


def test_create_writes_an_npm_compatible_config(tmp_path: Path) -> None:
    p = Project.create(tmp_path / "p", name="bot", provider="openai", system_prompt="Be brief.", threshold=9)
    cfg = json.loads(p.config_path.read_text())
    assert cfg == {
        "name": "bot",
        "provider": "openai",
        "model": "gpt-4.1-mini-2025-04-14",
        "systemPrompt": "Be brief.",
        "qualityThreshold": 9,
        "runs": [],
        "schemaVersion": SCHEMA_VERSION,
    }
    assert p.config_path.read_text() == json.dumps(cfg, indent=2) + "\n"
    assert p.examples_path.read_bytes() == b""
    gitignore = (p.root / ".gitignore").read_text().splitlines()
    assert {".env", "/..aitelier.json.*.tmp"} <= set(gitignore)
    assert (p.name, p.provider, p.threshold, p.system_prompt, p.runs) == ("bot", "openai", 9, "Be brief.", [])


def test_create_keeps_an_existing_gitignore(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / ".gitignore").write_text("node_modules\n.env\n")
    Project.create(tmp_path / "p", name="x", provider="local")
    lines = (tmp_path / "p" / ".gitignore").read_text().splitlines()
    assert lines[:2] == ["node_modules", ".env"] and lines.count(".env") == 1


def test_create_refuses_to_overwrite(tmp_path: Path) -> None:
    Project.create(tmp_path / "p", name="x", provider="together")
    with pytest.raises(ProjectExists):
        Project.create(tmp_path / "p", name="y", provider="together")
    (tmp_path / "q" / "data").mkdir(parents=True)
    (tmp_path / "q" / "data" / "train.jsonl").write_text("{}\n")
    with pytest.raises(ProjectExists, match="train.jsonl"):
        Project.create(tmp_path / "q", name="y", provider="together")
    assert not (tmp_path / "q" / ".aitelier.json").exists()


def test_find_walks_up_and_honours_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = Project.create(tmp_path / "p", name="x", provider="together")
    deep = p.root / "a" / "b"
    deep.mkdir(parents=True)
    assert Project.find(deep).root == p.root.resolve()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ProjectNotFound, match="no aitelier project found"):
        Project.find()
    monkeypatch.setenv("AITELIER_PROJECT", str(p.root))
    assert Project.find().root == p.root.resolve()


def test_an_npm_project_opens_and_round_trips_unchanged(tmp_path: Path) -> None:
    root = npm_project(tmp_path / "npm")
    p = Project.find(root)
    assert (p.name, p.threshold, p.runs[0]["id"]) == ("support-bot", 7, "ft-123")
    p.update_config(lambda cfg: cfg.__setitem__("qualityThreshold", 8))
    p.update_config(lambda cfg: cfg.__setitem__("qualityThreshold", 7))  # written twice, back as it was
    assert (root / ".aitelier.json").read_text() == NPM_CONFIG  # no field renamed, reordered or added
    p.update_config(lambda cfg: cfg.__setitem__("qualityThreshold", 8))
    cfg = json.loads((root / ".aitelier.json").read_text())
    assert list(cfg) == [
        "name",
        "provider",
        "model",
        "systemPrompt",
        "qualityThreshold",
        "runs",
        "npmOnlyField",
    ]
    assert cfg["qualityThreshold"] == 8 and cfg["npmOnlyField"] == {"keep": True}


def test_update_config_sees_changes_made_by_another_process(tmp_path: Path) -> None:
    p = Project.create(tmp_path / "p", name="x", provider="together")
    other = Project.find(p.root)
    other.update_config(lambda cfg: cfg.__setitem__("runs", [{"id": "ft-1"}]))
    p.update_config(lambda cfg: cfg.__setitem__("qualityThreshold", 6))
    cfg = json.loads(p.config_path.read_text())
    assert cfg["runs"] == [{"id": "ft-1"}] and cfg["qualityThreshold"] == 6


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    root = npm_project(tmp_path / "p")
    cfg = json.loads(NPM_CONFIG)
    cfg["schemaVersion"] = SCHEMA_VERSION + 1
    (root / ".aitelier.json").write_text(json.dumps(cfg))
    with pytest.raises(ConfigError, match=f"schema version {SCHEMA_VERSION + 1}") as e:
        Project.find(root)
    assert e.value.hint and "upgrade aitelier" in e.value.hint


@pytest.mark.parametrize(
    ("change", "phrase"),
    [
        ({"provider": 3}, "`provider` must be a provider's name"),
        ({"name": ""}, "`name` must be a non-empty string"),
        ({"model": 3}, "`model` must be a non-empty string"),
        ({"qualityThreshold": 11}, "`qualityThreshold` must be an integer 1-10"),
        ({"qualityThreshold": True}, "`qualityThreshold` must be an integer 1-10"),
        ({"runs": {}}, "`runs` must be a list"),
        ({"systemPrompt": ["x"]}, "`systemPrompt` must be a string"),
        ({"nextId": 0}, "`nextId` must be a positive integer"),
        ({"schemaVersion": "2"}, "`schemaVersion` must be an integer"),
    ],
)
def test_invalid_configs_are_refused_with_the_field_named(tmp_path: Path, change: dict, phrase: str) -> None:
    root = npm_project(tmp_path / "p")
    (root / ".aitelier.json").write_text(json.dumps({**json.loads(NPM_CONFIG), **change}))
    with pytest.raises(ConfigError, match=phrase.replace("(", r"\(")):
        Project.find(root)


def test_broken_json_config(tmp_path: Path) -> None:
    root = npm_project(tmp_path / "p")
    (root / ".aitelier.json").write_text("{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        Project.find(root)
    (root / ".aitelier.json").write_bytes(b"\xef\xbb\xbf" + NPM_CONFIG.encode())  # a BOM from an editor
    assert Project.find(root).name == "support-bot"


def test_api_keys_are_never_written(tmp_path: Path) -> None:
    p = Project.create(tmp_path / "p", name="x", provider="together")
    before = p.config_path.read_bytes()
    for key in ("apiKey", "TOGETHER_API_KEY", "authToken", "clientSecret", "password"):
        with pytest.raises(ConfigError, match="refusing to write"):
            p.update_config(lambda cfg, key=key: cfg.__setitem__(key, "sk-123"))
        assert p.config_path.read_bytes() == before
    p.update_config(lambda cfg: cfg.__setitem__("maxTokens", 512))
    assert json.loads(p.config_path.read_text())["maxTokens"] == 512


def test_looks_secret() -> None:
    assert all(map(looks_secret, ["apiKey", "api_key", "API-KEY", "hfToken", "token", "secret"]))
    assert not any(map(looks_secret, ["maxTokens", "tokenizer", "name", "keywords"]))
