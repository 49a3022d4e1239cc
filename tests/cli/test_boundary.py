"""The error boundary and the exit-status contract of `ait` (one test per documented status)."""

from __future__ import annotations

import io
import os
import re
import signal
import sys
import types
from pathlib import Path

import click
import pytest

from aitelier import __version__
from aitelier.cli import main as main_mod
from aitelier.cli.env import Env
from aitelier.cli.main import main
from aitelier.errors import (
    DataError,
    DataProblem,
    Declined,
    ExitStatus,
    Interrupted,
    JobFailed,
    ProblemsFound,
    ProviderError,
    ValidationFailed,
)
from helpers import record, write_records


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
        "main(['--help'])\n"
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
    assert r.exit_code == 1
    assert r.stderr == "ait: internal error: RuntimeError: kaput (rerun with --traceback for details)\n"
    r = ait("--traceback", "boom")
    assert r.exit_code == 1
    assert r.stderr.startswith("Traceback (most recent call last):\n")
    assert "RuntimeError: kaput\n" in r.stderr


@pytest.mark.parametrize(("exc", "status"), [(ProviderError("nope"), 4), (JobFailed("it failed"), 5)])
def test_traceback_keeps_the_real_exit_status_and_leaves_os_environ_alone(ait, fake_command, exc, status):
    def boom(ctx):
        raise exc

    fake_command(boom)
    r = ait("--traceback", "boom")
    assert r.exit_code == status
    assert "Traceback (most recent call last):" in r.stderr
    assert r.stderr.endswith(f"ait: error: {exc}\n")
    assert "AITELIER_TRACEBACK" not in os.environ


def test_traceback_env_var_shows_the_trace_and_keeps_the_status(ait, fake_command):
    def boom(ctx):
        raise ProviderError("nope")

    fake_command(boom)
    r = ait("boom", environ={"AITELIER_TRACEBACK": "1"})
    assert r.exit_code == 4
    assert "Traceback (most recent call last):" in r.stderr and r.stderr.endswith("ait: error: nope\n")
    r = ait("boom", environ={"AITELIER_TRACEBACK": "0"})
    assert r.exit_code == 4 and r.stderr == "ait: error: nope\n"


def test_keyboard_interrupt_is_130(ait, fake_command):
    def boom(ctx):
        raise KeyboardInterrupt

    fake_command(boom)
    r = ait("boom")
    assert r.exit_code == 130
    assert r.stderr.endswith("ait: interrupted (Ctrl-C)\n")


@pytest.mark.parametrize(
    ("signum", "status", "line"),
    [
        (signal.SIGINT, 130, "ait: interrupted (Ctrl-C)\n"),
        (signal.SIGHUP, 129, "ait: interrupted (the terminal was closed)\n"),
        (signal.SIGTERM, 143, "ait: interrupted (SIGTERM)\n"),
    ],
)
def test_a_command_stopped_by_a_signal_exits_128_plus_its_number(ait, fake_command, signum, status, line):
    def boom(ctx):
        raise Interrupted(signum)

    fake_command(boom)
    r = ait("boom")
    assert r.exit_code == status and r.stderr == line


def test_declined_and_problems_found_are_outcomes_not_errors(ait, fake_command):
    def declined(ctx):
        raise Declined("Not cancelled.")

    fake_command(declined)
    r = ait("boom")
    assert (r.exit_code, r.stderr) == (1, "Not cancelled.\n")

    def problems(ctx):
        raise ProblemsFound("2 problem(s) found")

    fake_command(problems)
    r = ait("boom")
    assert (r.exit_code, r.stderr) == (3, "ait: 2 problem(s) found\n")

    def reported(ctx):
        raise ProblemsFound(status=ExitStatus.PROVIDER)

    fake_command(reported)
    r = ait("boom")
    assert (r.exit_code, r.stderr) == (4, "")


