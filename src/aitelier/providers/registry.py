"""Providers by name. Built-ins register exactly like third-party plugins do.

A plugin package declares an entry point in the ``aitelier.providers`` group whose object is a function taking
``register`` and calling it once per provider it offers::

    # pyproject.toml of aitelier-acme
    [project.entry-points."aitelier.providers"]
    acme = "aitelier_acme:register"

    # aitelier_acme.py
    def register(register):
        register("acme", AcmeProvider, key_var="ACME_API_KEY", base_url_var="ACME_BASE_URL")

where ``AcmeProvider`` subclasses :class:`aitelier.providers.base.Provider` (its constructor takes
:class:`~aitelier.providers.base.ProviderSettings`). Registering is cheap: nothing imports an SDK until a
provider is used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .. import credentials
from ..errors import UsageError
from .base import Provider, ProviderSettings

ENTRY_POINT_GROUP = "aitelier.providers"
# modules with a `register(register)` function, loaded before any entry point
BUILTIN_MODULES = ("aitelier.providers.together", "aitelier.providers.openai")
DEFAULT_TIMEOUT = 60.0
DEFAULT_RETRIES = 2


@dataclass(frozen=True)
class ProviderInfo:
    name: str
    factory: Callable[[ProviderSettings], Provider]
    key_var: str
    base_url_var: str
    description: str = ""
    extra_vars: tuple[str, ...] = ()
    origin: str = "built-in"


_providers: dict[str, ProviderInfo] = {}
_plugin_errors: dict[str, str] = {}
_loaded = False


def register(
    name: str,
    factory: Callable[[ProviderSettings], Provider],
    *,
    key_var: str | None = None,
    base_url_var: str | None = None,
    description: str = "",
    extra_vars: tuple[str, ...] = (),
    _origin: str = "built-in",
) -> None:
    """Make a provider available as ``name`` (a later registration of the same name replaces it)."""
    if not name or not name.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"invalid provider name {name!r}")
    _providers[name] = ProviderInfo(
        name=name,
        factory=factory,
        key_var=key_var or f"{name.upper().replace('-', '_')}_API_KEY",
        base_url_var=base_url_var or f"{name.upper().replace('-', '_')}_BASE_URL",
        description=description,
        extra_vars=tuple(extra_vars),
        origin=_origin,
    )


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in BUILTIN_MODULES:
        importlib.import_module(module).register(register)
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        origin = f"plugin {ep.name} ({ep.value})"

        def reg(
            name: str, factory: Callable[[ProviderSettings], Provider], _o: str = origin, **kw: object
        ) -> None:
            register(name, factory, _origin=_o, **kw)  # type: ignore[arg-type]

        try:
            ep.load()(reg)
        except Exception as e:  # a broken plugin must not break the built-ins; say so when it is asked for
            _plugin_errors[ep.name] = f"{type(e).__name__}: {e}"


def reset() -> None:
    """Forget every registration (tests; plugins are found again on next use)."""
    global _loaded
    _providers.clear()
    _plugin_errors.clear()
    _loaded = False


def available() -> dict[str, ProviderInfo]:
    _load()
    return dict(_providers)


def plugin_errors() -> dict[str, str]:
    _load()
    return dict(_plugin_errors)


def get(name: str) -> ProviderInfo:
    _load()
    info = _providers.get(name)
    if info is None:
        known = ", ".join(sorted(_providers)) or "none"
        broken = (
            f"; plugins that failed to load: {', '.join(f'{k} ({v})' for k, v in _plugin_errors.items())}"
        )
        hint = "install the plugin that provides it" if not _plugin_errors else None
        raise UsageError(
            f"no provider named {name!r} (available: {known}{broken if _plugin_errors else ''})", hint=hint
        )
    return info


def settings_for(
    name: str, project_root: Path | None = None, *, environ: Mapping[str, str] | None = None
) -> ProviderSettings:
    """Credentials (environment, then the project's .env) and request settings for provider ``name``."""
    info = get(name)
    creds = credentials.resolve(
        name,
        project_root,
        environ=environ,
        key_var=info.key_var,
        base_url_var=info.base_url_var,
        extra_vars=info.extra_vars,
    )
    return ProviderSettings(
        credentials=creds,
        timeout=credentials.float_setting(credentials.TIMEOUT_ENV, DEFAULT_TIMEOUT, environ),
        max_retries=credentials.int_setting(credentials.RETRIES_ENV, DEFAULT_RETRIES, environ),
    )


def connect(
    name: str, project_root: Path | None = None, *, environ: Mapping[str, str] | None = None
) -> Provider:
    """A ready provider: fails before any network work when the key is missing (naming the variable)."""
    settings = settings_for(name, project_root, environ=environ)
    return get(name).factory(settings)
