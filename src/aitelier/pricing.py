"""A small, dated table of OpenAI fine-tuning training prices, and how a project overrides it.

Prices change; this table is a convenience for the estimate ``ait format`` prints, never a bill. The user can
override it for one run (``--price-per-1m``) or for the project (a ``pricing`` object in ``.aitelier.json``
mapping a model name or prefix to US dollars per million training tokens). Together's exact price comes from
its estimate-price endpoint at train time, so Together models are deliberately absent here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError

# When the table below was last checked against https://openai.com/api/pricing (fine-tuning, "training").
PRICES_AS_OF = "2025-06-01"

# US dollars per 1M training tokens, by model name prefix (the longest matching prefix wins, so a dated
# snapshot such as gpt-4.1-mini-2025-04-14 finds gpt-4.1-mini).
OPENAI_TRAINING_PER_1M: dict[str, float] = {
    "gpt-4.1": 25.00,
    "gpt-4.1-mini": 5.00,
    "gpt-4.1-nano": 1.50,
    "gpt-4o": 25.00,
    "gpt-4o-mini": 3.00,
    "gpt-3.5-turbo": 8.00,
}

CONFIG_KEY = "pricing"


@dataclass(frozen=True)
class Price:
    per_1m: float  # US dollars per million training tokens
    source: str  # "--price-per-1m", ".aitelier.json pricing", or "table as of <date>"


def base_model(model: str) -> str:
    """The base model of a fine-tuned name: ``ft:gpt-4.1-mini-2025-04-14:org::abc`` -> ``gpt-4.1-mini-...``."""
    if model.startswith("ft:"):
        return model[3:].split(":", 1)[0]
    return model


def _longest_prefix(table: Mapping[str, Any], model: str) -> str | None:
    best: str | None = None
    for key in table:
        if (model == key or model.startswith(key + "-") or model.startswith(key + ":")) and (
            best is None or len(key) > len(best)
        ):
            best = key
    return best


def config_prices(config: Mapping[str, Any]) -> dict[str, float]:
    """The project's ``pricing`` overrides, checked: {model or prefix: dollars per 1M training tokens}."""
    raw = config.get(CONFIG_KEY)
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"`{CONFIG_KEY}` in .aitelier.json must be an object of model -> dollars per 1M tokens"
        )
    out: dict[str, float] = {}
    for key, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(
                f"`{CONFIG_KEY}.{key}` in .aitelier.json must be a non-negative number (dollars per 1M tokens)"
            )
        out[str(key)] = float(value)
    return out


def training_price(
    model: str, *, config: Mapping[str, Any] | None = None, override: float | None = None
) -> Price | None:
    """The per-1M training price for ``model``: the flag, then the project's table, then ours; None if unknown."""
    if override is not None:
        if override < 0:
            raise ConfigError("--price-per-1m must not be negative")
        return Price(float(override), "--price-per-1m")
    name = base_model(model)
    custom = config_prices(config or {})
    key = (_longest_prefix(custom, model) or _longest_prefix(custom, name)) if custom else None
    if key is not None:
        return Price(custom[key], ".aitelier.json pricing")
    key = _longest_prefix(OPENAI_TRAINING_PER_1M, name)
    if key is not None:
        return Price(OPENAI_TRAINING_PER_1M[key], f"price table as of {PRICES_AS_OF}")
    return None


__all__ = ["OPENAI_TRAINING_PER_1M", "PRICES_AS_OF", "Price", "base_model", "config_prices", "training_price"]
