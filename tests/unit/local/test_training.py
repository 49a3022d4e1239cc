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
def test_loss_decreases_and_the_adapter_reloads_with_identical_weights_and_logits(tmp_path):
    """On any device: the saved adapter reloads bit for bit, answering holds the base model in the dtype it trained
    in, and the merged export answers as the adapter does. On the CPU the logits are identical too (on CUDA the
    trainer's bf16 autocast makes them differ in the last bits)."""
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
    trained_dtype = trainer.model.get_input_embeddings().weight.dtype
    assert reloaded.model.get_input_embeddings().weight.dtype == trained_dtype
    lora = {n: p for n, p in trainer.model.named_parameters() if "lora_" in n}
    again = {n: p for n, p in reloaded.model.named_parameters() if "lora_" in n}
    assert len(lora) == 2 * 7 * 2  # A and B on the 7 linear layers of each of the 2 blocks
    assert lora.keys() == again.keys()
    assert all(torch.equal(lora[n].cpu(), again[n].cpu()) for n in lora)

    device = trainer.model.device
    ids = torch.tensor([trainer.processing_class("Where is my order?")["input_ids"]], device=device)
    trainer.model.eval()
    with torch.no_grad():
        before = trainer.model(input_ids=ids).logits
        after = reloaded.model(input_ids=ids).logits
        base = infer.load(str(tiny_model())).model(input_ids=ids).logits
    if device.type == "cpu":
        assert torch.equal(before, after)
    assert not torch.equal(base, after)  # the adapter changed the model

    from transformers import AutoModelForCausalLM

    from aitelier.local.models import export_merged

    merged_dir = export_merged(adapter, tmp_path / "merged")
    assert (merged_dir / "config.json").exists() and (merged_dir / "tokenizer.json").exists()
    assert not (merged_dir / "adapter_config.json").exists()  # a plain model: transformers and vLLM load it
    merged = AutoModelForCausalLM.from_pretrained(merged_dir).to(device)
    assert merged.dtype == torch.float32  # the tiny base model's own dtype
    unmerged = infer.load(str(adapter), dtype=torch.float32).model
    with torch.no_grad():
        assert torch.allclose(merged(input_ids=ids).logits, unmerged(input_ids=ids).logits, atol=1e-4)


def test_the_merged_export_keeps_the_base_model_dtype_and_adds_the_lora_update(tmp_path):
    """A bfloat16 base model exports as bfloat16 (the size of the base, not twice it), each weight
    W + (alpha / r) B A rounded once; answering on the CPU holds it in float32."""
    import torch
    from peft import LoraConfig, get_peft_model
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from aitelier.local import infer
    from aitelier.local.models import export_merged

    base_dir = tmp_path / "base-bf16"
    AutoModelForCausalLM.from_pretrained(tiny_model(), dtype=torch.bfloat16).save_pretrained(base_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model())
    tokenizer.save_pretrained(base_dir)
    torch.manual_seed(1)
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj"], init_lora_weights=False)
    peft = get_peft_model(AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32), lora)
    adapter = tmp_path / "adapter"
    peft.save_pretrained(adapter)
    tokenizer.save_pretrained(adapter)  # as a training run saves it
    layer = peft.base_model.model.model.layers[0].self_attn.q_proj
    a, b = layer.lora_A["default"].weight.detach(), layer.lora_B["default"].weight.detach()
    w = layer.base_layer.weight.detach().float()
    expected = w + 2.0 * (b @ a)  # alpha / r = 8 / 4

    merged_dir = export_merged(adapter, tmp_path / "merged")
    assert json.loads((merged_dir / "config.json").read_text())["dtype"] == "bfloat16"
    with safe_open(str(merged_dir / "model.safetensors"), "pt") as f:
        assert {f.get_slice(k).get_dtype() for k in f.keys()} == {"BF16"}  # noqa: SIM118 - safe_open has no __iter__
        q = f.get_tensor("model.layers.0.self_attn.q_proj.weight").float()
    assert not torch.allclose(q, w, rtol=2**-7)  # the update is larger than bfloat16's rounding
    assert torch.allclose(q, expected, rtol=2**-8, atol=1e-6)  # bfloat16 keeps 8 significant bits

    if not torch.cuda.is_available():
        assert infer.load(str(merged_dir)).model.dtype == torch.float32


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

    if torch.cuda.is_available() or torch.backends.mps.is_available():
        pytest.skip("CUDA and MPS checkpoint the activations on purpose, and their loss path differs")
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
