#!/usr/bin/env python3
"""Trim the providers' OpenAPI specs to what aitelier's provider tests use, so the repository stays
self-contained for people who clone it without the full specs.

    python scripts/extract_specs.py [SPEC_DIR]      # default: ../shared/specs next to the repository

For each provider it keeps the operations we call (paths + methods), every component schema they reach through
``$ref`` (transitively), and drops prose and vendor extensions (descriptions, examples, code samples, ``x-*``).
The result is written as JSON to ``tests/contract/providers/specs/<provider>.json`` with the upstream license beside it
and ``SOURCES.md`` naming the upstream repository and commit. Needs PyYAML (a dev dependency).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "tests" / "contract" / "providers" / "specs"

SOURCES: dict[str, dict[str, Any]] = {
    "together": {
        "file": "together-openapi.yaml",
        "license": "LICENSE-together-openapi",
        "repo": "togethercomputer/openapi",
        "commit": "090263a",
        "date": "2026-04-28",
        "operations": [
            ("/files/{id}", "get"),
            ("/fine-tunes", "post"),
            ("/fine-tunes", "get"),
            ("/fine-tunes/estimate-price", "post"),
            ("/fine-tunes/{id}", "get"),
            ("/fine-tunes/{id}/events", "get"),
            ("/fine-tunes/{id}/cancel", "post"),
            ("/fine-tunes/{id}/metrics", "get"),
            ("/fine-tunes/models/limits", "get"),
            ("/chat/completions", "post"),
        ],
        "schemas": ["FinetuneJobStatus", "FinetuneEventType", "FinetuneResponse"],
    },
    "openai": {
        "file": "openai-openapi.yaml",
        "license": "LICENSE-openai-openapi",
        "repo": "openai/openai-openapi",
        "commit": "f85dbe2",
        "date": "2026-08-21",
        "operations": [
            ("/files", "post"),
            ("/fine_tuning/jobs", "post"),
            ("/fine_tuning/jobs", "get"),
            ("/fine_tuning/jobs/{fine_tuning_job_id}", "get"),
            ("/fine_tuning/jobs/{fine_tuning_job_id}/cancel", "post"),
            ("/fine_tuning/jobs/{fine_tuning_job_id}/events", "get"),
            ("/chat/completions", "post"),
        ],
        "schemas": ["FineTuningJob", "FineTuningJobEvent"],
    },
}

# Keys whose values are maps of names (not schema keywords), so a property called "description" survives.
NAME_MAPS = {"properties", "patternProperties", "$defs", "definitions", "responses", "content", "headers"}
PROSE = {"description", "summary", "example", "examples", "externalDocs", "title", "tags", "deprecated"}


def trim(node: Any, names: bool = False) -> Any:
    if isinstance(node, list):
        return [trim(v) for v in node]
    if not isinstance(node, dict):
        return node
    if names:
        return {k: trim(v) for k, v in node.items()}
    return {
        k: trim(v, names=k in NAME_MAPS)
        for k, v in node.items()
        if k not in PROSE and not str(k).startswith("x-")
    }


def refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str) and v.startswith("#/components/"):
                found.add(v)
            else:
                found |= refs(v)
    elif isinstance(node, list):
        for v in node:
            found |= refs(v)
    return found


def extract(spec: dict[str, Any], source: dict[str, Any]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for path, method in source["operations"]:
        op = spec["paths"][path][method]
        paths.setdefault(path, {})[method] = trim(op)
    components: dict[str, dict[str, Any]] = {}
    todo = refs(paths) | {f"#/components/schemas/{name}" for name in source["schemas"]}
    done: set[str] = set()
    while todo:
        ref = todo.pop()
        if ref in done:
            continue
        done.add(ref)
        _, _, kind, name = ref.split("/", 3)
        value = trim(spec["components"][kind][name])
        components.setdefault(kind, {})[name] = value
        todo |= refs(value) - done
    return {
        "openapi": spec.get("openapi"),
        "info": {"title": spec["info"]["title"], "version": spec["info"]["version"]},
        "servers": spec.get("servers", []),
        "x-source": {k: source[k] for k in ("repo", "commit", "date", "file")},
        "paths": paths,
        "components": {kind: dict(sorted(v.items())) for kind, v in sorted(components.items())},
    }


def digest(extract_doc: dict[str, Any]) -> str:
    """SHA-256 of an extract's canonical JSON, recorded in SOURCES.md so a hand edit is noticed anywhere."""
    canonical = json.dumps(extract_doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def main(argv: list[str]) -> int:
    import yaml

    spec_dir = Path(argv[1]) if len(argv) > 1 else REPO.parent / "shared" / "specs"
    if not spec_dir.is_dir():
        print(f"no spec directory at {spec_dir}", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    lines = [
        "# Trimmed provider API specs",
        "",
        "Produced by `scripts/extract_specs.py` from the providers' published OpenAPI specs: only the operations",
        "aitelier calls and the schemas they reference, without prose. Do not edit by hand; rerun the script.",
        "",
        "| file | source | commit | date | license | source sha256 | extract sha256 |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, source in SOURCES.items():
        raw = (spec_dir / source["file"]).read_bytes()
        spec = yaml.load(raw, Loader=loader)  # noqa: S506 - CSafeLoader / SafeLoader
        out = extract(spec, source)
        (OUT / f"{name}.json").write_text(json.dumps(out, indent=1, sort_keys=False) + "\n", encoding="utf-8")
        shutil.copyfile(spec_dir / source["license"], OUT / source["license"])
        lines.append(
            f"| `{name}.json` | https://github.com/{source['repo']} (`{source['file']}`) | {source['commit']} "
            f"| {source['date']} | MIT, `{source['license']}` | {hashlib.sha256(raw).hexdigest()} | {digest(out)} |"
        )
    (OUT / "SOURCES.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
