"""`ait config get/set`, and every input of `ait format` making its files stale: `stats` says so (and why),
`train` refuses them; and what `stats` says next once a fine-tune on the current files finished."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from aitelier import Project
from aitelier.errors import ValidationFailed
from aitelier.training import preflight
from helpers import conversation, record, write_records


@pytest.fixture
def formatted(ait, project: Project) -> Project:
    """20 examples rated 9, split and formatted for together: the files are current."""
    write_records(project.examples_path, [record(i, rating=9) for i in range(1, 21)])
    assert ait("split", cwd=project.root).exit_code == 0
    r = ait("format", cwd=project.root)
    assert r.exit_code == 0, r.output
    return project


def stats(ait, project: Project) -> dict:
    r = ait("stats", "--json", "--no-tokens", cwd=project.root)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def stale_reasons(ait, project: Project) -> list[str]:
    s = stats(ait, project)
    assert s["formatted"] == "stale"
    assert s["next"] == "ait format"
    return s["stale_reasons"]


def test_freshly_formatted_files_are_current(ait, formatted: Project) -> None:
    s = stats(ait, formatted)
    assert (s["formatted"], s["stale_reasons"], s["next"]) == ("current", [], "ait train")
    preflight(formatted, "together", formatted.model)  # no error


def test_changing_the_threshold_makes_the_files_stale_and_train_refuses_them(ait, formatted: Project) -> None:
    r = ait("config", "set", "qualityThreshold", "10", cwd=formatted.root)
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == [
        "qualityThreshold: 8 -> 10",
        "data/train.jsonl and data/val.jsonl are stale now: run `ait format` before `ait train`.",
    ]
    assert stale_reasons(ait, formatted) == ["`qualityThreshold` changed from 8 to 10"]
    r = ait("stats", "--no-tokens", cwd=formatted.root)
    assert (
        "next: rewrite (`qualityThreshold` changed from 8 to 10) data/train.jsonl and data/val.jsonl: ait format"
        in r.stdout
    )
    with pytest.raises(ValidationFailed) as info:
        preflight(Project.find(formatted.root), "together", formatted.model)
    assert info.value.message == (
        "data/train.jsonl and data/val.jsonl are stale (`qualityThreshold` changed from 8 to 10)"
    )
    assert "run `ait format`" in str(info.value)
    # formatting again with the new threshold makes them current
    assert ait("format", cwd=formatted.root).exit_code != 0  # no example is rated 10: nothing to write
    assert ait("config", "set", "threshold", "8", cwd=formatted.root).exit_code == 0
    assert stats(ait, formatted)["formatted"] == "current"  # back to what the files were made with


def test_train_refuses_stale_files_before_any_request(
    ait, formatted: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOGETHER_API_KEY", "tg-test-key")
    monkeypatch.setenv("TOGETHER_BASE_URL", "http://127.0.0.1:9/v1")  # nothing listens; nothing is sent
    assert ait("config", "set", "model", "other/model-7b", cwd=formatted.root).exit_code == 0
    r = ait("train", "--yes", cwd=formatted.root)
    assert r.exit_code == 3
    assert "are stale (`model` changed from" in r.stderr and "run `ait format`" in r.stderr


def test_a_rating_a_new_split_or_an_edit_makes_the_files_stale(ait, formatted: Project) -> None:
    assert ait("rate", "--set", "3=2", cwd=formatted.root).exit_code == 0
    assert stale_reasons(ait, formatted) == ["the examples changed since `ait format`"]
    assert ait("format", cwd=formatted.root).exit_code == 0
    assert stats(ait, formatted)["formatted"] == "current"
    msgs = json.dumps(conversation("new"))
    assert ait("add", "--messages", "-", "--rating", "9", input=msgs, cwd=formatted.root).exit_code == 0
    assert ait("format", cwd=formatted.root).exit_code == 0
    assert stats(ait, formatted)["formatted"] == "current"  # the new example has no split: not in the files
    assert ait("split", cwd=formatted.root).exit_code == 0
    assert stale_reasons(ait, formatted) == ["the examples changed since `ait format`"]


def test_files_formatted_for_another_provider_are_stale(ait, formatted: Project) -> None:
    assert ait("format", "--provider", "openai", cwd=formatted.root).exit_code == 0
    assert stale_reasons(ait, formatted) == ["the files are formatted for openai, not together"]
    assert ait("config", "set", "provider", "openai", cwd=formatted.root).exit_code == 0
    assert stats(ait, formatted)["formatted"] == "current"


def test_hand_edited_files_are_stale(ait, formatted: Project) -> None:
    with formatted.val_path.open("a") as f:
        f.write('{"messages":[{"role":"user","content":"x"},{"role":"assistant","content":"y"}]}\n')
    assert stale_reasons(ait, formatted) == ["data/val.jsonl changed after `ait format` wrote it"]


def test_a_format_that_fails_half_way_leaves_the_files_stale(ait, formatted: Project) -> None:
    assert ait("rate", "--set", "3=2", cwd=formatted.root).exit_code == 0
    formatted.val_path.unlink()
    (formatted.val_path / "in-the-way").mkdir(parents=True)  # val.jsonl cannot be replaced: train.jsonl can
    assert ait("format", cwd=formatted.root).exit_code == 1
    assert stale_reasons(ait, formatted) == ["the last `ait format` did not finish"]


def test_the_system_prompt_is_not_an_input_of_format(ait, formatted: Project) -> None:
    r = ait("config", "set", "systemPrompt", "Answer in French.", cwd=formatted.root)
    assert r.exit_code == 0
    assert r.stdout.splitlines() == [
        'systemPrompt: "You are helpful." -> "Answer in French."',
        "It applies to examples added from now on; the existing ones keep their system message.",
    ]
    assert stats(ait, formatted)["formatted"] == "current"


# -- ait config ----------------------------------------------------------------------------------------------
def test_config_get(ait, project: Project) -> None:
    r = ait("config", "get", cwd=project.root)
    assert r.exit_code == 0
    assert r.stdout.splitlines() == [
        'provider = "together"',
        'model = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"',
        'systemPrompt = "You are helpful."',
        "qualityThreshold = 8",
    ]
    assert ait("config", "get", "threshold", cwd=project.root).stdout == "8\n"
    assert ait("config", "get", "system-prompt", cwd=project.root).stdout == "You are helpful.\n"
    r = ait("config", "get", "--json", cwd=project.root)
    assert json.loads(r.stdout) == {
        "provider": "together",
        "model": "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
        "systemPrompt": "You are helpful.",
        "qualityThreshold": 8,
    }


def test_config_set_writes_the_npm_shape_and_keeps_other_fields(ait, project: Project) -> None:
    cfg = json.loads(project.config_path.read_text())
    cfg["someNpmField"] = {"kept": True}
    project.config_path.write_text(json.dumps(cfg, indent=2) + "\n")
    assert ait("config", "set", "threshold", "7", cwd=project.root).exit_code == 0
    assert ait("config", "set", "systemPrompt", "", cwd=project.root).exit_code == 0
    expected = {k: v for k, v in cfg.items() if k != "systemPrompt"}
    expected["qualityThreshold"] = 7
    assert project.config_path.read_text() == json.dumps(expected, indent=2) + "\n"
    assert ait("config", "get", "systemPrompt", cwd=project.root).stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("qualityThreshold", "11"), "qualityThreshold must be an integer 1-10, got '11'"),
        (("threshold", "high"), "qualityThreshold must be an integer 1-10, got 'high'"),
        (("provider", "acme"), "provider must be one of together, openai, local, got 'acme'"),
        (("model", "  "), "model must not be empty"),
        (
            ("apiKey", "sk-123"),
            "unknown setting 'apiKey' (settings: provider, model, systemPrompt, qualityThreshold)",
        ),
    ],
)
def test_config_set_refuses_bad_values_and_changes_nothing(
    ait, project: Project, args: tuple[str, str], message: str
) -> None:
    before = project.config_path.read_bytes()
    r = ait("config", "set", *args, cwd=project.root)
    assert r.exit_code == 2
    assert r.stderr == f"ait: error: {message}\n"
    assert project.config_path.read_bytes() == before


def test_setting_the_same_value_writes_nothing(ait, project: Project) -> None:
    before = project.config_path.stat().st_mtime_ns
    r = ait("config", "set", "threshold", "8", cwd=project.root)
    assert r.exit_code == 0 and r.stdout == "qualityThreshold is already 8; nothing changed.\n"
    assert project.config_path.stat().st_mtime_ns == before


def test_config_set_waits_for_the_lock(ait, project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from filelock import FileLock; lock = FileLock(sys.argv[1]); lock.acquire(); "
            "print('held', flush=True); time.sleep(60)",
            str(project.store.lock_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        monkeypatch.setenv("AITELIER_LOCK_TIMEOUT", "0.2")
        before = project.config_path.read_bytes()
        r = ait("config", "set", "threshold", "5", cwd=project.root)
        assert r.exit_code == 1 and "data/.lock for over 0.2s" in r.stderr
        assert project.config_path.read_bytes() == before
    finally:
        holder.kill()
        holder.wait()


# -- what next after a fine-tune ---------------------------------------------------------------------------------
def add_run(project: Project, run: dict) -> None:
    cfg = json.loads(project.config_path.read_text())
    cfg["runs"].append(run)
    project.config_path.write_text(json.dumps(cfg, indent=2) + "\n")


def test_after_a_finished_fine_tune_the_next_step_is_to_evaluate(ait, formatted: Project) -> None:
    files = {
        "train": {"bytes": formatted.train_path.stat().st_size},
        "val": {"bytes": formatted.val_path.stat().st_size},
    }
    add_run(
        formatted,
        {"id": "run-1", "status": "succeeded", "fineTunedModel": "acct/ft-model-1", "files": files},
    )
    r = ait("stats", "--no-tokens", cwd=formatted.root)
    assert "start a fine-tune" not in r.stdout
    assert (
        "next: the fine-tune on these files finished (run run-1): evaluate acct/ft-model-1 on your validation "
        "examples (data/val.jsonl), blind against the base model, before training again: ait eval --compare"
        in r.stdout
    )
    assert stats(ait, formatted)["next"] == "ait eval --compare"
    # once the examples change and are formatted again, training again is the next step
    assert ait("rate", "--set", "3=2", cwd=formatted.root).exit_code == 0
    assert ait("format", cwd=formatted.root).exit_code == 0
    assert stats(ait, formatted)["next"] == "ait train"


def test_a_run_the_npm_tool_recorded_as_completed_counts_as_finished(ait, formatted: Project) -> None:
    add_run(formatted, {"id": "ft-abc", "status": "completed", "modelId": "acct/npm-model"})
    r = ait("stats", "--no-tokens", cwd=formatted.root)
    assert "evaluate acct/npm-model on your validation examples" in r.stdout
    assert stats(ait, formatted)["next"] == "ait eval --compare --model acct/npm-model"


def test_a_running_fine_tune_is_followed_not_started_again(ait, formatted: Project) -> None:
    add_run(formatted, {"id": "run-2", "status": "running"})
    s = stats(ait, formatted)
    assert s["next"] == "ait status --watch"
