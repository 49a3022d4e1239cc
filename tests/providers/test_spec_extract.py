"""The trimmed spec extracts in tests/providers/specs are what scripts/extract_specs.py makes from the full
specs (when those are available next to the repository, as in the development workspace)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SPEC_DIR = REPO.parent / "shared" / "specs"


def _script():
    spec = importlib.util.spec_from_file_location("extract_specs", REPO / "scripts" / "extract_specs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_license_and_sources_sit_beside_the_extracts():
    specs = REPO / "tests" / "providers" / "specs"
    for name in ("LICENSE-together-openapi", "LICENSE-openai-openapi"):
        assert "MIT License" in (specs / name).read_text()
    sources = (specs / "SOURCES.md").read_text()
    assert "090263a" in sources and "f85dbe2" in sources


def test_trim_keeps_properties_named_like_keywords():
    trim = _script().trim
    node = {
        "type": "object",
        "description": "prose",
        "x-oaiMeta": {},
        "properties": {"description": {"type": "string"}},
    }
    assert trim(node) == {"type": "object", "properties": {"description": {"type": "string"}}}


@pytest.mark.slow
@pytest.mark.skipif(not SPEC_DIR.is_dir(), reason="the full specs are not next to this checkout")
def test_extracts_are_up_to_date():
    import yaml

    script = _script()
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for name, source in script.SOURCES.items():
        with (SPEC_DIR / source["file"]).open(encoding="utf-8") as f:
            full = yaml.load(f, Loader=loader)  # noqa: S506
        fresh = json.loads(json.dumps(script.extract(full, source)))
        committed = json.loads((REPO / "tests" / "providers" / "specs" / f"{name}.json").read_text())
        assert fresh == committed, f"rerun scripts/extract_specs.py ({name}.json is stale)"
