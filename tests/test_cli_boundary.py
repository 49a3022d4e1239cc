"""The error boundary and the exit-status contract of `ait` (one test per documented status)."""

from __future__ import annotations

import sys
import types

import click
import pytest

from aitelier import __version__
from aitelier.cli import main as main_mod
from aitelier.errors import ExitStatus, JobFailed, ProviderError, ValidationFailed


@pytest.fixture
def fake_command(monkeypatch):
    """Register a throwaway command `boom` whose behaviour each test chooses."""
    module = types.ModuleType("aitelier.cli._boom")
    monkeypatch.setitem(sys.modules, "aitelier.cli._boom", module)
    monkeypatch.setitem(main_mod.COMMANDS, "boom", ("_boom", "boom", "test only"))

    def install(fn):
        module.boom = click.command("boom")(click.pass_context(fn))

    return install


def test_version_and_help(ait):
    r = ait("--version")
    assert r.exit_code == 0 and __version__ in r.stdout
    r = ait("--help")
    assert r.exit_code == 0
    for name in main_mod.COMMANDS:
        assert name in r.stdout
    assert "Exit status" in r.stdout


def test_help_imports_no_command_module_or_heavy_library(ait_proc, tmp_path):
    code = (
        "import sys; from aitelier.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('rich', 'together', 'openai', 'tiktoken', 'filelock', 'aitelier.cli.project_cmds')"
        " if m in sys.modules]\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    import subprocess

    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert "HEAVY []" in p.stderr


def test_unknown_command_is_usage_error(ait):
    r = ait("no-such-command")
    assert r.exit_code == ExitStatus.USAGE
    assert "No such command" in r.stderr


def test_bad_option_is_usage_error(ait):
    r = ait("--no-such-flag")
    assert r.exit_code == ExitStatus.USAGE


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (ValidationFailed("3 problems"), ExitStatus.VALIDATION),
        (ProviderError("the API said no"), ExitStatus.PROVIDER),
        (JobFailed("job failed"), ExitStatus.JOB_FAILED),
    ],
)
def test_typed_errors_map_to_their_status_and_one_line(ait, fake_command, exc, status):
    def boom(ctx):
        raise exc

    fake_command(boom)
    r = ait("boom")
    assert r.exit_code == status
    assert r.stderr.startswith("ait: error: ")
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def test_project_not_found_names_the_fix(ait, tmp_path):
    r = ait("list", cwd=tmp_path)
    assert r.exit_code == ExitStatus.ERROR
    assert "ait init" in r.stderr


def test_unexpected_exception_is_one_line_and_traceback_flag_shows_it(ait, fake_command):
    def boom(ctx):
        raise RuntimeError("kaput")

    fake_command(boom)
    r = ait("boom")
    assert r.exit_code == ExitStatus.ERROR
    assert "internal error: RuntimeError: kaput" in r.stderr and "--traceback" in r.stderr
    with pytest.raises(RuntimeError):
        ait("--traceback", "boom")


def test_traceback_env_var_shows_the_trace(ait, fake_command, monkeypatch):
    def boom(ctx):
        raise ProviderError("nope")

    fake_command(boom)
    monkeypatch.setenv("AITELIER_TRACEBACK", "1")
    with pytest.raises(ProviderError):
        ait("boom")


def test_keyboard_interrupt_is_130(ait, fake_command):
    def boom(ctx):
        raise KeyboardInterrupt

    fake_command(boom)
    r = ait("boom")
    assert r.exit_code == ExitStatus.INTERRUPTED == 130
    assert "interrupted" in r.stderr


def test_ctx_exit_code_is_kept(ait, fake_command):
    def boom(ctx):
        ctx.exit(ExitStatus.JOB_FAILED)

    fake_command(boom)
    assert ait("boom").exit_code == ExitStatus.JOB_FAILED


def test_module_entry_point_and_console_scripts(ait_proc, tmp_path):
    r = ait_proc("--version", cwd=tmp_path)
    assert r.exit_code == 0 and __version__ in r.stdout
    import shutil

    for script in ("ait", "aitelier"):
        exe = shutil.which(script) or str(__import__("pathlib").Path(sys.executable).parent / script)
        import subprocess

        p = subprocess.run([exe, "--version"], capture_output=True, text=True)
        assert p.returncode == 0 and __version__ in p.stdout