def test_a_data_error_lists_fifty_problems_then_says_how_many_more(ait, fake_command):
    problems = [DataProblem("data/examples.jsonl", n, "not JSON") for n in range(1, 61)]

    def boom(ctx):
        raise DataError(problems)

    fake_command(boom)
    r = ait("boom")
    assert r.exit_code == 3
    lines = r.stderr.splitlines()
    assert lines[0].startswith("ait: error: data/examples.jsonl:1: not JSON (and 59 more problem(s))")
    assert lines[1] == "  data/examples.jsonl:2: not JSON"
    assert lines[49] == "  data/examples.jsonl:50: not JSON"
    assert lines[50:] == ["  ... and 10 more"]


def test_malformed_lines_in_a_real_project_end_with_the_count_of_the_rest(ait, project):
    good = '{"id":1,"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}]}'
    project.examples_path.write_text(good + "\n" + "{broken\n" * 53, encoding="utf-8")
    r = ait("list", cwd=project.root)
    assert r.exit_code == 3
    lines = r.stderr.splitlines()
    assert "examples.jsonl:2:" in lines[0]
    assert lines[-1] == "  ... and 3 more"
    assert len(lines) == 51


def test_an_invalid_config_exits_3(ait, project):
    (project.root / ".aitelier.json").write_text("{not json", encoding="utf-8")
    r = ait("list", cwd=project.root)
    assert r.exit_code == 3
    assert r.stderr.startswith("ait: error: ") and ".aitelier.json" in r.stderr
    assert r.stderr.count("\n") == 1


def test_ctx_exit_code_is_kept(ait, fake_command):
    def boom(ctx):
        ctx.exit(ExitStatus.JOB_FAILED)

    fake_command(boom)
    assert ait("boom").exit_code == 5


def test_main_returns_the_status_and_touches_no_sys_stream(capsys):
    out, err = io.StringIO(), io.StringIO()
    stdout_before = sys.stdout
    status = main(["--version"], Env(stdin=io.StringIO(), stdout=out, stderr=err))
    assert status == 0 and isinstance(status, ExitStatus)
    assert sys.stdout is stdout_before
    assert out.getvalue() == f"aitelier, version {__version__}\n" and err.getvalue() == ""
    assert capsys.readouterr() == ("", "")
    status = main(["no-such-command"], Env(stdin=io.StringIO(), stdout=out, stderr=err))
    assert status == 2 and "No such command" in err.getvalue()
    assert capsys.readouterr() == ("", "")


def test_a_format_leaves_what_it_built_and_read_to_the_env_to_hold_until_the_process_exits(project):
    write_records(
        project.examples_path,
        [record(i, rating=9, split="val" if i % 5 == 0 else "train") for i in range(1, 21)],
    )
    env = Env(stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO(), project_dir=str(project.root))
    assert main(["format"], env) == 0
    [build] = env.kept
    assert (build.train.count, build.val.count) == (16, 4) and len(build.examples) == 20
    env = Env(stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO(), project_dir=str(project.root))
    assert main(["format"], env) == 0  # nothing changed: nothing was read
    [build] = env.kept
    assert build.reused and build.examples is None


# -- the contract: every status is listed in --help and in the manual ---------------------------------------------
DOCUMENTED = {0: "ok", 1: "error", 2: "usage", 3: "validation", 4: "provider", 5: "fine-tune failed"}
DOCUMENTED |= {129: "terminal closed", 130: "interrupted", 143: "SIGTERM"}


def test_exit_statuses_are_exactly_the_documented_ones():
    assert sorted(int(s) for s in ExitStatus) == [0, 1, 2, 3, 4, 5, 129, 130, 143]


def test_help_epilog_lists_every_exit_status(ait):
    r = ait("--help")
    epilog = " ".join(r.stdout[r.stdout.index("Exit status:") :].split())
    for code, meaning in DOCUMENTED.items():
        assert re.search(rf"\b{code} [^,]*{meaning}", epilog), (code, epilog)


