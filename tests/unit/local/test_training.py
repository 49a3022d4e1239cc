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
