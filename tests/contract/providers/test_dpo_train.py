"""`ait train --method dpo` through the real SDKs against the loopback Together and OpenAI fakes: the create
request carries the method and its parameters in the spec's shape, `--from RUN` continues from a finished SFT
run where the provider can, and the run records the method."""

from __future__ import annotations

import json

import pytest

from aitelier import Project
from helpers import rewritten_records, write_records


def dpo_project(tmp_path, ait, provider: str) -> Project:
    p = Project.create(tmp_path / provider, name="support", provider=provider)
    write_records(p.examples_path, rewritten_records(12, 3))
    r = ait("format", "--method", "dpo", cwd=p.root)
    assert r.exit_code == 0, r.output
    return p


def created(server) -> dict:
    (call,) = server.calls("POST", "/v1/fine-tunes") or server.calls("POST", "/v1/fine_tuning/jobs")
    return call.json


def test_together_dpo_request_carries_the_method_and_its_parameters(
    ait, tmp_path, together_env, together_spec, runs_of
) -> None:
    p = dpo_project(tmp_path, ait, "together")
    r = ait(
        "train",
        "--method",
        "dpo",
        "--yes",
        "--dpo-beta",
        "0.2",
        "--rpo-alpha",
        "0.5",
        "--dpo-normalize-logratios-by-length",
        cwd=p.root,
    )
    assert r.exit_code == 0, r.output
    assert "Started DPO fine-tune" in r.stdout and "method    preference tuning (DPO)" in r.stdout
    body = created(together_env)
    assert body["training_method"] == {
        "method": "dpo",
        "dpo_beta": 0.2,
        "rpo_alpha": 0.5,
        "dpo_normalize_logratios_by_length": True,
        "dpo_reference_free": False,
    }
    assert "from_checkpoint" not in body and body["model"] == p.model
    errors = together_spec.errors(together_spec.request_schema("/fine-tunes", "post"), body)
    assert not errors, errors
    uploaded = together_env.files[body["training_file"]]
    assert uploaded["filename"] == "train.dpo.jsonl"
    assert uploaded["content"] == (p.data_dir / "train.dpo.jsonl").read_bytes()
    (run,) = runs_of(p)
    assert run["method"] == "dpo" and run["hyperparameters"]["dpoBeta"] == 0.2
    assert run["files"]["train"]["path"] == "data/train.dpo.jsonl"
    table = ait("status", "--all", cwd=p.root).stdout.splitlines()
    assert table[0].split()[3] == "METHOD" and table[1].split()[3] == "dpo"


def test_together_dpo_from_a_finished_sft_run_sends_from_checkpoint(
    ait, tmp_path, together_env, together_spec, runs_of
) -> None:
    p = dpo_project(tmp_path, ait, "together")
    assert ait("format", cwd=p.root).exit_code == 0  # data/train.jsonl too: SFT first, then DPO from it
    r = ait("train", "--yes", cwd=p.root)
    assert r.exit_code == 0, r.output
    assert ait("status", "--watch", cwd=p.root).exit_code == 0
    sft = runs_of(p)[0]
    r = ait("train", "--method", "dpo", "--from", sft["id"], "--yes", cwd=p.root)
    assert r.exit_code == 0, r.output
    body = together_env.calls("POST", "/v1/fine-tunes")[-1].json
    assert body["from_checkpoint"] == sft["jobId"] and "model" not in body
    assert body["training_method"]["method"] == "dpo"
    # the spec marks `model` required; the SDK refuses a model beside a checkpoint ("either a model or a
    # checkpoint ..., not both") and its own CLI sends none: we follow the SDK, and that is the only difference
    errors = together_spec.errors(together_spec.request_schema("/fine-tunes", "post"), body)
    assert errors == [": 'model' is a required property"]
    estimate = together_env.calls("POST", "/v1/fine-tunes/estimate-price")[-1].json
    assert estimate["from_checkpoint"] == sft["jobId"]
    dpo = runs_of(p)[-1]
    assert (dpo["method"], dpo["fromRun"], dpo["baseModel"]) == ("dpo", sft["id"], sft["baseModel"])
    assert f"dpo (from run {sft['id']})" in ait("status", cwd=p.root).stdout