def test_the_manual_has_a_row_for_every_status():
    docs = Path(__file__).resolve().parents[2] / "docs"
    page = (docs / "exit-statuses.md").read_text(encoding="utf-8")
    table = page[page.index("| Status | Name |") : page.index("<!-- END GENERATED -->")]
    rows = {int(cells[1]): cells[4] for line in table.splitlines()[2:] if (cells := line.split("|"))}
    assert sorted(rows) == [0, 1, 2, 3, 4, 5, 129, 130, 143]
    assert "SIGHUP" in rows[129] and "Ctrl-C" in rows[130] and "SIGTERM" in rows[143]
    keys = (docs / "keys.md").read_text(encoding="utf-8")
    for var in ("AITELIER_PROJECT", "AITELIER_TRACEBACK", "NO_COLOR", "EDITOR"):
        assert f"`{var}" in keys


# -- questions: through Env, answered on a (fake) terminal, or refused naming the flag ----------------------------
@pytest.fixture
def pending_run(project):
    from aitelier import runs

    runs.add(project, {"id": "run-1", "provider": "together", "jobId": "ft-123", "status": "pending"})
    return project


def test_cancel_without_a_terminal_says_which_flag_to_pass(ait, pending_run):
    r = ait("cancel", cwd=pending_run.root)
    assert r.exit_code == 2
    assert r.stderr == (
        "ait: error: ait cancel asks before cancelling, which needs a terminal; "
        "pass --yes to cancel without one\n"
    )


@pytest.mark.parametrize(("answer", "status"), [("n\n", 1), ("\n", 1), ("", 1)])
def test_cancel_on_a_terminal_takes_no_for_an_answer(ait, pending_run, answer, status):
    r = ait("cancel", input=answer, tty=True, cwd=pending_run.root)
    assert r.exit_code == status
    assert "Cancel fine-tune ft-123 on together (status pending)? [y/N]: " in r.stdout
    assert "Traceback" not in r.stderr


def test_rm_asks_on_a_fake_terminal(ait, project):
    from helpers import conversation

    project.store.append([{"messages": conversation(1)}, {"messages": conversation(2)}])
    r = ait("rm", "1", input="maybe\nn\n", tty=True, cwd=project.root)
    assert r.exit_code == 1
    assert "Error: answer y or n." in r.stdout and r.stderr == "Nothing removed.\n"
    r = ait("rm", "1", input="y\n", tty=True, cwd=project.root)
    assert r.exit_code == 0 and r.stdout.endswith("Removed example 1.\n")
    assert [ex.id for ex in project.store.read()] == [2]


def test_init_prompts_on_a_fake_terminal(ait, tmp_path):
    from aitelier import Project

    r = ait("init", input="bot\nacme\nopenai\n\n\n", tty=True, cwd=tmp_path)
    assert r.exit_code == 0, r.output
    assert "Provider (together, openai, local) [together]: " in r.stdout
    assert "Error: 'acme' is not one of" in r.stdout
    p = Project.find(tmp_path)
    assert (p.name, p.provider, p.system_prompt) == ("bot", "openai", None)


def test_module_entry_point_and_console_scripts(ait_proc, tmp_path):
    r = ait_proc("--version", cwd=tmp_path)
    assert r.exit_code == 0 and __version__ in r.stdout
    import shutil

    for script in ("ait", "aitelier"):
        exe = shutil.which(script) or str(__import__("pathlib").Path(sys.executable).parent / script)
        import subprocess

        p = subprocess.run([exe, "--version"], capture_output=True, text=True)
        assert p.returncode == 0 and __version__ in p.stdout


@pytest.mark.parametrize("when", ["after the first line", "before anything is written"])
def test_a_reader_that_goes_away_is_not_an_error(project, when):
    """`ait list | head -1` as a real pipe: exit 0 and nothing on stderr, however much was left to write."""
    import subprocess

    from helpers import conversation

    project.store.append([{"messages": conversation(i)} for i in range(3000)])
    read_end, write_end = os.pipe()
    if when == "before anything is written":
        os.close(read_end)
    p = subprocess.Popen(
        [sys.executable, "-m", "aitelier", "list"], cwd=project.root, stdout=write_end, stderr=subprocess.PIPE
    )
    os.close(write_end)
    if when == "after the first line":
        with os.fdopen(read_end, "rb") as reader:
            assert reader.readline().split()[:2] == [b"ID", b"RATING"]
    assert p.stderr is not None
    err = p.stderr.read()
    assert p.wait(timeout=60) == 0
    assert err == b""


