"""The trimmed spec extracts in tests/contract/providers/specs are what scripts/extract_specs.py makes from the full
specs. Every clone checks what it carries: each extract matches the hash SOURCES.md recorded when it was made
(no hand edits), holds every operation the script lists and every schema those reach (re-extracting it from
itself changes nothing). Next to the full specs (the development workspace) it is also re-made from them."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SPEC_DIR = REPO.parent / "shared" / "specs"


def _script():
    spec = importlib.util.spec_from_file_location("extract_specs", REPO / "scripts" / "extract_specs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_license_and_sources_sit_beside_the_extracts():
    specs = REPO / "tests" / "contract" / "providers" / "specs"
    for name in ("LICENSE-together-openapi", "LICENSE-openai-openapi"):
        assert "MIT License" in (specs / name).read_text()
    sources = (specs / "SOURCES.md").read_text()
    assert "090263a" in sources and "f85dbe2" in sources


def _recorded() -> dict[str, tuple[str, str]]:
    """{extract name: (source sha256, extract sha256)} from SOURCES.md."""
    out = {}
    for line in (REPO / "tests" / "contract" / "providers" / "specs" / "SOURCES.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 7 and cells[0].startswith("`") and cells[0].endswith(".json`"):
            out[cells[0].strip("`")[: -len(".json")]] = (cells[5], cells[6])
    return out


def test_extracts_are_what_the_script_recorded_and_self_contained():
    script = _script()
    recorded = _recorded()
    assert set(recorded) == set(script.SOURCES) == {"together", "openai"}
    for name, source in script.SOURCES.items():
        committed = json.loads(
            (REPO / "tests" / "contract" / "providers" / "specs" / f"{name}.json").read_text()
        )
        assert script.digest(committed) == recorded[name][1], (
            f"{name}.json was edited by hand; rerun the script"
        )
        assert committed["x-source"]["commit"] == source["commit"]
        # every listed operation is there, and every $ref resolves inside the extract: re-extracting the
        # extract from itself is a fixed point
        assert json.loads(json.dumps(script.extract(committed, source))) == committed
        assert len(recorded[name][0]) == 64


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
    recorded = _recorded()
    for name, source in script.SOURCES.items():
        raw = (SPEC_DIR / source["file"]).read_bytes()
        assert hashlib.sha256(raw).hexdigest() == recorded[name][0], (
            f"{source['file']} changed: rerun the script"
        )
        full = yaml.load(raw, Loader=loader)  # noqa: S506
        fresh = json.loads(json.dumps(script.extract(full, source)))
        committed = json.loads(
            (REPO / "tests" / "contract" / "providers" / "specs" / f"{name}.json").read_text()
        )
        assert fresh == committed, f"rerun scripts/extract_specs.py ({name}.json is stale)"
