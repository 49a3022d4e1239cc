"""`ait init`: flags, defaults, refusing to overwrite, bundled examples, no-terminal use, and the prompts."""

from __future__ import annotations

import json

import pytest

from aitelier import Project

DEFAULT_MODELS = {  # README's defaults, written out
    "together": "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
    "openai": "gpt-4.1-mini-2025-04-14",
    "local": "HuggingFaceTB/SmolLM2-135M-Instruct",
}


def test_init_with_name_and_yes_asks_nothing(ait, tmp_path):
    r = ait("init", "--name", "bot", "--yes", cwd=tmp_path)
    assert r.exit_code == 0, r.output
    assert "Created project 'bot'" in r.stdout
    cfg = json.loads((tmp_path / ".aitelier.json").read_text())
    assert cfg["name"] == "bot" and cfg["provider"] == "together"
    assert cfg["model"] == DEFAULT_MODELS["together"]
    assert cfg["qualityThreshold"] == 8 and cfg["runs"] == []
    assert "systemPrompt" not in cfg
    assert (tmp_path / "data" / "examples.jsonl").read_bytes() == b""


def test_init_all_flags_in_a_directory(ait, tmp_path):
    r = ait(
        "init",
        "proj",
        "--name",
        "n",
        "--provider",
        "openai",
        "--system-prompt",
        "Be brief.",
        "--threshold",
        "9",
        "-y",
        cwd=tmp_path,
    )
    assert r.exit_code == 0, r.output
    p = Project.find(tmp_path / "proj")
    assert (p.name, p.provider, p.model, p.system_prompt, p.threshold) == (
        "n",
        "openai",
        DEFAULT_MODELS["openai"],
        "Be brief.",
        9,
    )
    assert "2027-01-06" in r.stderr  # the OpenAI wind-down is mentioned


def test_init_yes_without_name_uses_the_directory_name(ait, tmp_path):
    r = ait("init", "my-task", "--yes", "--model", "org/model", cwd=tmp_path)
    assert r.exit_code == 0, r.output
    p = Project.find(tmp_path / "my-task")
    assert p.name == "my-task" and p.model == "org/model"


def test_init_project_option_names_the_directory(ait, tmp_path):
    r = ait("-C", str(tmp_path / "elsewhere"), "init", "--yes", cwd=tmp_path)
    assert r.exit_code == 0, r.output
    assert (tmp_path / "elsewhere" / ".aitelier.json").exists()


def test_init_refuses_an_existing_project_and_leaves_it_alone(ait, project):
    before = project.config_path.read_bytes()
    r = ait("init", str(project.root), "--name", "other", "--yes")
    assert r.exit_code == 1
    assert "already exists; not overwriting it" in r.stderr
    assert project.config_path.read_bytes() == before


@pytest.mark.parametrize("name", ["examples.jsonl", "train.jsonl", "val.jsonl"])
def test_init_refuses_existing_data_files(ait, tmp_path, name):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / name).write_bytes(b"precious\n")
    r = ait("init", "--name", "x", "--yes", cwd=tmp_path)
    assert r.exit_code == 1 and name in r.stderr
    assert (tmp_path / "data" / name).read_bytes() == b"precious\n"
    assert not (tmp_path / ".aitelier.json").exists()


def test_init_without_a_terminal_names_the_flags(ait, tmp_path):
    r = ait("init", "--name", "x", cwd=tmp_path)
    assert r.exit_code == 2
    assert "needs a terminal" in r.stderr and "--yes" in r.stderr
    assert not (tmp_path / ".aitelier.json").exists()


def test_init_rejects_bad_flag_values(ait, tmp_path):
    assert ait("init", "--provider", "acme", "--yes", cwd=tmp_path).exit_code == 2
    assert ait("init", "--threshold", "11", "--yes", cwd=tmp_path).exit_code == 2
    assert ait("init", "--example", "nope", cwd=tmp_path).exit_code == 2
    assert not (tmp_path / ".aitelier.json").exists()


@pytest.mark.parametrize(("example", "count"), [("customer-support", 40), ("code-review", 31)])
def test_init_from_a_bundled_example(ait, tmp_path, example, count):
    r = ait("init", "--example", example, "demo", cwd=tmp_path)
    assert r.exit_code == 0, r.output
    assert f"({count} examples)" in r.stdout
    p = Project.find(tmp_path / "demo")
    assert p.name == example
    examples = p.store.read()
    assert [ex.id for ex in examples] == list(range(1, count + 1))
    from aitelier.bundled import example_data

    assert p.examples_path.read_bytes() == example_data(example)  # copied byte for byte


def test_init_example_name_flag_wins_and_refuses_overwrite(ait, tmp_path):
    assert ait("init", "--example", "code-review", "--name", "mine", cwd=tmp_path).exit_code == 0
    assert Project.find(tmp_path).name == "mine"
    r = ait("init", "--example", "code-review", cwd=tmp_path)
    assert r.exit_code == 1 and "already exists" in r.stderr


def test_init_example_with_another_provider_takes_its_default_model(ait, tmp_path):
    assert ait("init", "--example", "customer-support", "--provider", "local", cwd=tmp_path).exit_code == 0
    p = Project.find(tmp_path)
    assert p.provider == "local" and p.model == DEFAULT_MODELS["local"]


def test_interactive_init_asks_and_creates(spawn, tmp_path):
    child = spawn("init", cwd=tmp_path)
    child.expect_exact("Project name")
    child.sendline("support-bot")
    child.expect_exact("Provider")
    child.sendline("")  # default: together
    child.expect_exact("Base model")
    child.expect_exact(f"[{DEFAULT_MODELS['together']}]")
    child.sendline("")
    child.expect_exact("System prompt")
    child.sendline("You answer billing questions.")
    child.expect_exact("Created project 'support-bot'")
    child.expect(pytest.importorskip("pexpect").EOF)
    child.close()
    assert child.exitstatus == 0
    p = Project.find(tmp_path)
    assert (p.name, p.provider, p.model, p.system_prompt) == (
        "support-bot",
        "together",
        DEFAULT_MODELS["together"],
        "You answer billing questions.",
    )


def test_interactive_init_reprompts_for_an_unknown_provider(spawn, tmp_path):
    pexpect = pytest.importorskip("pexpect")
    child = spawn("init", "--name", "x", "--system-prompt", "", cwd=tmp_path)
    child.expect_exact("Provider")
    child.sendline("acme")
    child.expect("not one of|not a valid|invalid choice")
    child.expect_exact("Provider")
    child.sendline("openai")
    child.expect_exact("Base model")
    child.sendline("gpt-4.1-nano-2025-04-14")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    p = Project.find(tmp_path)
    assert p.provider == "openai" and p.model == "gpt-4.1-nano-2025-04-14" and p.system_prompt is None
