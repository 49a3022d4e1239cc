"""Each provider's facts live in its one registration: rules and severities (written out here, and checked
against the manual's generated table), hyperparameters and their generic bounds check, `local` registered without a trainer, and a
throw-away plugin installed through the entry-point group showing up in init, format, validate and train."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from aitelier.providers import registry
from aitelier.providers.base import Hyperparameter, Hyperparameters

REPO = Path(__file__).resolve().parents[3]

# The rule table, provider by provider: (together, openai, local); "off" where a rule does not apply
SEVERITIES = {
    "blank-line": ("warning", "error", "warning"),
    "mixed-formats": ("error", "off", "off"),
    "line-keys": ("error", "warning", "warning"),
    "text-field": ("error", "off", "off"),
    "unknown-message-key": ("warning", "error", "warning"),
    "consecutive-roles": ("error", "off", "error"),
    "weight-value": ("error", "error", "off"),
    "weight-role": ("off", "error", "off"),
    "has-assistant": ("error", "error", "error"),
    "crlf": ("warning", "warning", "warning"),
    "context-length": ("error", "warning", "error"),
    "file-name": ("warning", "warning", "warning"),
}


@pytest.mark.parametrize("rule", sorted(SEVERITIES))
def test_each_provider_checks_the_rules_the_manual_lists(rule):
    expected = dict(zip(("together", "openai", "local"), SEVERITIES[rule], strict=True))
    assert {p: registry.get(p).severity(rule) for p in expected} == expected


def test_the_manual_rule_table_says_the_same():
    doc = (REPO / "docs" / "reference" / "rules.md").read_text(encoding="utf-8")
    header = next(line for line in doc.splitlines() if line.startswith("| Rule |"))
    assert [c.strip() for c in header.split("|")[3:6]] == ["together", "openai", "local"]
    rows = {
        cells[1].strip(): tuple(c.strip() for c in cells[3:6])
        for line in doc.splitlines()
        if line.startswith("| `") and (cells := line.split("|"))
    }
    for rule, severities in SEVERITIES.items():
        assert rows[f"`{rule}`"] == severities, rule


def _validate(ait, tmp_path, provider, lines):
    path = tmp_path / "f.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return ait("validate", str(path), "--provider", provider, cwd=tmp_path)


def test_unknown_message_key_blocks_openai_and_consecutive_roles_block_local(ait, tmp_path):
    ok = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    extra = [{"messages": [ok[0], {**ok[1], "tool_calls": []}]}] * 10
    r = _validate(ait, tmp_path, "openai", extra)
    assert r.exit_code == 3 and "error: " in r.stderr and "[unknown-message-key]" in r.stderr
    r = _validate(ait, tmp_path, "together", extra)
    assert "warning: " in r.stderr and "[unknown-message-key]" in r.stderr
    twice = [{"messages": [ok[0], {"role": "user", "content": "again"}, ok[1]]}]
    r = _validate(ait, tmp_path, "local", twice)
    assert r.exit_code == 3 and "[consecutive-roles]" in r.stderr
    assert "[consecutive-roles]" not in _validate(ait, tmp_path, "openai", twice * 10).stderr


# -- what the peers' own checks accept or refuse (issue 9, item 31) --------------------------------------------------
Q = {"role": "user", "content": "What is the weather in Paris?"}
A = {"role": "assistant", "content": "Sunny."}


def test_multimodal_content_is_refused_saying_text_only(ait, tmp_path):
    parts = {"role": "user", "content": [{"type": "text", "text": "what is this?"}, {"type": "image_url"}]}
    r = _validate(ait, tmp_path, "together", [{"messages": [parts, A]}])
    assert (
        r.exit_code == 3
        and "aitelier handles text only, so content must be a string [content-type]" in r.stderr
    )


def test_an_openai_function_call_turn_with_empty_content_is_valid(ait, tmp_path):
    call = {
        "role": "assistant",
        "content": "",
        "function_call": {"name": "weather", "arguments": '{"city": "Paris"}'},
    }
    result = {"role": "function", "name": "weather", "content": '{"temp": 22}'}
    r = _validate(ait, tmp_path, "openai", [{"messages": [Q, call, result, A]}] * 10)
    assert r.exit_code == 0, r.stderr
    assert "[empty-content]" not in r.stderr and "[content-type]" not in r.stderr
    bare = {"role": "assistant", "content": ""}
    assert "[empty-content]" in _validate(ait, tmp_path, "openai", [{"messages": [Q, bare]}] * 10).stderr


def test_a_json_true_weight_is_reported_as_written(ait, tmp_path):
    r = _validate(ait, tmp_path, "openai", [{"messages": [Q, {**A, "weight": True}]}] * 10)
    assert r.exit_code == 3 and "has weight true (must be 0 or 1)" in r.stderr and "True" not in r.stderr


def test_an_openai_example_over_the_limit_warns_that_openai_truncates_it(ait, tmp_path):
    long = {"role": "assistant", "content": "word " * 17000}
    r = _validate(ait, tmp_path, "openai", [{"messages": [Q, long]}] + [{"messages": [Q, A]}] * 9)
    assert r.exit_code == 0, r.stderr
    assert "warning: " in r.stderr and "openai truncates it to the limit" in r.stderr
    r = ait(
        "validate", str(tmp_path / "f.jsonl"), "--provider", "together", "--max-tokens", "16385", cwd=tmp_path
    )
    assert r.exit_code == 3 and "[context-length]" in r.stderr


def test_a_file_not_named_jsonl_is_warned_about(ait, tmp_path):
    path = tmp_path / "train.json"
    path.write_text(json.dumps({"messages": [Q, A]}) + "\n")
    r = ait("validate", str(path), "--provider", "together", cwd=tmp_path)
    assert r.exit_code == 0 and "train.json is not named *.jsonl" in r.stderr and "[file-name]" in r.stderr
    assert "[file-name]" not in _validate(ait, tmp_path, "together", [{"messages": [Q, A]}]).stderr


# -- the generic bounds check --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "h,value,expected",
    [
        (Hyperparameter("epochs", int, "", minimum=1), 0, ["--epochs must be at least 1, got 0"]),
        (Hyperparameter("epochs", int, "", minimum=1), 1, []),
        (Hyperparameter("epochs", int, "", minimum=1), 2.5, ["--epochs must be a whole number"]),
        (Hyperparameter("epochs", int, "", minimum=1), True, ["--epochs must be a number"]),
        (
            Hyperparameter("lr", float, "", minimum=0, exclusive_minimum=True),
            0.0,
            ["--lr must be above 0, got 0"],
        ),
        (Hyperparameter("lr", float, "", minimum=0, exclusive_minimum=True), 1e-9, []),
        (
            Hyperparameter("lora_dropout", float, "", minimum=0, maximum=1, exclusive_maximum=True),
            1.0,
            ["--lora-dropout must be in [0, 1), got 1"],
        ),
        (Hyperparameter("lora_dropout", float, "", minimum=0, maximum=1, exclusive_maximum=True), 0.0, []),
        (Hyperparameter("seed", int, "", maximum=10), 11, ["--seed must be at most 10, got 11"]),
        (Hyperparameter("seed", int, "", minimum=0, maximum=10), 10, []),
        (Hyperparameter("suffix", str, "", maximum=5), "abcdef", ["--suffix is 6 characters; at most 5"]),
        (Hyperparameter("suffix", str, "", maximum=5), "abcde", []),
        (Hyperparameter("suffix", str, "", maximum=5), "  ", ["--suffix must not be empty"]),
    ],
)
def test_hyperparameter_bounds(h, value, expected):
    assert h.problems(value) == expected


def test_builtin_bounds_are_checked_before_any_request(ait, train_project, together_env):
    r = ait("train", "--yes", "--lora-dropout", "1", "--suffix", "x" * 32, cwd=train_project.root)
    assert r.exit_code == 3
    assert "--lora-dropout must be in [0, 1), got 1 (and 1 more)" in r.stderr
    assert together_env.requests == []


def test_train_help_lists_each_providers_flags_with_their_ranges(ait, tmp_path):
    r = ait("train", "--help", cwd=tmp_path)
    text = " ".join(r.stdout.split())
    assert (
        "--epochs INTEGER Together: Passes over the data; >= 1. OpenAI: Passes over the data; [1, 50]."
        in text
    )
    assert "Default 3, or `epochs` in .aitelier.json." in text
    assert "--lora-dropout FLOAT Together: LoRA dropout (default 0); [0, 1)." in text
    assert "--seed INTEGER Random seed, for a reproducible run; [0, 2147483647]." in text


def test_hyperparameters_record_in_camel_case_and_back():
    hp = Hyperparameters(epochs=2, lora_r=8, n_evals=None)
    assert hp.to_record() == {"epochs": 2, "loraR": 8}
    assert Hyperparameters.from_record({"epochs": 2, "loraR": 8, "lrMultiplier": 0.5}) == Hyperparameters(
        epochs=2, lora_r=8, lr_multiplier=0.5
    )


# -- local -------------------------------------------------------------------------------------------------------
def test_local_is_registered_with_a_trainer_that_needs_no_key(ait, tmp_path):
    from aitelier.providers import registry

    assert registry.get("local").capabilities == {"train", "chat"}
    assert registry.get("local").pricing == "free"
    r = ait("init", "local-proj", "--name", "l", "--provider", "local", "--yes", cwd=tmp_path)
    assert r.exit_code == 0, r.output
    r = ait("train", cwd=tmp_path / "local-proj")
    assert r.exit_code == 1  # no key asked for, no price question: it goes on to the files
    assert "data/train.jsonl does not exist" in r.stderr


# -- a plugin through the entry-point group ------------------------------------------------------------------------
PLUGIN = """
from aitelier.formats.rules import ProviderSpec
from aitelier.providers.base import Hyperparameter, JobRequest, JobStatus, Provider


