"""Providers by name: one :class:`ProviderInfo` per provider carries all of its facts. Built-ins register exactly
like third-party plugins do.

A plugin package declares an entry point in the ``aitelier.providers`` group whose object is a function taking
``register`` and calling it once per provider it offers::

    # pyproject.toml of aitelier-acme
    [project.entry-points."aitelier.providers"]
    acme = "aitelier_acme:register"

    # aitelier_acme.py
    def register(register):
        register("acme", AcmeProvider, default_model="acme-7b", key_var="ACME_API_KEY")

where ``AcmeProvider`` subclasses :class:`aitelier.providers.base.Provider` (its constructor takes
:class:`~aitelier.providers.base.ProviderSettings`; its class attributes declare the hyperparameters and the
status map). Every other fact has a default (see :class:`ProviderInfo`). Registering is cheap: nothing imports
an SDK until a provider is used, and nothing loads the plugins until a command asks for a provider.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import credentials
from ..errors import UsageError
from ..formats.rules import ERROR, OFF, RULES, WARNING, ProviderSpec
from .base import Hyperparameter, JobStatus, Provider, ProviderSettings

ENTRY_POINT_GROUP = "aitelier.providers"
# modules with a `register(register)` function, loaded before any entry point
BUILTIN_MODULES = ("aitelier.providers.together", "aitelier.providers.openai", "aitelier.providers.local")
DEFAULT = "together"  # the provider `ait init` picks when not told
DEFAULT_TIMEOUT = 60.0
DEFAULT_RETRIES = 2
NO_KEY = "-"  # key_var of a provider that needs no key


def cl100k_estimate(model: str) -> tuple[str, bool]:
    """Open models: counted with cl100k_base and marked as an estimate (their own tokenizers differ)."""
    return "cl100k_base", False


@dataclass(frozen=True)
class ProviderInfo:
    """Everything aitelier knows about one provider, from its one registration.

    ``trainer`` makes the provider's client (None: training is not available yet, ``unavailable`` says why).
    ``rules`` sets the severity of validation rules for this provider's files (``"error"``, ``"warning"`` or
    ``"off"``); a rule not named keeps its default (rules that are off by default, such as
    ``consecutive-roles``, apply only where a provider turns them on). ``encoding`` names the tiktoken encoding
    that counts a model's tokens and whether the count is exact. ``pricing`` says where a price comes from:
    ``"provider"`` (its price API at train time), ``"table"`` (aitelier's dated table, :mod:`aitelier.pricing`)
    or ``"free"``.
    """

    name: str
    trainer: Callable[[ProviderSettings], Provider] | None
    default_model: str
    title: str = ""
    key_var: str = ""
    base_url_var: str = ""
    extra_vars: tuple[str, ...] = ()
    file_format: ProviderSpec | None = None  # None: plain chat lines ({"messages": [role, content]})
    rules: Mapping[str, str] = field(default_factory=dict)
    encoding: Callable[[str], tuple[str, bool]] = cl100k_estimate
    pricing: str = "provider"
    capabilities: frozenset[str] = frozenset({"train"})  # of train, chat, download
    unavailable: str = ""  # why `ait train` cannot use it (when trainer is None)
    notice: str = ""  # said when a project is created for it
    unservable_hint: str = ""  # what to do when it cannot serve a model for chat (eval)
    origin: str = "built-in"

    @property
    def hyperparameters(self) -> tuple[Hyperparameter, ...]:
        return tuple(getattr(self.trainer, "hyperparameters", ()))

    @property
    def methods(self) -> tuple[str, ...]:
        """The training methods it offers ("sft", "dpo"), as its trainer declares them."""
        return tuple(getattr(self.trainer, "methods", ("sft",)))

    @property
    def status_map(self) -> Mapping[str, JobStatus]:
        return dict(getattr(self.trainer, "status_map", {}))

    def check_method(self, method: str) -> None:
        """A usage error (exit 2) unless it trains with ``method`` (for `ait format`, `validate` and `train`)."""
        if method not in self.methods:
            others = [n for n, i in available().items() if method in i.methods]
            raise UsageError(
                f"{self.title} does not train with --method {method} (its methods: {', '.join(self.methods)})",
                hint=f"providers that do: {', '.join(others)}" if others else None,
            )

    def severity(self, rule: str) -> str:
        """This provider's severity for ``rule``: error, warning or off."""
        default = RULES[rule]
        return self.rules.get(rule) or (default.severity if default.default_on else OFF)

    @property
    def spec(self) -> ProviderSpec:
        return self.file_format or ProviderSpec(self.name)

    def default(self, hyperparameter: str) -> Any:
        """The value `ait train` sends for ``hyperparameter`` when the user gives none (None: none is sent)."""
        for h in self.hyperparameters:
            if h.name == hyperparameter:
                return h.default
        return None


_providers: dict[str, ProviderInfo] = {}
_plugin_errors: dict[str, str] = {}
_loaded = {"built-in": False, "plugins": False}


def register(
    name: str,
    trainer: Callable[[ProviderSettings], Provider] | None = None,
    *,
    default_model: str = "",
    _origin: str = "built-in",
    **facts: Any,
) -> ProviderInfo:
    """Make a provider available as ``name`` (a later registration of the same name replaces it).

    ``facts`` are :class:`ProviderInfo` fields; key and base-URL variables default to ``NAME_API_KEY`` and
    ``NAME_BASE_URL``, the title to the trainer's ``title``.
    """
    if not name or not name.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"invalid provider name {name!r}")
    env_name = name.upper().replace("-", "_")
    facts.setdefault("title", getattr(trainer, "title", "") or name)
    facts["key_var"] = facts.get("key_var") or f"{env_name}_API_KEY"
    facts["base_url_var"] = facts.get("base_url_var") or f"{env_name}_BASE_URL"
    for rule, severity in (facts.get("rules") or {}).items():
        if rule not in RULES or severity not in (ERROR, WARNING, OFF):
            raise ValueError(f"provider {name}: unknown rule {rule!r} or severity {severity!r}")
    info = ProviderInfo(name=name, trainer=trainer, default_model=default_model, origin=_origin, **facts)
    _providers[name] = info
    return info


