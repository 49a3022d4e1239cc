"""Local training throughput: `ait train`'s trainer (TRL SFTTrainer + peft, assistant-only loss, length-grouped
batches) against a plain transformers `Trainer` + peft script, on the same tiny model, data and hyperparameters,
in the same run; and the effect of packing.

    .venv/bin/python bench/bench_local.py       # needs the local extra (`pip install -e '.[local]'`)

The model is built from a config (no download): 4 layers, hidden 256, a BPE tokenizer trained on the bundled
customer-support examples, which are the data (repeated AITELIER_BENCH_REPEAT times, default 4). Figures are
training tokens per second: tokens fed to the model that are not padding, divided by the wall time of
`trainer.train()` (model loading and data preparation excluded in all three). The three take turns for
AITELIER_BENCH_ROUNDS rounds (default 3) and each keeps its best round, so a busy machine skews them alike.
Target: ait >= 1.0x the plain script. Exits 1 if the target is missed.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HP = {
    "epochs": 1,
    "batch_size": 8,
    "learning_rate": 2e-4,
    "lora_r": 8,
    "lora_alpha": 16,
    "lora_dropout": 0.0,
    "max_length": 1024,
}


def conversations() -> list[list[dict[str, Any]]]:
    from importlib.resources import files

    text = (files("aitelier") / "examples" / "customer-support.jsonl").read_text(encoding="utf-8")
    return [json.loads(line)["messages"] for line in text.splitlines() if line.strip()]


class Tokens:
    """Counts the non-padding tokens of every batch the model sees (a forward pre-hook)."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, module: Any, args: Any, kwargs: dict[str, Any]) -> None:
        if not module.training:
            return
        mask = kwargs.get("attention_mask")
        ids = kwargs.get("input_ids")
        self.n += int(mask.sum()) if mask is not None else int(ids.numel())


def timed(trainer: Any) -> tuple[float, int]:
    counter = Tokens()
    trainer.model.register_forward_pre_hook(counter, with_kwargs=True)
    t = time.perf_counter()
    trainer.train()
    return time.perf_counter() - t, counter.n


def ait_trainer(model: Path, train: Path, out: Path, packing: bool) -> Any:
    from aitelier.local.worker import trainer_for

    return trainer_for(str(model), {**HP, "packing": packing}, train, None, out)


def plain_trainer(model: Path, train: Path, out: Path) -> Any:
    """What a user would write by hand: the chat template, labels = input ids, pad to the longest in batch."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments

    from aitelier.local import use_cpu_threads

    use_cpu_threads()
    tok = AutoTokenizer.from_pretrained(model)
    rows = []
    for line in train.read_text().splitlines():
        text = tok.apply_chat_template(json.loads(line)["messages"], tokenize=False)
        ids = tok(text, add_special_tokens=False, truncation=True, max_length=HP["max_length"])["input_ids"]
        rows.append({"input_ids": ids})

    def collate(batch: list[dict[str, Any]]) -> dict[str, Any]:
        width = max(len(b["input_ids"]) for b in batch)
        ids = torch.full((len(batch), width), tok.pad_token_id)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, b in enumerate(batch):
            ids[i, : len(b["input_ids"])] = torch.tensor(b["input_ids"])
            mask[i, : len(b["input_ids"])] = 1
        labels = ids.masked_fill(mask == 0, -100)
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}

    base = AutoModelForCausalLM.from_pretrained(model)
    lora = LoraConfig(
        r=HP["lora_r"],
        lora_alpha=HP["lora_alpha"],
        lora_dropout=HP["lora_dropout"],
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )
    args = TrainingArguments(
        output_dir=str(out),
        num_train_epochs=HP["epochs"],
        per_device_train_batch_size=HP["batch_size"],
        learning_rate=HP["learning_rate"],
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        disable_tqdm=True,
        remove_unused_columns=False,
        dataloader_pin_memory=False,
        seed=42,
    )
    return Trainer(
        model=get_peft_model(base, lora),
        args=args,
        train_dataset=Dataset.from_list(rows),
        data_collator=collate,
    )


def main() -> int:
    from aitelier.local import cpu_threads, missing, tiny

    if missing():
        print(f"needs the local extra: {', '.join(missing())} missing")
        return 2
    import transformers

    transformers.logging.set_verbosity_error()
    repeat = int(os.environ.get("AITELIER_BENCH_REPEAT", "4"))
    rounds = int(os.environ.get("AITELIER_BENCH_ROUNDS", "3"))
    work = Path(tempfile.mkdtemp(prefix="ait-bench-local-"))
    convs = conversations()
    model = tiny.build(work / "model", tiny.texts_of(convs), vocab_size=2000, hidden=256, layers=4, heads=8)
    train = work / "train.jsonl"
    train.write_text("".join(json.dumps({"messages": c}) + "\n" for c in convs * repeat))
    print(f"tiny model: 4 layers, hidden 256; {len(convs) * repeat} examples; {cpu_threads()} CPU thread(s)")
    print(f"settings: {HP}")
    makers = {
        "plain Trainer + peft": lambda: plain_trainer(model, train, work / "plain"),
        "ait train (local)": lambda: ait_trainer(model, train, work / "ait", packing=False),
        "ait train, packing": lambda: ait_trainer(model, train, work / "packed", packing=True),
    }
    results: dict[str, float] = {}
    for r in range(rounds):
        for name, make in makers.items():
            seconds, tokens = timed(make())
            results[name] = max(results.get(name, 0.0), tokens / seconds)
            print(
                f"  round {r + 1} {name:<22} {tokens:>8,} tokens in {seconds:6.1f} s = {tokens / seconds:8,.0f} tokens/s"
            )
    print("best of each:")
    for name, rate in results.items():
        print(f"  {name:<22} {rate:8,.0f} tokens/s")
    ratio = results["ait train (local)"] / results["plain Trainer + peft"]
    packed = results["ait train, packing"] / results["ait train (local)"]
    ok = ratio >= 1.0
    print(f"ait / plain: {ratio:.2f}x (target >= 1.0x) {'PASS' if ok else 'FAIL'}")
    print(f"packing / no packing (ait): {packed:.2f}x")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
