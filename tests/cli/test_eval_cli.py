"""`ait eval` and `ait evals` without a terminal: --no-score, --json, --judge, the cache, the unservable-model
message and the file contract, through the real CLI and the real SDK against the loopback Together fake."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import evals as ev_helpers
from helpers import fakes

CHAT = "/v1/chat/completions"
NON_SERVERLESS = (
    400,
    {
        "error": {
            "message": f"Unable to access non-serverless model {ev_helpers.TUNED}. Please visit "
            "https://api.together.ai/models to view the list of supported models.",
            "type": "invalid_request_error",
            "param": None,
            "code": "model_not_available",
        }
    },
)


@pytest.fixture
def together(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    server = fakes.together()
    monkeypatch.setenv("TOGETHER_API_KEY", server.api_key)
    monkeypatch.setenv("TOGETHER_BASE_URL", server.url)
    monkeypatch.setenv("AITELIER_MAX_RETRIES", "0")
    yield server
    server.stop()


@pytest.fixture
def proj(tmp_path: Path) -> Any:
    return ev_helpers.make_project(tmp_path / "p", n_val=4)


def eval_files(project: Any) -> list[Path]:
    d = project.root / "data" / "evals"
    return sorted(p for p in d.glob("*.json")) if d.exists() else []


def test_no_score_generates_every_val_example_and_prints_the_file_name(ait, together, proj):
    r = ait("-C", str(proj.root), "eval", "--no-score", "--max-tokens", "50", "--temperature", "0.5")
    assert r.exit_code == 0, r.output
    (path,) = eval_files(proj)
    assert r.stdout.strip() == f"data/evals/{path.name}"
    assert re.fullmatch(
        r"\d{8}-\d{6}-score-Meta-Llama-3.1-8B-Instruct-Reference-support-ft-1\.json", path.name
    )
    doc = json.loads(path.read_text())
    assert doc["kind"] == "score" and doc["model"] == ev_helpers.TUNED and doc["provider"] == "together"
    assert doc["settings"] == {"temperature": 0.5, "max_tokens": 50}
    assert doc["val_set"]["examples"] == 4 and doc["val_set"]["fingerprint"].startswith("sha256:")
    assert [it["id"] for it in doc["items"]] == [7, 8, 9, 10]  # the val split keeps its example ids
    first = doc["items"][0]
    assert first["input"] == [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "where is order 7?"},
    ]
    assert first["expected"] == "Order 7 ships tomorrow."
    assert first["output"] == "echo: where is order 7?"
    assert first["score"] is None
    sent = [c.json for c in together.calls("POST", CHAT)]
    assert {s["model"] for s in sent} == {ev_helpers.TUNED}
    assert {(s["temperature"], s["max_tokens"]) for s in sent} == {(0.5, 50)}
    assert all(s["messages"][-1]["role"] == "user" for s in sent)  # never the answer itself


def test_a_second_run_makes_no_call_and_no_cache_calls_again(ait, together, proj):
    assert ait("-C", str(proj.root), "eval", "--no-score").exit_code == 0
    assert len(together.calls("POST", CHAT)) == 4
    assert ait("-C", str(proj.root), "eval", "--no-score").exit_code == 0
    assert len(together.calls("POST", CHAT)) == 4
    assert len(eval_files(proj)) == 2  # a new eval each time, the first one untouched
    assert ait("-C", str(proj.root), "eval", "--no-score", "--no-cache").exit_code == 0
    assert len(together.calls("POST", CHAT)) == 8


def test_a_fully_cached_run_needs_no_key_and_no_network(ait, together, proj, monkeypatch):
    assert ait("-C", str(proj.root), "eval", "--no-score").exit_code == 0
    together.stop()
    monkeypatch.delenv("TOGETHER_API_KEY")
    r = ait("-C", str(proj.root), "eval", "--no-score")
    assert r.exit_code == 0, r.output
    assert len(eval_files(proj)) == 2


def test_scoring_without_a_terminal_names_the_flags_and_calls_nothing(ait, together, proj):
    r = ait("-C", str(proj.root), "eval")
    assert r.exit_code == 2
    assert "--no-score" in r.stderr and "--judge" in r.stderr and "--json" in r.stderr
    assert together.calls("POST", CHAT) == []
    assert eval_files(proj) == []


def test_an_unservable_model_is_one_line_exit_4_and_no_eval_file(ait, together, proj):
    together.unservable[ev_helpers.TUNED] = NON_SERVERLESS
    r = ait("-C", str(proj.root), "eval", "--no-score")
    assert r.exit_code == 4
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert f"cannot serve {ev_helpers.TUNED}" in lines[0]
    assert "dedicated endpoint" in lines[0] and "--base-url" in lines[0]
    assert eval_files(proj) == []
    assert len(together.calls("POST", CHAT)) <= 4


def test_a_fine_tune_not_finished_yet_says_so(ait, together, tmp_path):
    project = ev_helpers.make_project(tmp_path / "p")
    cfg = json.loads(project.config_path.read_text())
    cfg["runs"][0].update(status="running", fineTunedModel=None)
    project.config_path.write_text(json.dumps(cfg))
    r = ait("-C", str(project.root), "eval", "--no-score")
    assert r.exit_code == 4
    assert "ft-1 has not finished (status running)" in r.stderr and "--model" in r.stderr
    assert together.calls("POST", CHAT) == []


def test_compare_json_records_both_models_and_seeded_sides(ait, together, proj):
    r = ait("-C", str(proj.root), "eval", "--compare", "--json", "--seed", "11")
    assert r.exit_code == 0, r.output
    brief = json.loads(r.stdout)
    assert (
        brief["kind"] == "compare" and brief["model"] == ev_helpers.TUNED and brief["base"] == ev_helpers.BASE
    )
    doc = json.loads((proj.root / brief["path"]).read_text())
    assert doc["seed"] == 11
    for it in doc["items"]:
        assert {it["a_model"], it["b_model"]} == {ev_helpers.TUNED, ev_helpers.BASE}
        assert it["a_output"] == it["b_output"] == f"echo: where is order {it['id']}?"
        assert it["choice"] is None and it["winner"] is None
    assert len(together.calls("POST", CHAT)) == 8
    again = ait("-C", str(proj.root), "eval", "--compare", "--json", "--seed", "11")
    doc2 = json.loads((proj.root / json.loads(again.stdout)["path"]).read_text())
    assert [it["a_model"] for it in doc2["items"]] == [it["a_model"] for it in doc["items"]]  # same seed
    assert len(together.calls("POST", CHAT)) == 8


def judge_reply(body: dict[str, Any]) -> str:
    """A judge that scores by the example number, and prefers Output 1 for odd ones whatever the order."""
    text = body["messages"][-1]["content"]
    if "## Candidate output" in text:
        n = int(re.search(r"order (\d+)", text).group(1))
        return f"SCORE: {n % 5 + 1}\nREASON: judged example {n}."
    return f"echo: {body['messages'][-1]['content']}"


def test_the_judge_scores_with_reasons_and_agreement_appears_once_a_person_scored(ait, together, proj):
    together.chat_answer = judge_reply
    r = ait("-C", str(proj.root), "eval", "--judge", "judge-model", "--json")
    assert r.exit_code == 0, r.output
    brief = json.loads(r.stdout)
    assert brief["judge"]["model"] == "judge-model"
    doc = json.loads((proj.root / brief["path"]).read_text())
    # ids 7..10 -> 7 % 5 + 1 = 3, 4, 5, 1
    assert [it["judge"]["score"] for it in doc["items"]] == [3, 4, 5, 1]
    assert doc["items"][0]["judge"]["reason"] == "judged example 7."
    assert brief["summary"]["judge"]["average"] == 3.25
    assert brief["summary"]["judge"]["agreement"] is None
    # a person scores the same items later (here through the library, as the screen does)
    from aitelier.evaluate import results
    from aitelier.evaluate.session import Session

    session = Session(results.load(proj.root / brief["path"]))
    for score in (3, 5, 5, 2):
        session.answer(score)
    shown = json.loads(ait("-C", str(proj.root), "evals", "show", brief["name"], "--json").stdout)
    agreement = shown["summary"]["judge"]["agreement"]
    assert agreement == {"n": 4, "exact": 0.5, "within_one": 1.0, "spearman": 0.9487}
    judge_calls = [c for c in together.calls("POST", CHAT) if c.json["model"] == "judge-model"]
    assert len(judge_calls) == 4


def test_evals_lists_and_shows(ait, together, proj):
    assert ait("-C", str(proj.root), "evals").stdout.strip() == "No evals yet: `ait eval` runs one."
    ait("-C", str(proj.root), "eval", "--no-score")
    listed = json.loads(ait("-C", str(proj.root), "evals", "--json").stdout)["evals"]
    assert len(listed) == 1 and listed[0]["finished"] is False and listed[0]["summary"]["items"] == 4
    r = ait("-C", str(proj.root), "evals")
    assert listed[0]["name"] in r.stdout and "(unfinished)" in r.stdout
    r = ait("-C", str(proj.root), "evals", "show", "latest")
    assert r.exit_code == 0 and "example 7: score -" in r.stdout
    r = ait("-C", str(proj.root), "evals", "show", "nope")
    assert r.exit_code == 1 and "no eval named 'nope'" in r.stderr


def test_base_url_speaks_openai_to_any_server_without_sending_provider_keys(ait, proj, monkeypatch):
    server = fakes.openai()
    try:
        server.api_key = "not-needed"  # a local server that accepts anything
        monkeypatch.setenv("OPENAI_API_KEY", "sk-real-key-must-not-leave")
        r = ait(
            "-C",
            str(proj.root),
            "eval",
            "--no-score",
            "--model",
            "local-model",
            "--base-url",
            server.url + "/v1",
        )
        assert r.exit_code == 0, r.output
        doc = json.loads(eval_files(proj)[0].read_text())
        assert doc["provider"] == "openai-compatible" and doc["base_url"] == server.url + "/v1"
        sent = server.calls("POST", CHAT)
        assert len(sent) == 4 and {c.headers["authorization"] for c in sent} == {"Bearer not-needed"}
    finally:
        server.stop()


def test_a_run_the_npm_tool_recorded_is_the_default_model(ait, together, tmp_path):
    project = ev_helpers.make_project(tmp_path / "p")
    cfg = json.loads(project.config_path.read_text())
    cfg["runs"] = [
        {"jobId": "ft-npm", "status": "completed", "modelId": "npm/ft-model", "provider": "together"}
    ]
    project.config_path.write_text(json.dumps(cfg))
    r = ait("-C", str(project.root), "eval", "--no-score")
    assert r.exit_code == 0, r.output
    assert {c.json["model"] for c in together.calls("POST", CHAT)} == {"npm/ft-model"}


def test_no_validation_examples_is_a_usage_error_naming_split(ait, together, tmp_path):
    project = ev_helpers.make_project(tmp_path / "p", n_val=0)
    r = ait("-C", str(project.root), "eval", "--no-score")
    assert r.exit_code == 2
    assert "no validation examples" in r.stderr and "ait split" in r.stderr
    assert together.calls("POST", CHAT) == []


def compare_judge(prefer: str):
    """A judge that picks the output holding ``prefer`` (or Output 1 whatever it holds, when prefer is "")."""

    def reply(body: dict[str, Any]) -> str:
        text = body["messages"][-1]["content"]
        if "## Output 1" not in text:
            return f"answer by {body['model']}"
        if not prefer:
            return "WINNER: 1\nREASON: the first one."
        first = text.split("## Output 1", 1)[1].split("## Output 2", 1)[0]
        return f"WINNER: {1 if prefer in first else 2}\nREASON: it is by {prefer}."

    return reply


def test_the_compare_judge_asks_twice_and_cancels_position_bias(ait, together, proj):
    together.chat_answer = compare_judge(ev_helpers.TUNED)
    r = ait("-C", str(proj.root), "eval", "--compare", "--judge", "judge-model", "--json", "--seed", "3")
    assert r.exit_code == 0, r.output
    sm = json.loads(r.stdout)["summary"]["judge"]
    assert sm["wins"] == {"model": 4, "base": 0} and sm["ties"] == 0
    assert sm["p_value"] == 0.125 and sm["verdict"] == "no significant difference at n = 4 (p = 0.12)"
    judge_calls = [c for c in together.calls("POST", CHAT) if c.json["model"] == "judge-model"]
    assert len(judge_calls) == 8  # each pair asked in both orders

    together.chat_answer = compare_judge("")  # a judge that always says "Output 1"
    r = ait("-C", str(proj.root), "eval", "--compare", "--judge", "biased-judge", "--json", "--seed", "3")
    sm = json.loads(r.stdout)["summary"]["judge"]
    assert sm["wins"] == {"model": 0, "base": 0} and sm["ties"] == 4


def test_resume_judge_judges_an_existing_eval(ait, together, proj):
    together.chat_answer = judge_reply
    assert ait("-C", str(proj.root), "eval", "--no-score").exit_code == 0
    r = ait("-C", str(proj.root), "eval", "--resume", "--judge", "judge-model", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["summary"]["judge"]["scored"] == 4
    assert len(eval_files(proj)) == 1


def test_a_provider_without_chat_points_to_base_url(ait, tmp_path):
    from aitelier.providers import registry

    registry.register("trainonly", None, default_model="m", capabilities=frozenset({"train"}))
    try:
        project = ev_helpers.make_project(tmp_path / "p", provider="trainonly")
        r = ait("-C", str(project.root), "eval", "--no-score", "--model", "my-lora")
    finally:
        registry.reset()
    assert r.exit_code == 2
    assert "cannot answer chat requests" in r.stderr and "--base-url URL" in r.stderr
    assert not (project.root / "data" / "evals").exists()
