"""The loopback provider fakes (``tests/contract/providers/fakes``) and the spec extracts they follow.

Loaded once under one module name, so every test (and bench/bench_train.py) shares one copy of the classes.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

CONTRACT = Path(__file__).resolve().parents[1] / "contract" / "providers"
FAKES = CONTRACT / "fakes"
SPECS = CONTRACT / "specs"
NAME = "aitelier_provider_fakes"


def package() -> Any:
    """The fakes package, with its ``together`` and ``openai`` modules imported."""
    if NAME not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            NAME, FAKES / "__init__.py", submodule_search_locations=[str(FAKES)]
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[NAME] = module
        spec.loader.exec_module(module)
        importlib.import_module(f"{NAME}.together")
        importlib.import_module(f"{NAME}.openai")
    return sys.modules[NAME]


def together() -> Any:
    """A started FakeTogether (call ``.stop()`` when done)."""
    return package().together.FakeTogether().start()


def openai() -> Any:
    return package().openai.FakeOpenAI().start()
