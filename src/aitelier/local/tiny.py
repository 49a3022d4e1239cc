"""A tiny chat model built from a config, with a tokenizer trained on the project's own examples: what the
offline demo, the tests and the benchmark train when nothing can be downloaded. It shows the loop, not quality.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def build(
    out: Path,
    texts: list[str],
    *,
    vocab_size: int = 512,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    seed: int = 0,
    init_range: float = 0.2,  # wider than usual: LoRA on a random model then moves the loss visibly
) -> Path:
    """Write a randomly initialised Llama-style model and a byte-level BPE tokenizer to ``out``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>", bos_token=None
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=max(1, heads // 2),
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
        initializer_range=init_range,
    )
    model = LlamaForCausalLM(config)
    generation = model.generation_config
    if generation is not None:
        generation.eos_token_id = tokenizer.eos_token_id
        generation.pad_token_id = tokenizer.pad_token_id
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def texts_of(conversations: list[list[dict[str, Any]]]) -> list[str]:
    return [m["content"] for c in conversations for m in c]


def main(argv: list[str]) -> int:
    """``python -m aitelier.local.tiny OUT FILE.jsonl...``: a tiny model whose tokenizer learns the files' text."""
    import json

    if len(argv) < 2:
        print("usage: python -m aitelier.local.tiny OUT FILE.jsonl...")
        return 2
    texts = []
    for name in argv[1:]:
        for line in Path(name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                texts += texts_of([json.loads(line)["messages"]])
    print(build(Path(argv[0]), texts))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