def _load_builtins() -> None:
    if not _loaded["built-in"]:
        _loaded["built-in"] = True
        for module in BUILTIN_MODULES:
            importlib.import_module(module).register(register)


def _load() -> None:
    """The built-ins, then every plugin of the entry-point group (importlib.metadata is only imported here:
    commands on a built-in provider never pay for scanning the installed packages)."""
    _load_builtins()
    if _loaded["plugins"]:
        return
    _loaded["plugins"] = True
    from importlib.metadata import entry_points

    builtin = set(_providers)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        origin = f"plugin {ep.name} ({ep.value})"

        def reg(name: str, *args: Any, _o: str = origin, **kw: Any) -> ProviderInfo:
            if name in builtin:
                raise ValueError(f"{name!r} is a built-in provider; a plugin cannot replace it")
            return register(name, *args, _origin=_o, **kw)

        try:
            ep.load()(reg)
        except Exception as e:  # a broken plugin must not break the built-ins; say so when it is asked for
            _plugin_errors[ep.name] = f"{type(e).__name__}: {e}"


def reset() -> None:
    """Forget every registration (tests; plugins are found again on next use)."""
    _providers.clear()
    _plugin_errors.clear()
    _loaded.update({"built-in": False, "plugins": False})


def available() -> dict[str, ProviderInfo]:
    _load()
    return dict(_providers)


def names() -> list[str]:
    """Every registered provider's name, built-ins first."""
    _load()
    return list(_providers)


def is_builtin(name: str) -> bool:
    _load_builtins()
    return name in _providers and _providers[name].origin == "built-in"


def get(name: str) -> ProviderInfo:
    if not is_builtin(name):  # a built-in is known without looking at the plugins
        _load()
    info = _providers.get(name)
    if info is None:
        known = ", ".join(_providers) or "none"
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
    if info.key_var == NO_KEY:  # nothing leaves the machine (local)
        creds = credentials.Credentials(name, "", NO_KEY, "none")
    else:
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
        project_root=project_root,
        timeout=credentials.number_setting(credentials.TIMEOUT_ENV, DEFAULT_TIMEOUT, environ),
        max_retries=credentials.number_setting(credentials.RETRIES_ENV, DEFAULT_RETRIES, environ),
    )


def trainer_of(name: str) -> Callable[[ProviderSettings], Provider]:
    """The provider's client class; a usage error (exit 2) when it cannot train (yet)."""
    info = get(name)
    if info.trainer is None:
        raise UsageError(
            info.unavailable or f"{info.title} cannot train",
            hint="format and validate work; train on another provider for now (`--provider`)",
        )
    return info.trainer


def connect(
    name: str, project_root: Path | None = None, *, environ: Mapping[str, str] | None = None
) -> Provider:
    """A ready provider: fails before any network work when the key is missing (naming the variable)."""
    trainer = trainer_of(name)
    return trainer(settings_for(name, project_root, environ=environ))