class AcmeProvider(Provider):
    name = "acme"
    title = "Acme"
    status_map = {"done": JobStatus.SUCCEEDED, "busy": JobStatus.RUNNING}
    final_statuses = frozenset({"done"})
    hyperparameters = (
        Hyperparameter("epochs", int, "Passes over the data.", default=2, minimum=1),
        Hyperparameter("warmup", float, "Warm-up share of the steps.", minimum=0, maximum=1),
    )

    def build_request(self, model, hp, *, training_file, validation_file, attempt_id, limits):
        hp = self.with_defaults(hp)
        body = {"model": model, "file": training_file, "epochs": hp["epochs"], "warmup": hp.get("warmup")}
        return JobRequest(self.name, model, hp, training_file, validation_file, attempt_id, "POST /jobs", body)

    def upload_file(self, path, *, on_progress=None): raise NotImplementedError
    def create_job(self, request): raise NotImplementedError
    def find_job(self, request, *, exclude): return None
    def get_job(self, job_id): raise NotImplementedError
    def list_events(self, job_id, *, known=()): return []
    def cancel_job(self, job_id): raise NotImplementedError
    def chat(self, model, messages, **kw): raise NotImplementedError


def register(register):
    register(
        "acme",
        AcmeProvider,
        default_model="acme-7b",
        file_format=ProviderSpec("acme", min_examples=2),
        rules={"consecutive-roles": "error"},
    )
