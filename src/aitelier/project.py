"""A project on disk: ``.aitelier.json`` plus ``data/``. Compatible with the npm ``aitelier`` 0.5 layout.

The config is kept as the dict that was read, so fields this version does not know (the npm tool's, or a later
version's additive ones) survive a round trip in their original order. ``schemaVersion`` is absent in npm
projects (read as 1); a config from a newer schema is refused rather than half-read.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import ConfigError, ProjectExists, ProjectNotFound, UsageError
from .fsutil import atomic_write_text
from .store import Store
from .store.lock import project_lock

CONFIG_NAME = ".aitelier.json"
SCHEMA_VERSION = 1
DEFAULT_THRESHOLD = 8
PROJECT_ENV = "AITELIER_PROJECT"
SECRET_MARKERS = ("apikey", "secret", "password")  # in a key, ignoring case, "_" and "-"


# what `ait config get/set` reads and changes (plus the aliases it accepts)
SETTINGS = ("provider", "model", "systemPrompt", "qualityThreshold")
_ALIASES = {
    "threshold": "qualityThreshold",
    "quality-threshold": "qualityThreshold",
    "system-prompt": "systemPrompt",
    "system_prompt": "systemPrompt",
}


def setting_key(name: str) -> str:
    """The config key for a setting name or alias; UsageError naming the settings for anything else."""
    key = _ALIASES.get(name, name)
    if key not in SETTINGS:
        raise UsageError(f"unknown setting {name!r} (settings: {', '.join(SETTINGS)})")
    return key


def parse_setting(key: str, text: str) -> Any:
    """The value ``text`` gives setting ``key``, checked (None: an empty systemPrompt, which removes it)."""
    if key == "qualityThreshold":
        try:
            value = int(text.strip())
        except ValueError:
            value = 0
        if not 1 <= value <= 10:
            raise UsageError(f"qualityThreshold must be an integer 1-10, got {text!r}")
        return value
    if key == "provider":
        from .providers import registry

        if text not in registry.names():
            raise UsageError(f"provider must be one of {', '.join(registry.names())}, got {text!r}")
    if key == "model" and not text.strip():
        raise UsageError("model must not be empty")
    if key == "systemPrompt":
        return text.strip() or None
    return text.strip()


def looks_secret(key: str) -> bool:
    """Whether a config key looks like it holds a credential (apiKey, api_key, authToken, clientSecret, ...).

    "token" counts only at the end of a key, so fields such as ``maxTokens`` or ``tokenizer`` are allowed.
    """
    k = key.lower().replace("_", "").replace("-", "")
    return any(m in k for m in SECRET_MARKERS) or k.endswith("token")


def refuse_existing(root: Path) -> None:
    """Raise ProjectExists when ``root`` already holds a project's config or data files (never overwritten)."""
    for path in (
        root / CONFIG_NAME,
        *(root / "data" / f for f in ("examples.jsonl", "train.jsonl", "val.jsonl")),
    ):
        if path.exists():
            raise ProjectExists(f"{path} already exists; not overwriting it")


