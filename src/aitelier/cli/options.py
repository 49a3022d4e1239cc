"""Option types whose choices come from the provider registry, read only when a command needs them (its help,
or parsing a value), so `ait --help` never loads the provider plugins."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click


class ProviderChoice(click.Choice):
    """The name of a registered provider (built-in or plugin)."""

    def __init__(self) -> None:
        super().__init__([])

    @property
    def choices(self) -> Sequence[Any]:
        from ..providers import registry

        return registry.names()

    @choices.setter
    def choices(self, value: Sequence[Any]) -> None:  # click.Choice.__init__ assigns it
        pass

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from ..providers import registry

        if isinstance(value, str) and registry.is_builtin(value):  # no need to look at the plugins
            return value
        return super().convert(value, param, ctx)


PROVIDER = ProviderChoice()