def test_the_project_comes_from_the_env_not_the_process(ait, project, tmp_path):
    """AITELIER_PROJECT is read from the Env's variables; -C wins over it."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = ait("list", cwd=elsewhere, environ={"AITELIER_PROJECT": str(project.root)})
    assert r.exit_code == 0 and r.stderr.startswith("No examples yet")
    r = ait("-C", str(project.root), "list", cwd=elsewhere, environ={"AITELIER_PROJECT": str(elsewhere)})
    assert r.exit_code == 0 and r.stderr.startswith("No examples yet")
    r = ait("list", cwd=elsewhere, environ={"AITELIER_PROJECT": str(elsewhere)})
    assert r.exit_code == 1 and "no aitelier project found" in r.stderr
    assert "AITELIER_PROJECT" not in os.environ


def test_add_asks_every_question_through_the_env(ait, project):
    r = ait("add", input="x\np\nWhat time is it?\n.\nNoon.\n.\nn\n11\n7\n", tty=True, cwd=project.root)
    assert r.exit_code == 0, r.output
    assert "Paste the text here (p) or write it in your editor (e)? (p, e) [p]: " in r.stdout
    assert "Error: 'x' is not one of 'p', 'e'." in r.stdout
    assert "Add another turn? [y/N]: " in r.stdout
    assert "Type a whole number from 1 to 10, or press Enter." in r.stdout
    assert r.stdout.endswith("Added example 1 (rated 7)\n")
    [ex] = project.store.read()
    assert (ex.rating, ex.data["messages"][-1]["content"]) == (7, "Noon.")


def test_the_input_ending_at_a_question_is_a_no(ait, project):
    r = ait("add", input="p\nWhat time is it?\n.\nNoon.\n.\n", tty=True, cwd=project.root)
    assert r.exit_code == 1
    assert r.stderr == "no answer (the input ended); nothing was changed\n"
    assert project.examples_path.read_bytes() == b""


# -- leaving the process ------------------------------------------------------------------------------------------
_RUN = """
import atexit, pathlib, sys, threading, time
from aitelier.cli.main import run
mark = pathlib.Path(sys.argv[1])
atexit.register(lambda: mark.write_text(mark.read_text() + "exit handler\\n"))
atexit.register(lambda: sys.stdout.write("bye"))  # written on the way out, never flushed by hand
if sys.argv[2] == "thread":  # a thread that is not a daemon: the exit waits for it
    def late():
        time.sleep(0.3)
        mark.write_text(mark.read_text() + "thread\\n")
    threading.Thread(target=late).start()
sys.argv = ["ait", *sys.argv[3:]]
print("before", flush=False)  # buffered: flushed on the way out
run()
"""


@pytest.mark.parametrize("thread", ["none", "thread"])
@pytest.mark.parametrize(("argv", "status"), [(["--version"], 0), (["no-such-command"], 2)])
def test_run_leaves_with_the_status_after_the_exit_handlers_and_flushed_output(
    tmp_path: Path, thread: str, argv: list[str], status: int
) -> None:
    import subprocess

    mark = tmp_path / "mark"
    mark.write_text("")
    p = subprocess.run(
        [sys.executable, "-c", _RUN, str(mark), thread, *argv], capture_output=True, text=True, timeout=60
    )
    assert p.returncode == status, p.stderr
    assert p.stdout.startswith("before\n") and p.stdout.endswith("bye")
    assert (f"version {__version__}" in p.stdout) == (status == 0)
    assert mark.read_text() == ("thread\nexit handler\n" if thread == "thread" else "exit handler\n")
