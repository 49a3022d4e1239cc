"""`ait pull` downloads a finished Together run's adapter into the run directory (the loopback fake, real SDK)."""

from __future__ import annotations


def test_pull_downloads_the_adapter_of_a_finished_run(ait, train_project, together_env, runs_of):
    root = train_project.root
    assert ait("train", "--yes", cwd=root).exit_code == 0
    r = ait("pull", cwd=root)
    assert r.exit_code == 1 and "no finished fine-tune yet" in r.stderr
    r = ait("pull", runs_of(train_project)[0]["id"], cwd=root)
    assert r.exit_code == 2 and "has not finished" in r.stderr
    assert ait("status", "--watch", "--interval", "0.01", cwd=root).exit_code == 0
    (run,) = runs_of(train_project)

    r = ait("pull", cwd=root)
    assert r.exit_code == 0, r.output
    adapter = root / "runs" / run["id"] / "adapter"
    assert sorted(p.name for p in adapter.iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]
    assert (adapter / "adapter_model.safetensors").read_bytes() == together_env.checkpoint[
        "adapter_model.safetensors"
    ]
    (call,) = together_env.calls("GET", "/v1/finetune/download")
    assert call.query == {"ft_id": [run["jobId"]], "checkpoint": ["adapter"]}
    assert runs_of(train_project)[0]["downloaded"] == {"adapter": f"runs/{run['id']}/adapter"}
    assert "*" in (root / "runs" / ".gitignore").read_text().splitlines()

    r = ait("pull", cwd=root)  # already there: nothing downloaded again
    assert r.exit_code == 0 and "not downloading again" in r.stderr
    assert len(together_env.calls("GET", "/v1/finetune/download")) == 1