def test_from_an_unfinished_run_is_refused(ait, tmp_path, together_env, runs_of) -> None:
    p = dpo_project(tmp_path, ait, "together")
    assert ait("format", cwd=p.root).exit_code == 0
    assert ait("train", "--yes", cwd=p.root).exit_code == 0
    sft = runs_of(p)[0]
    before = len(together_env.requests)
    r = ait("train", "--method", "dpo", "--from", sft["id"], "--yes", cwd=p.root)
    assert r.exit_code == 2 and "has not finished" in r.stderr
    assert len(together_env.requests) == before


def test_openai_dpo_request_is_the_specs_dpo_method(ait, tmp_path, openai_env, openai_spec, runs_of) -> None:
    p = dpo_project(tmp_path, ait, "openai")
    r = ait("train", "--method", "dpo", "--yes", "--dpo-beta", "0.3", "--batch-size", "4", cwd=p.root)
    assert r.exit_code == 0, r.output
    body = created(openai_env)
    assert body["method"] == {
        "type": "dpo",
        "dpo": {"hyperparameters": {"n_epochs": 3, "batch_size": 4, "beta": 0.3}},
    }
    errors = openai_spec.errors(openai_spec.request_schema("/fine_tuning/jobs", "post"), body)
    assert not errors, errors
    assert runs_of(p)[0]["method"] == "dpo"
    job = openai_env.jobs[runs_of(p)[0]["jobId"]]
    assert job["method"]["type"] == "dpo"


def test_openai_dpo_beta_out_of_range_stops_before_upload(ait, tmp_path, openai_env) -> None:
    p = dpo_project(tmp_path, ait, "openai")
    r = ait("train", "--method", "dpo", "--yes", "--dpo-beta", "3", cwd=p.root)
    assert r.exit_code == 3 and "--dpo-beta must be in (0, 2], got 3" in r.stderr
    assert openai_env.requests == []


def test_a_dpo_parameter_without_method_dpo_is_refused(ait, train_project, together_env) -> None:
    r = ait("train", "--yes", "--dpo-beta", "0.2", cwd=train_project.root)
    assert r.exit_code == 3 and "--dpo-beta applies to --method dpo only" in r.stderr
    assert together_env.requests == []


def test_train_dpo_needs_the_dpo_files(ait, train_project, together_env) -> None:
    r = ait("train", "--method", "dpo", "--yes", cwd=train_project.root)
    assert r.exit_code == 1
    assert "data/train.dpo.jsonl does not exist" in r.stderr and "ait format --method dpo" in r.stderr


def test_train_dpo_refuses_stale_dpo_files(ait, tmp_path, together_env) -> None:
    p = dpo_project(tmp_path, ait, "together")
    assert ait("rate", "--set", "1=3", cwd=p.root).exit_code == 0
    r = ait("train", "--method", "dpo", "--yes", cwd=p.root)
    assert r.exit_code == 3 and "data/train.dpo.jsonl and data/val.dpo.jsonl are stale" in r.stderr
    assert together_env.requests == []


@pytest.mark.parametrize("as_json", [False, True])
def test_dry_run_shows_the_dpo_request(ait, tmp_path, together_env, as_json) -> None:
    p = dpo_project(tmp_path, ait, "together")
    args = ["train", "--method", "dpo", "--dry-run", "--dpo-beta", "0.1"] + (["--json"] if as_json else [])
    r = ait(*args, cwd=p.root)
    assert r.exit_code == 0, r.output
    if as_json:
        out = json.loads(r.stdout)
        assert out["method"] == "dpo" and out["request"]["body"]["training_method"]["dpo_beta"] == 0.1
    else:
        assert '"method": "dpo"' in r.stdout
    assert together_env.calls("POST", "/v1/files") == []


