"""Keys and base URLs: environment first, then the project's .env; missing keys name the variable; keys never
appear in what we show or save."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aitelier import credentials
from aitelier.credentials import Credentials, MissingKey, parse_dotenv, scrub
from aitelier.providers import registry


def resolve(provider: str, project_root) -> Credentials:
    """The provider's credentials, found as every command finds them."""
    return registry.settings_for(provider, project_root).credentials


def test_parse_dotenv_forms():
    text = (
        "# a comment\n"
        "\n"
        "TOGETHER_API_KEY=abc123\n"
        "export OPENAI_API_KEY = 'sk-quoted # not a comment'\n"
        'TOGETHER_BASE_URL="http://127.0.0.1:9/"  \n'
        "PLAIN=value # inline comment\n"
        "not a line\n"
        'ESCAPED="a\\"b\\nc"\n'
    )
    env = parse_dotenv(text)
    assert env["TOGETHER_API_KEY"] == "abc123"
    assert env["OPENAI_API_KEY"] == "sk-quoted # not a comment"
    assert env["TOGETHER_BASE_URL"] == "http://127.0.0.1:9/"
    assert env["PLAIN"] == "value"
    assert env["ESCAPED"] == 'a"b\nc'
    assert "not a line" not in env


@given(
    name=st.from_regex(r"[A-Z_][A-Z0-9_]{0,20}", fullmatch=True),
    value=st.text(alphabet=string.ascii_letters + string.digits + "-_./:@+=", min_size=1, max_size=60),
    quote=st.sampled_from(["", "'", '"']),
    export=st.booleans(),
)
def test_parse_dotenv_round_trips_simple_values(name, value, quote, export):
    line = f"{'export ' if export else ''}{name}={quote}{value}{quote}\n"
    assert parse_dotenv(line) == {name: value}


def test_environment_wins_over_dotenv(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("TOGETHER_API_KEY=from-dotenv-key\nTOGETHER_BASE_URL=http://dotenv\n")
    c = resolve("together", tmp_path)
    assert (c.api_key, c.key_source, c.base_url) == (
        "from-dotenv-key",
        str(tmp_path / ".env"),
        "http://dotenv",
    )
    monkeypatch.setenv("TOGETHER_API_KEY", "from-env-key")
    c = resolve("together", tmp_path)
    assert (c.api_key, c.key_source) == ("from-env-key", "environment")


def test_missing_key_names_the_variable_and_where_it_looked(tmp_path):
    with pytest.raises(MissingKey) as e:
        resolve("openai", tmp_path)
    text = str(e.value)
    assert "OPENAI_API_KEY is not set" in text and str(tmp_path / ".env") in text


def test_blank_key_counts_as_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("TOGETHER_API_KEY", "   ")
    with pytest.raises(MissingKey):
        resolve("together", tmp_path)


def test_credentials_repr_never_shows_the_key(tmp_path, monkeypatch):
    monkeypatch.setenv("TOGETHER_API_KEY", "super-secret-value-123")
    c = resolve("together", tmp_path)
    assert "super-secret-value-123" not in repr(c) and "super-secret-value-123" not in str(c)


def test_scrub_removes_known_keys_and_token_shapes(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "my-env-key-987654")
    text = (
        "failed with my-env-key-987654 and extra-key-424242; Authorization: Bearer abcdefghijkl; "
        "key sk-proj-ABCDEF123456 and tgp_v1_zzzzzzzzzz; api_key=qwertyuiop"
    )
    out = scrub(text, ["extra-key-424242"])
    for secret in (
        "my-env-key-987654",
        "extra-key-424242",
        "abcdefghijkl",
        "sk-proj-ABCDEF123456",
        "tgp_v1_zzzzzzzzzz",
        "qwertyuiop",
    ):
        assert secret not in out
    assert "failed with ***" in out


def test_settings_from_environment(monkeypatch):
    monkeypatch.setenv("AITELIER_TIMEOUT", "0.5")
    assert credentials.number_setting("AITELIER_TIMEOUT", 60.0) == 0.5
    monkeypatch.setenv("AITELIER_TIMEOUT", "soon")
    with pytest.raises(credentials.ConfigError, match="AITELIER_TIMEOUT must be a number of seconds"):
        credentials.number_setting("AITELIER_TIMEOUT", 60.0)
    monkeypatch.setenv("AITELIER_TIMEOUT", "0")
    with pytest.raises(credentials.ConfigError, match="AITELIER_TIMEOUT must be positive"):
        credentials.number_setting("AITELIER_TIMEOUT", 60.0)
    monkeypatch.setenv("AITELIER_MAX_RETRIES", "0")
    assert credentials.number_setting("AITELIER_MAX_RETRIES", 2) == 0
    monkeypatch.setenv("AITELIER_MAX_RETRIES", "1.5")
    with pytest.raises(credentials.ConfigError, match="AITELIER_MAX_RETRIES must be a whole number"):
        credentials.number_setting("AITELIER_MAX_RETRIES", 2)
    monkeypatch.setenv("AITELIER_MAX_RETRIES", "-1")
    with pytest.raises(credentials.ConfigError, match="AITELIER_MAX_RETRIES must not be negative"):
        credentials.number_setting("AITELIER_MAX_RETRIES", 2)


def test_undecodable_dotenv_is_a_clear_error(tmp_path):
    (tmp_path / ".env").write_bytes(b"TOGETHER_API_KEY=\xff\xfe\n")
    with pytest.raises(credentials.ConfigError, match="not UTF-8"):
        resolve("together", tmp_path)
