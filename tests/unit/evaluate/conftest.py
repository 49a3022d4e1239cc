from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from helpers import fakes


@pytest.fixture
def together() -> Iterator[Any]:
    server = fakes.together()
    yield server
    server.stop()


@pytest.fixture
def provider(together: Any) -> Iterator[Any]:
    """The real Together provider (its SDK) pointed at the fake, with the SDK's own retries off."""
    from aitelier.providers import registry

    p = registry.connect(
        "together",
        None,
        environ={
            "TOGETHER_API_KEY": together.api_key,
            "TOGETHER_BASE_URL": together.url,
            "AITELIER_MAX_RETRIES": "0",
            "AITELIER_TIMEOUT": "5",
        },
    )
    yield p
    p.close()
