"""The provider registry: built-ins and entry-point plugins registered the same way, SDKs imported lazily."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from aitelier.errors import UsageError
from aitelier.providers import registry


@pytest.fixture
def fresh_registry():
    registry.reset()
    yield registry
    registry.reset()


def test_builtins_are_registered(fresh_registry):
    names = fresh_registry.available()
    assert {"together", "openai"} <= set(names)
    assert names["together"].key_var == "TOGETHER_API_KEY"
    assert names["openai"].base_url_var == "OPENAI_BASE_URL"


def test_unknown_provider_lists_the_available_ones(fresh_registry):
    with pytest.raises(UsageError) as e:
        fresh_registry.get("acme")
    assert (
        "no provider named 'acme'" in str(e.value) and "openai" in str(e.value) and "together" in str(e.value)
    )


def test_connect_fails_on_a_missing_key_before_any_work(fresh_registry, tmp_path):
    from aitelier.credentials import MissingKey

    with pytest.raises(MissingKey, match="TOGETHER_API_KEY"):
        fresh_registry.connect("together", tmp_path)


def _install_plugin(tmp_path, monkeypatch, body: str, name: str = "acme") -> None:
    """A real distribution on sys.path with an `aitelier.providers` entry point."""
    pkg = f"aitelier_{name}_plugin"
    (tmp_path / f"{pkg}.py").write_text(textwrap.dedent(body))
    dist = tmp_path / f"{pkg}-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {pkg}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[aitelier.providers]\n{name} = {pkg}:register\n")
    monkeypatch.syspath_prepend(str(tmp_path))


def test_entry_point_plugins_register_like_builtins(fresh_registry, tmp_path, monkeypatch):
    _install_plugin(
        tmp_path,
        monkeypatch,
        """
        from aitelier.providers.together import TogetherProvider

        class AcmeProvider(TogetherProvider):
            name = "acme"
            title = "Acme"

        def register(register):
            register("acme", AcmeProvider, key_var="ACME_KEY", base_url_var="ACME_URL")
        """,
    )
    info = fresh_registry.get("acme")
    assert info.key_var == "ACME_KEY" and info.origin.startswith("plugin acme")
    monkeypatch.setenv("ACME_KEY", "acme-secret-key")
    monkeypatch.setenv("ACME_URL", "http://127.0.0.1:9")
    provider = fresh_registry.connect("acme", tmp_path)
    assert provider.title == "Acme" and provider.settings.credentials.api_key == "acme-secret-key"
    provider.close()


def test_a_broken_plugin_does_not_break_the_builtins(fresh_registry, tmp_path, monkeypatch):
    _install_plugin(
        tmp_path, monkeypatch, "def register(register):\n    raise RuntimeError('boom')\n", "broken"
    )
    assert "together" in fresh_registry.available()
    with pytest.raises(UsageError, match=r"failed to load: broken \(RuntimeError: boom\)"):
        fresh_registry.get("broken")


def test_listing_and_registering_import_no_sdk():
    code = (
        "import sys; from aitelier.providers import registry; registry.available(); "
        "import aitelier.training, aitelier.cli.train_cmds; "
        "print(sorted(m for m in ('together', 'openai', 'httpx', 'rich') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_help_does_not_import_the_sdks(ait):
    r = ait("train", "--help")
    assert r.exit_code == 0 and "--dry-run" in r.stdout and "--force-new" in r.stdout
    code = (
        "import sys\nfrom aitelier.cli.main import main\n"
        "try:\n    main(['status', '--help'])\nexcept SystemExit:\n    pass\n"
        "print('SDK' if 'together' in sys.modules or 'openai' in sys.modules else 'none', file=sys.stderr)"
    )
    err = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stderr
    assert err.strip().endswith("none")
