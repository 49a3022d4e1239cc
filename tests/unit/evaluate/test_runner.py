"""Concurrent cached generation through the real SDK against the loopback fake: concurrency, the cache,
Retry-After, server errors, and stopping at the first answer that says the model cannot be served."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from aitelier.evaluate.generate import Endpoint, UnservableModel
from aitelier.evaluate.runner import Cache, Call, Settings, call_with_retries, run_calls
from aitelier.providers.base import ChatResult, ProviderRequestError

CHAT = "/v1/chat/completions"


def calls(n: int, model: str = "m") -> list[Call]:
    return [Call(model, [{"role": "user", "content": f"q{i}"}]) for i in range(n)]


def run(provider, the_calls, tmp_path: Path, *, concurrency=4, read=True, settings=Settings()):
    endpoint = Endpoint(lambda: provider, "together", None)
    return run_calls(
        endpoint.chat(settings),
        the_calls,
        endpoint=endpoint.cache_scope,
        settings=settings,
        cache=Cache(tmp_path / "cache.jsonl", read=read),
        concurrency=concurrency,
    )


def test_answers_come_back_in_order_and_a_second_run_makes_no_call(provider, together, tmp_path):
    first = run(provider, calls(12), tmp_path)
    assert [r.text for r in first] == [f"echo: q{i}" for i in range(12)]
    assert len(together.calls("POST", CHAT)) == 12
    second = run(provider, calls(12), tmp_path)
    assert [r.text for r in second] == [r.text for r in first]
    assert len(together.calls("POST", CHAT)) == 12  # all from the cache


def test_the_cache_key_covers_model_and_settings_and_no_cache_calls_again(provider, together, tmp_path):
    run(provider, calls(3), tmp_path)
    run(provider, calls(3), tmp_path, settings=Settings(temperature=0.7))
    run(provider, calls(3, model="other"), tmp_path)
    assert len(together.calls("POST", CHAT)) == 9
    run(provider, calls(3), tmp_path, read=False)  # --no-cache
    assert len(together.calls("POST", CHAT)) == 12


def test_a_cache_written_by_an_earlier_version_is_still_used(provider, together, tmp_path):
    run(provider, calls(2), tmp_path)
    cache = tmp_path / "cache.jsonl"
    lines = [json.loads(line) for line in cache.read_text().splitlines()]
    # the line as a version that kept finish_reason wrote it
    cache.write_text("".join(json.dumps({**obj, "finish_reason": "stop"}) + "\n" for obj in lines))
    again = run(provider, calls(2), tmp_path)
    assert [r.text for r in again] == ["echo: q0", "echo: q1"]
    assert len(together.calls("POST", CHAT)) == 2  # both from the cache


def test_calls_overlap_up_to_the_concurrency(tmp_path):
    in_flight = 0
    most = 0
    lock = threading.Lock()

    def chat(call: Call) -> ChatResult:
        nonlocal in_flight, most
        with lock:
            in_flight += 1
            most = max(most, in_flight)
        time.sleep(0.05)
        with lock:
            in_flight -= 1
        return ChatResult(text="ok")

    run_calls(
        chat, calls(24), endpoint="x", settings=Settings(), cache=Cache(tmp_path / "c.jsonl"), concurrency=6
    )
    assert most == 6


def test_latency_is_paid_in_parallel(provider, together, tmp_path):
    together.latency("POST", CHAT, 0.2)
    start = time.monotonic()
    run(provider, calls(16), tmp_path, concurrency=16)
    assert time.monotonic() - start < 1.6  # 16 one after another would take 3.2 s


def test_rate_limits_are_retried_after_the_time_the_server_asks(provider, together):
    together.fault("POST", CHAT, "429", times=2, retry_after="3")
    waits: list[float] = []
    endpoint = Endpoint(lambda: provider, "together", None)
    answer, retries = call_with_retries(endpoint.chat(Settings()), calls(1)[0], sleep=waits.append)
    assert answer.text == "echo: q0"
    assert retries == 2
    assert waits == [3.0, 3.0]
    assert len(together.calls("POST", CHAT)) == 3


def test_server_errors_are_retried_with_backoff(provider, together, tmp_path):
    together.fault("POST", CHAT, "500", times=3)
    out = run(provider, calls(2), tmp_path, concurrency=1)
    assert [r.text for r in out] == ["echo: q0", "echo: q1"]
    assert len(together.calls("POST", CHAT)) == 5


def test_a_failure_that_outlasts_the_retries_is_raised(provider, together):
    together.fault("POST", CHAT, "500", times=10)
    endpoint = Endpoint(lambda: provider, "together", None)
    with pytest.raises(ProviderRequestError) as e:
        call_with_retries(endpoint.chat(Settings()), calls(1)[0], attempts=3, sleep=lambda s: None)
    assert e.value.status_code == 500
    assert len(together.calls("POST", CHAT)) == 3


def test_an_unservable_model_stops_the_run_at_once(provider, together, tmp_path):
    together.unservable["lora-model"] = (
        400,
        {
            "error": {
                "message": "Unable to access non-serverless model lora-model. Please visit "
                "https://api.together.ai/models to view the list of supported models.",
                "type": "invalid_request_error",
                "param": None,
                "code": "model_not_available",
            }
        },
    )
    with pytest.raises(UnservableModel) as e:
        run(provider, calls(20, model="lora-model"), tmp_path, concurrency=1)
    text = str(e.value)
    assert "cannot serve lora-model" in text and "non-serverless" in text
    assert "dedicated endpoint" in text and "--base-url" in text
    assert len(together.calls("POST", CHAT)) == 1  # the other 19 were never sent
