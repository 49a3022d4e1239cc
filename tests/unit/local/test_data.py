"""The training rows: the chat template renders the conversation; the loss counts assistant tokens only."""

from __future__ import annotations

from helpers.local import tiny_model


def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model())


CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Where is my order?"},
    {"role": "assistant", "content": "It ships today."},
    {"role": "user", "content": "And the refund?"},
    {"role": "assistant", "content": "Within 5 days."},
]


def trained_text(tok, row) -> str:
    ids = [t for t, m in zip(row["input_ids"], row["assistant_masks"], strict=True) if m]
    return tok.decode(ids)


def test_every_assistant_turn_of_a_multi_turn_conversation_is_trained_and_nothing_else():
    from aitelier.local.data import tokenize

    tok = tokenizer()
    row = tokenize(tok, CONVERSATION)
    assert len(row["input_ids"]) == len(row["assistant_masks"])
    assert trained_text(tok, row) == "It ships today.<|im_end|>\nWithin 5 days.<|im_end|>\n"
    whole = tok.decode(row["input_ids"])
    assert whole == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhere is my order?<|im_end|>\n"
        "<|im_start|>assistant\nIt ships today.<|im_end|>\n<|im_start|>user\nAnd the refund?<|im_end|>\n"
        "<|im_start|>assistant\nWithin 5 days.<|im_end|>\n"
    )


def test_a_weight_0_turn_is_not_trained():
    from aitelier.local.data import tokenize

    tok = tokenizer()
    weighted = [dict(m) for m in CONVERSATION]
    weighted[2]["weight"] = 0
    weighted[4]["weight"] = 1
    assert trained_text(tok, tokenize(tok, weighted)) == "Within 5 days.<|im_end|>\n"
