"""The loopback provider fakes (``tests/providers/fakes``) for tests outside ``tests/providers``.

Loaded once under the module name the providers' conftest uses, so every test shares one copy of the classes.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

FAKES = Path(__file__).resolve().parents[1] / "providers" / "fakes"
NAME = "aitelier_provider_fakes"


def _package() -> Any:
    if NAME not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            NAME, FAKES / "__init__.py", submodule_search_locations=[str(FAKES)]
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[NAME] = module
        spec.loader.exec_module(module)
    return sys.modules[NAME]


def together() -> Any:
    """A started FakeTogether (call ``.stop()`` when done)."""
    _package()
    return importlib.import_module(f"{NAME}.together").FakeTogether().start()


def openai() -> Any:
    _package()
    return importlib.import_module(f"{NAME}.openai").FakeOpenAI().start()
