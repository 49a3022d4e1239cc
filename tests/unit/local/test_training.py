"""LoRA training through the library (the same trainer `ait train` runs in its background process)."""

from __future__ import annotations

import json

import pytest

from helpers.local import bundled_conversations, tiny_model

HP = {
    "epochs": 3,
    "batch_size": 4,
    "learning_rate": 0.05,
    "lora_r": 8,
    "lora_alpha": 16,
    "lora_dropout": 0.0,
    "max_length": 512,
}


def write(path, conversations):
    path.write_text("".join(json.dumps({"messages": c}) + "\n" for c in conversations))
    return path


@pytest.mark.slow
def test_loss_decreases_and_the_adapter_reloads_with_identical_logits(tmp_path):
    import torch

    from aitelier.local import infer
    from aitelier.local.worker import trainer_for

    convs = bundled_conversations()[:16]
    train = write(tmp_path / "train.jsonl", convs)
    trainer = trainer_for(str(tiny_model()), HP, train, None, tmp_path / "out")
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 12  # 16 examples / 4 per step x 3 epochs
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.3

    adapter = tmp_path / "adapter"
    trainer.model.save_pretrained(adapter)
    trainer.processing_class.save_pretrained(adapter)
    assert (adapter / "adapter_model.safetensors").exists()
    assert json.loads((adapter / "adapter_config.json").read_text())["r"] == 8

    reloaded = infer.load(str(adapter))
    ids = torch.tensor([trainer.processing_class("Where is my order?")["input_ids"]])
    trainer.model.eval()
    with torch.no_grad():
        before = trainer.model(input_ids=ids).logits
        after = reloaded.model(input_ids=ids).logits
        base = infer.load(str(tiny_model())).model(input_ids=ids).logits
    assert torch.equal(before, after)
    assert not torch.equal(base, after)  # the adapter changed the model

    from transformers import AutoModelForCausalLM

    from aitelier.local.models import export_merged

    merged_dir = export_merged(adapter, tmp_path / "merged")
    assert (merged_dir / "config.json").exists() and (merged_dir / "tokenizer.json").exists()
    assert not (merged_dir / "adapter_config.json").exists()  # a plain model: transformers and vLLM load it
    merged = AutoModelForCausalLM.from_pretrained(merged_dir)
    with torch.no_grad():
        assert torch.allclose(merged(input_ids=ids).logits, after, atol=1e-4)


def test_conversations_with_every_answer_at_weight_0_are_left_out(tmp_path):
    from transformers import AutoTokenizer

    from aitelier.local.worker import rows

    convs = bundled_conversations()[:3]
    silent = [{**m, "weight": 0} if m["role"] == "assistant" else m for m in convs[1]]
    path = write(tmp_path / "train.jsonl", [convs[0], silent, convs[2]])
    tok = AutoTokenizer.from_pretrained(tiny_model())
    assert len(rows(tok, path)) == 2


def one_batch(tmp_path):
    from aitelier.local.worker import trainer_for

    train = write(tmp_path / "train.jsonl", bundled_conversations()[:4])
    trainer = trainer_for(str(tiny_model()), HP, train, None, tmp_path / "out")
    batch = next(iter(trainer.get_train_dataloader()))
    trainer.model.train()
    return trainer, batch


def test_the_training_loss_is_the_mean_cross_entropy_of_the_assistant_tokens(tmp_path):
    import torch

    trainer, batch = one_batch(tmp_path)
    with torch.no_grad():
        loss = trainer.compute_loss(trainer.model, dict(batch))
        logits = trainer.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    labels = batch["labels"][:, 1:]  # token t is predicted at position t - 1
    trained = labels != -100
    log_probs = torch.log_softmax(logits[:, :-1].double(), dim=-1)
    picked = log_probs.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    expected = -(picked * trained).sum() / trained.sum()
    # the batch holds prompt tokens, which the loss leaves out
    assert 0 < int(trained.sum()) < int(batch["attention_mask"][:, 1:].sum())
    assert abs(float(loss) - float(expected)) < 1e-4


def test_on_the_cpu_each_step_runs_the_model_once_and_projects_only_the_trained_tokens(tmp_path):
    """No gradient checkpointing (a second forward pass), and the vocabulary projection skips the prompt and
    padding tokens: a batch costs 2 x hidden x vocab FLOPs less for every position without a label."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    trainer, batch = one_batch(tmp_path)
    assert trainer.args.gradient_checkpointing is False

    def flops(labels):
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            trainer.compute_loss(trainer.model, {**batch, "labels": labels})
        return counter.get_total_flops()

    every = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    extra_positions = int((every[:, 1:] != -100).sum() - (batch["labels"][:, 1:] != -100).sum())
    config = trainer.model.config
    assert extra_positions > 0
    per_position = 2 * config.hidden_size * config.vocab_size
    assert flops(every) - flops(batch["labels"]) == per_position * extra_positions


TRAIN_ONE_STEP = """
import json, sys
from pathlib import Path
from aitelier.local.worker import trainer_for
hp = json.loads(sys.argv[3])
trainer = trainer_for(sys.argv[1], hp, Path(sys.argv[2]), None, Path(sys.argv[2]).parent / "out")
trainer.train()
"""


@pytest.mark.slow
def test_local_training_sends_nothing_to_the_hub(tmp_path):
    """TRL reports every trainer it creates to huggingface.co unless the Hub's telemetry is off."""
    import http.server
    import os
    import subprocess
    import sys
    import threading

    seen = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def answer(self):
            seen.append(f"{self.command} {self.path}")
            self.send_response(404)
            self.end_headers()

        do_GET = do_HEAD = do_POST = answer

        def log_message(self, *args):
            pass

    hub = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=hub.serve_forever, daemon=True).start()
    try:
        train = write(tmp_path / "train.jsonl", bundled_conversations()[:4])
        quiet = (
            "CI",
            "HF_HUB_OFFLINE",
            "TRANSFORMERS_OFFLINE",
            "HF_HUB_DISABLE_TELEMETRY",
            "DISABLE_TELEMETRY",
        )
        env = {k: v for k, v in os.environ.items() if k not in quiet}
        env["HF_ENDPOINT"] = f"http://127.0.0.1:{hub.server_port}"
        args = [str(tiny_model()), str(train), json.dumps({**HP, "epochs": 1})]
        done = subprocess.run(
            [sys.executable, "-c", TRAIN_ONE_STEP, *args], env=env, capture_output=True, timeout=300
        )
        assert done.returncode == 0, done.stderr.decode()[-2000:]
    finally:
        hub.shutdown()
    assert seen == []