def test_eval_works_unchanged_on_a_dpo_run(ait, tmp_path, together_env, runs_of) -> None:
    p = dpo_project(tmp_path, ait, "together")
    assert ait("train", "--method", "dpo", "--yes", cwd=p.root).exit_code == 0
    assert ait("status", "--watch", cwd=p.root).exit_code == 0
    (run,) = runs_of(p)
    assert run["method"] == "dpo" and run["fineTunedModel"]
    r = ait("eval", "--no-score", "--max-tokens", "20", cwd=p.root)
    assert r.exit_code == 0, r.output
    (path,) = (p.data_dir / "evals").glob("*.json")
    doc = json.loads(path.read_text())
    assert doc["model"] == run["fineTunedModel"] and len(doc["items"]) == 3
    chats = together_env.calls("POST", "/v1/chat/completions")
    assert {c.json["model"] for c in chats} == {run["fineTunedModel"]}
    r = ait("eval", "--compare", "--no-score", "--max-tokens", "20", cwd=p.root)  # base vs the DPO model
    assert r.exit_code == 0, r.output
    assert {c.json["model"] for c in together_env.calls("POST", "/v1/chat/completions")} == {
        run["fineTunedModel"],
        run["baseModel"],
    }


def test_openai_dpo_from_a_finished_run_fine_tunes_its_model(ait, tmp_path, openai_env, runs_of) -> None:
    p = dpo_project(tmp_path, ait, "openai")
    assert ait("format", cwd=p.root).exit_code == 0
    assert ait("train", "--yes", cwd=p.root).exit_code == 0
    assert ait("status", "--watch", cwd=p.root).exit_code == 0
    sft = runs_of(p)[0]
    assert sft["fineTunedModel"].startswith("ft:")
    r = ait("train", "--method", "dpo", "--from", sft["id"], "--yes", cwd=p.root)
    assert r.exit_code == 0, r.output
    body = openai_env.calls("POST", "/v1/fine_tuning/jobs")[-1].json
    assert body["model"] == sft["fineTunedModel"] and body["method"]["type"] == "dpo"
    assert runs_of(p)[-1]["fromRun"] == sft["id"]


@pytest.fixture
def sft_only(together_env):
    """A provider (registered like a plugin) that trains SFT only and cannot continue a run."""
    from aitelier.providers import registry
    from aitelier.providers.together import TogetherProvider

    class SftOnly(TogetherProvider):
        name = "sftonly"
        title = "SFT-only"
        methods = ("sft",)
        continues_runs = False
        hyperparameters = tuple(h for h in TogetherProvider.hyperparameters if h.method is None)

    registry.register(
        "sftonly", SftOnly, default_model="m", key_var="TOGETHER_API_KEY", base_url_var="TOGETHER_BASE_URL"
    )
    yield together_env
    registry.reset()


def test_a_provider_without_dpo_or_continuing_says_so_with_exit_2(ait, tmp_path, sft_only, runs_of) -> None:
    p = dpo_project(tmp_path, ait, "together")
    r = ait("format", "--method", "dpo", "--provider", "sftonly", cwd=p.root)
    assert r.exit_code == 2 and "SFT-only does not train with --method dpo" in r.stderr
    r = ait("train", "--provider", "sftonly", "--method", "dpo", "--yes", cwd=p.root)
    assert r.exit_code == 2 and "SFT-only does not train with --method dpo" in r.stderr
    assert ait("format", cwd=p.root).exit_code == 0
    assert ait("train", "--yes", cwd=p.root).exit_code == 0
    assert ait("status", "--watch", cwd=p.root).exit_code == 0
    before = len(sft_only.requests)
    r = ait("train", "--provider", "sftonly", "--from", runs_of(p)[0]["id"], "--yes", cwd=p.root)
    assert r.exit_code == 2 and "SFT-only cannot continue from an earlier run (--from)" in r.stderr
    assert len(sft_only.requests) == before
