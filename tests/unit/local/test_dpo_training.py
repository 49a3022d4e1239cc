"""DPO on this machine: TRL's DPOTrainer with LoRA on a tiny model built in the test, from the same preference
file `ait format --method dpo` writes."""

from __future__ import annotations

import json

import pytest

from helpers.local import tiny_model

HP = {
    "epochs": 4,
    "batch_size": 4,
    "learning_rate": 0.01,
    "lora_r": 8,
    "lora_alpha": 16,
    "lora_dropout": 0.0,
    "max_length": 256,
    "dpo_beta": 0.1,
}


def pairs_file(path, n=8):
    lines = []
    for i in range(n):
        lines.append(
            {
                "input": {
                    "messages": [
                        {"role": "system", "content": "You are the support assistant."},
                        {"role": "user", "content": f"Where is my order {i}?"},
                    ]
                },
                "preferred_output": [{"role": "assistant", "content": "It ships tomorrow with tracking."}],
                "non_preferred_output": [{"role": "assistant", "content": "No idea, ask someone else."}],
            }
        )
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


@pytest.mark.slow
def test_dpo_loss_goes_down_and_the_preferred_reply_gains(tmp_path):
    from aitelier.local.worker import trainer_for

    trainer = trainer_for(
        str(tiny_model()), HP, pairs_file(tmp_path / "train.dpo.jsonl"), None, tmp_path / "o", method="dpo"
    )
    trainer.train()
    logs = [h for h in trainer.state.log_history if "loss" in h]
    assert len(logs) == 8  # 8 pairs / 4 per step x 4 epochs
    assert logs[-1]["loss"] < logs[0]["loss"] - 0.1
    assert logs[-1]["rewards/margins"] > logs[0]["rewards/margins"]  # preferred over rejected, more and more


@pytest.mark.slow
def test_rpo_alpha_adds_the_nll_of_the_preferred_output(tmp_path):
    from aitelier.local.worker import trainer_for

    trainer = trainer_for(
        str(tiny_model()),
        {**HP, "rpo_alpha": 0.5},
        pairs_file(tmp_path / "t.jsonl", 4),
        None,
        tmp_path / "o",
        method="dpo",
    )
    assert list(trainer.args.loss_type) == ["sigmoid", "sft"] and list(trainer.args.loss_weights) == [
        1.0,
        0.5,
    ]
    assert trainer.args.beta == 0.1


def test_a_line_that_is_not_a_pair_is_named_by_path_and_line(tmp_path):
    from aitelier.errors import ValidationFailed
    from aitelier.local.data import read_preferences

    path = pairs_file(tmp_path / "p.jsonl", 2)
    path.write_text(path.read_text() + '{"messages": []}\n')
    with pytest.raises(ValidationFailed, match=r"p\.jsonl:3: not a preference line"):
        read_preferences(path)