def validate_config(cfg: Any, path: Path) -> dict[str, Any]:
    if not isinstance(cfg, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    schema = cfg.get("schemaVersion", 1)
    if not isinstance(schema, int) or isinstance(schema, bool):
        raise ConfigError(f"{path}: `schemaVersion` must be an integer")
    if schema > SCHEMA_VERSION:
        raise ConfigError(
            f"{path} uses schema version {schema}, but this aitelier understands up to {SCHEMA_VERSION}",
            hint="upgrade aitelier (`pip install -U aitelier-cli`)",
        )
    if not isinstance(cfg.get("name"), str) or not cfg["name"].strip():
        raise ConfigError(f"{path}: `name` must be a non-empty string")
    # a provider name; whether one by that name is registered is asked when it is used (format, train), so
    # that reading a project never loads the provider plugins
    if not isinstance(cfg.get("provider"), str) or not cfg["provider"]:
        raise ConfigError(f"{path}: `provider` must be a provider's name, got {cfg.get('provider')!r}")
    if not isinstance(cfg.get("model"), str) or not cfg["model"]:
        raise ConfigError(f"{path}: `model` must be a non-empty string")
    sp = cfg.get("systemPrompt")
    if sp is not None and not isinstance(sp, str):
        raise ConfigError(f"{path}: `systemPrompt` must be a string")
    v = cfg.get("qualityThreshold")
    if v is not None and (not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 10):
        raise ConfigError(f"{CONFIG_NAME}: `qualityThreshold` must be an integer 1-10, got {v!r}")
    runs = cfg.get("runs", [])
    if not isinstance(runs, list):
        raise ConfigError(f"{path}: `runs` must be a list")
    odd = [i for i, run in enumerate(runs, 1) if not isinstance(run, dict)]
    if odd:
        raise ConfigError(
            f"{path}: `runs` must hold run records (JSON objects); entry {odd[0]} is "
            f"{json.dumps(runs[odd[0] - 1])}"
        )
    nid = cfg.get("nextId")
    if nid is not None and (not isinstance(nid, int) or isinstance(nid, bool) or nid < 1):
        raise ConfigError(f"{path}: `nextId` must be a positive integer")
    return cfg


def _load_config(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError as e:
        raise ProjectNotFound(str(path.parent)) from e
    try:
        cfg = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path}: not valid JSON ({e})") from e
    return validate_config(cfg, path)


class Project:
    def __init__(self, root: Path, config: dict[str, Any]) -> None:
        self.root = Path(root)
        self.config = config
        self.store = Store(
            self.data_dir,
            next_id_floor=lambda: int(self._fresh_config().get("nextId") or 1),
            raise_next_id_floor=self._raise_next_id,
        )

    def _raise_next_id(self, floor: int) -> None:
        if floor > int(self._fresh_config().get("nextId") or 1):
            self.update_config(lambda cfg: cfg.__setitem__("nextId", floor))

    # -- locating -------------------------------------------------------------------------------------------
    @classmethod
    def find(cls, start: str | os.PathLike[str] | None = None) -> Project:
        """The project at ``start`` (or $AITELIER_PROJECT, or the cwd) or the nearest parent holding one."""
        if start is None:
            start = os.environ.get(PROJECT_ENV) or os.getcwd()
        here = Path(start).resolve()
        for d in (here, *here.parents):
            if (d / CONFIG_NAME).is_file():
                return cls(d, _load_config(d / CONFIG_NAME))
        raise ProjectNotFound(str(here))

    @classmethod
    def create(
        cls,
        root: Path,
        *,
        name: str,
        provider: str,
        model: str | None = None,
        system_prompt: str | None = None,
        threshold: int = DEFAULT_THRESHOLD,
    ) -> Project:
        root = Path(root)
        refuse_existing(root)
        cfg_path = root / CONFIG_NAME
        data = root / "data"
        from .providers import registry

        cfg: dict[str, Any] = {
            "name": name,
            "provider": provider,
            "model": model or registry.get(provider).default_model,
        }
        if system_prompt:
            cfg["systemPrompt"] = system_prompt
        cfg["qualityThreshold"] = threshold
        cfg["runs"] = []
        cfg["schemaVersion"] = SCHEMA_VERSION
        validate_config(cfg, cfg_path)
        root.mkdir(parents=True, exist_ok=True)
        data.mkdir(exist_ok=True)
        project = cls(root, cfg)
        with project_lock(project.store.lock_path):
            if cfg_path.exists():
                raise ProjectExists(f"{cfg_path} already exists; not overwriting it")
            (data / "examples.jsonl").touch()
            project._write_config(cfg)
        gi = root / ".gitignore"
        lines = [  # data/.gitignore (written with the lock) covers the files ait keeps in data/
            "# aitelier: secrets and temp files stay out of git",
            ".env",
            f"/.{CONFIG_NAME}.*.tmp",
        ]
        existing = gi.read_text(encoding="utf-8").splitlines() if gi.exists() else []
        missing = [ln for ln in lines if ln not in existing]
        if missing:
            atomic_write_text(gi, "\n".join([*existing, *missing]) + "\n")
        return project

    # -- paths ----------------------------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def examples_path(self) -> Path:
        return self.data_dir / "examples.jsonl"

    @property
    def train_path(self) -> Path:
        return self.data_dir / "train.jsonl"

    @property
    def val_path(self) -> Path:
        return self.data_dir / "val.jsonl"

    def relative(self, path: Path) -> str:
        """``path`` as shown to the user: relative to the project root when it lies inside."""
        return str(path.relative_to(self.root) if path.is_relative_to(self.root) else path)

    # -- config values ----------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return str(self.config["name"])

    @property
    def provider(self) -> str:
        return str(self.config["provider"])

    @property
    def model(self) -> str:
        return str(self.config["model"])

    @property
    def system_prompt(self) -> str | None:
        return self.config.get("systemPrompt") or None

    @property
    def threshold(self) -> int:
        return int(self.config.get("qualityThreshold") or DEFAULT_THRESHOLD)

    @property
    def runs(self) -> list[dict[str, Any]]:
        return list(self.config.get("runs") or [])

    def secret_keys(self) -> list[str]:
        """Config keys that look like credentials (they belong in the environment or .env, not a file git may
        track)."""
        return [key for key in self.config if looks_secret(key)]

    def set_setting(self, name: str, text: str) -> tuple[Any, Any]:
        """Set one of :data:`SETTINGS` from its text (checked first), atomically under the lock.

        Returns (old value, new value); None is unset. Nothing is written when the value is already set.
        """
        key = setting_key(name)
        value = parse_setting(key, text)

        def change(cfg: dict[str, Any]) -> None:
            if value is None:
                cfg.pop(key, None)
            else:
                cfg[key] = value

        return self.update_config(change).get(key), value

    # -- writing the config -----------------------------------------------------------------------------------
    def _fresh_config(self) -> dict[str, Any]:
        return _load_config(self.config_path) if self.config_path.exists() else self.config

    def _write_config(self, cfg: dict[str, Any]) -> None:
        for key in cfg:
            if looks_secret(key):
                raise ConfigError(
                    f"refusing to write `{key}` to {CONFIG_NAME}: keys belong in the environment or .env"
                )
        # the npm tool writes JSON.stringify(config, null, 2); keep that shape so diffs stay small
        atomic_write_text(self.config_path, json.dumps(cfg, indent=2, ensure_ascii=False) + "\n")

    def update_config(self, fn: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
        """Read-modify-write of the config under the project lock (re-read so no concurrent change is lost);
        returns the config as it was before ``fn`` changed it."""
        with project_lock(self.store.lock_path):
            cfg = self._fresh_config()
            before = copy.deepcopy(cfg)
            fn(cfg)
            if cfg != before:  # nothing is written when nothing changed
                validate_config(cfg, self.config_path)
                self._write_config(cfg)
            self.config = cfg
            return before