"""


@pytest.fixture
def plugin_env(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "aitelier_acme.py").write_text(textwrap.dedent(PLUGIN))
    dist = site / "aitelier_acme-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: aitelier-acme\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[aitelier.providers]\nacme = aitelier_acme:register\n")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(PYTHONPATH=os.pathsep.join([str(site), *sys.path]), ACME_API_KEY="acme-key-123", NO_COLOR="1")
    return env


def _ait(env, cwd, *args):
    p = subprocess.run(
        [sys.executable, "-m", "aitelier", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return p.returncode, p.stdout, p.stderr


@pytest.mark.slow
def test_a_plugin_is_offered_by_init_format_validate_and_train(plugin_env, tmp_path):
    code, out, err = _ait(plugin_env, tmp_path, "init", "--help")
    assert code == 0 and "acme" in out
    code, out, err = _ait(
        plugin_env, tmp_path, "init", "p", "--example", "customer-support", "--provider", "acme"
    )
    assert code == 0, err
    proj = tmp_path / "p"
    cfg = json.loads((proj / ".aitelier.json").read_text())
    assert cfg["provider"] == "acme" and cfg["model"] == "acme-7b"
    assert _ait(plugin_env, proj, "split")[0] == 0
    code, out, err = _ait(plugin_env, proj, "format", "--provider", "acme")
    assert code == 0, err
    code, out, err = _ait(plugin_env, proj, "validate", "data/train.jsonl", "--provider", "acme")
    assert code == 0, err
    code, out, err = _ait(plugin_env, proj, "train", "--help")
    assert (
        code == 0
        and "--warmup" in out
        and "Acme: Warm-up share of the steps; [0, 1]." in " ".join(out.split())
    )
    code, out, err = _ait(plugin_env, proj, "train", "--dry-run", "--warmup", "2")
    assert code == 3 and "--warmup must be in [0, 1], got 2" in err
    code, out, err = _ait(plugin_env, proj, "train", "--dry-run", "--json", "--warmup", "0.25")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["provider"] == "acme" and plan["request"]["body"]["warmup"] == 0.25
    assert plan["request"]["body"]["epochs"] == 2  # the plugin's own default
    code, out, err = _ait(plugin_env, proj, "train", "--dry-run", "--lora-r", "8")
    assert code == 3 and "--lora-r is not supported by Acme" in err


def test_top_level_help_loads_no_plugin(plugin_env, tmp_path):
    code = (
        "import sys\nfrom aitelier.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('loaded' if 'aitelier_acme' in sys.modules or 'aitelier.providers.registry' in sys.modules "
        "else 'none', file=sys.stderr)"
    )
    p = subprocess.run(
        [sys.executable, "-c", code], env=plugin_env, capture_output=True, text=True, timeout=60
    )
    assert p.stderr.strip().endswith("none")


def test_a_builtin_provider_is_found_without_scanning_the_installed_packages():
    code = (
        "import sys\nfrom aitelier.providers import registry\nfrom aitelier.cli.options import PROVIDER\n"
        "registry.get('openai'); PROVIDER.convert('local', None, None)\n"
        "print('importlib.metadata' in sys.modules)"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.stdout.strip() == "False", p.stderr


def test_a_plugin_cannot_replace_a_builtin(plugin_env, tmp_path):
    site = Path(plugin_env["PYTHONPATH"].split(os.pathsep)[0])
    (site / "aitelier_acme.py").write_text("def register(register):\n    register('together', None)\n")
    code = (
        "from aitelier.providers import registry\n"
        "print(registry.get('together').origin)\n"
        "try:\n    registry.get('acme')\nexcept Exception as e:\n    print(e.message.split('failed to load: ')[1])"
    )
    p = subprocess.run(
        [sys.executable, "-c", code], env=plugin_env, capture_output=True, text=True, timeout=60
    )
    assert p.stdout.splitlines() == [
        "built-in",
        "acme (ValueError: 'together' is a built-in provider; a plugin cannot replace it))",
    ], p.stderr
