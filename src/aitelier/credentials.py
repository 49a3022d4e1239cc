"""API keys and base URLs: from the environment, or from a ``.env`` file in the project.

One function answers "which key and which base URL does provider X use here", for every command (train,
status, cancel, eval), so the rules live in one place:

* the process environment wins over ``.env`` (the usual dotenv rule, so a CI secret overrides a local file);
* a missing key fails before any work, naming the variable and where it was looked for;
* keys are held in memory only: never written to ``.aitelier.json``, run records or logs, and
  :func:`scrub` removes them (and anything that looks like a bearer token) from text that may be shown or saved.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from .errors import AitelierError, ConfigError

DOTENV = ".env"
TIMEOUT_ENV = "AITELIER_TIMEOUT"
RETRIES_ENV = "AITELIER_MAX_RETRIES"
POLL_ENV = "AITELIER_POLL_INTERVAL"

N = TypeVar("N", int, float)
SECRET_SUFFIXES = ("_API_KEY", "_TOKEN", "_SECRET")  # variables whose values are scrubbed from any output


class MissingKey(AitelierError):
    """No API key for the provider in the environment or the project's .env."""


@dataclass(frozen=True)
class Credentials:
    provider: str
    api_key: str = field(repr=False)
    key_var: str
    key_source: str  # "environment" or the .env path
    base_url: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:  # never show the key, even in a traceback
        return (
            f"Credentials(provider={self.provider!r}, key_var={self.key_var!r}, base_url={self.base_url!r})"
        )


_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


def parse_dotenv(text: str) -> dict[str, str]:
    """KEY=VALUE lines as docker/python-dotenv read them: `export` prefix, quotes, # comments, blank lines."""
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        if not m:
            continue
        key, value = m.group(1), m.group(2)
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1].replace("\\n", "\n").replace('\\"', '"')
        elif len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1]
        else:
            # an unquoted value ends at " #" (an inline comment)
            value = re.split(r"\s+#", value, maxsplit=1)[0].strip()
        out[key] = value
    return out


def read_dotenv(project_root: Path | None) -> dict[str, str]:
    if project_root is None:
        return {}
    path = Path(project_root) / DOTENV
    try:
        data = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        return {}
    try:
        return parse_dotenv(data.decode("utf-8-sig"))
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from e


def lookup(name: str, project_root: Path | None, environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(value, source) of a setting: the environment first, then the project's .env. ("", "") if unset."""
    env = os.environ if environ is None else environ
    value = env.get(name, "").strip()
    if value:
        return value, "environment"
    dotenv = read_dotenv(project_root)
    value = dotenv.get(name, "").strip()
    if value:
        return value, str(Path(project_root or ".") / DOTENV)
    return "", ""


def resolve(
    provider: str,
    project_root: Path | None = None,
    *,
    key_var: str,
    base_url_var: str,
    extra_vars: tuple[str, ...] = (),
    environ: Mapping[str, str] | None = None,
) -> Credentials:
    """The key and base URL for ``provider`` from the variables its registration names; raises
    :class:`MissingKey` naming the key variable when it is unset."""
    key, source = lookup(key_var, project_root, environ)
    if not key:
        where = (
            "the environment" if project_root is None else f"the environment or {Path(project_root) / DOTENV}"
        )
        raise MissingKey(
            f"{key_var} is not set (looked in {where})",
            hint=f"export {key_var}=... or add a `{key_var}=...` line to the project's .env (kept out of git)",
        )
    base_url, _ = lookup(base_url_var, project_root, environ)
    extra = {}
    for var in extra_vars:
        value, _ = lookup(var, project_root, environ)
        if value:
            extra[var] = value
    return Credentials(provider, key, key_var, source, base_url or None, extra)


def known_secrets(project_root: Path | None = None, environ: Mapping[str, str] | None = None) -> list[str]:
    """Every key value this process could use (environment and .env), longest first, for :func:`scrub`."""
    env = os.environ if environ is None else environ
    values = {v for n, v in env.items() if n.endswith(SECRET_SUFFIXES)}
    dotenv = read_dotenv(project_root)
    values |= {v for n, v in dotenv.items() if n.endswith(SECRET_SUFFIXES)}
    return sorted((v for v in values if len(v) >= 6), key=len, reverse=True)


_TOKEN_PATTERNS = (
    # the password of a URL (http://user:password@host/...), as in a base URL
    re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+(?=@)"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{6,}"),
    re.compile(r"(?i)((?:api[_-]?key|authorization|token)[\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9._~+/=-]{6,}"),
    re.compile(r"\b(sk-|tgp_v1_|tgp_)[A-Za-z0-9_-]{6,}"),
)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every key in the environment, each of ``secrets``, anything shaped like a bearer token
    and the password of any URL replaced by ``***``."""
    for secret in sorted({*known_secrets(), *(s for s in secrets if len(s) >= 6)}, key=len, reverse=True):
        text = text.replace(secret, "***")
    for pattern in _TOKEN_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + "***", text)
    return text


def number_setting(name: str, default: N, environ: Mapping[str, str] | None = None) -> N:
    """A number from the environment, of the default's type: seconds (float, above 0) or a count (int, 0 or
    more); the default when unset."""
    env = os.environ if environ is None else environ
    raw = env.get(name, "").strip()
    if not raw:
        return default
    whole = isinstance(default, int)
    try:
        value = type(default)(raw)
    except ValueError as e:
        what = "a whole number" if whole else "a number of seconds"
        raise ConfigError(f"{name} must be {what}, got {raw!r}") from e
    if value < 0 or (value == 0 and not whole):
        raise ConfigError(f"{name} must {'not be negative' if whole else 'be positive'}, got {raw!r}")
    return value
