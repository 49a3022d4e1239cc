"""Local training throughput: `ait train`'s trainer (TRL SFTTrainer + peft, assistant-only loss, length-grouped
batches) against a plain transformers `Trainer` + peft script, on the same tiny model, data and hyperparameters,
in the same run; and the effect of packing.

    .venv/bin/python bench/bench_local.py       # needs the local extra (`pip install -e '.[local]'`)

The model is built from a config (no download): 4 layers, hidden 256, a BPE tokenizer trained on the bundled
customer-support examples, which are the data (repeated AITELIER_BENCH_REPEAT times, default 4). Both sides get
the same token sequences (the chat template's rendering), batch size, epochs, max length, LoRA settings, float32,
torch threads (`AITELIER_THREADS`), optimizer and schedule, no dataloader workers, logging every step.

Figures are training tokens per second: tokens fed to the model that are not padding, divided by the wall time
of `trainer.train()` (model loading and data preparation excluded in all three); the CPU time of the process is
shown beside it, since on a shared machine it moves less than the wall time. After an untimed warm-up of each,
the plain script and ait take turns, in alternating order, for AITELIER_BENCH_ROUNDS rounds (default 5); each
round gives a paired ratio and the figures are the medians. Packing runs in the first
AITELIER_BENCH_PACKING_ROUNDS rounds (default 1; it is slow on a CPU) and is compared with ait in the same round.
The load average is printed with every round. Target: ait >= 1.0x the plain script (the median of the paired
wall-time ratios). Exits 1 if the target is missed.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
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
    """Counts the non-padding tokens (n) and all positions (fed) of every training batch (a forward pre-hook).
    A packed, padding-free batch has no attention mask and no padding."""

    def __init__(self) -> None:
        self.n = 0
        self.fed = 0

    def __call__(self, module: Any, args: Any, kwargs: dict[str, Any]) -> None:
        if not module.training:
            return
        mask = kwargs.get("attention_mask")
        ids = kwargs.get("input_ids")
        self.n += int(mask.sum()) if mask is not None else int(ids.numel())
        self.fed += int(ids.numel())


@dataclass
class Run:
    wall: float
    cpu: float
    tokens: int
    fed: int

    @property
    def rate(self) -> float:
        return self.tokens / self.wall

    @property
    def cpu_rate(self) -> float:
        return self.tokens / self.cpu


def timed(trainer: Any) -> Run:
    counter = Tokens()
    trainer.model.register_forward_pre_hook(counter, with_kwargs=True)
    with contextlib.redirect_stdout(io.StringIO()):  # the trainers print every step's log
        wall, cpu = time.perf_counter(), time.process_time()
        trainer.train()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return Run(wall, cpu, counter.n, counter.fed)


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


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> int:
    from aitelier.local import cpu_threads, missing, tiny

    if missing():
        print(f"needs the local extra: {', '.join(missing())} missing")
        return 2
    import datasets
    import transformers

    transformers.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    repeat = int(os.environ.get("AITELIER_BENCH_REPEAT", "4"))
    rounds = int(os.environ.get("AITELIER_BENCH_ROUNDS", "5"))
    packing_rounds = int(os.environ.get("AITELIER_BENCH_PACKING_ROUNDS", "1"))
    work = Path(tempfile.mkdtemp(prefix="ait-bench-local-"))
    convs = conversations()
    model = tiny.build(work / "model", tiny.texts_of(convs), vocab_size=2000, hidden=256, layers=4, heads=8)
    train = work / "train.jsonl"
    train.write_text("".join(json.dumps({"messages": c}) + "\n" for c in convs * repeat))
    warm = work / "warm.jsonl"
    warm.write_text("".join(json.dumps({"messages": c}) + "\n" for c in convs[:16]))
    print(f"tiny model: 4 layers, hidden 256; {len(convs) * repeat} examples; {cpu_threads()} CPU thread(s)")
    print(f"settings: {HP}")
    makers = {
        "plain": lambda data: plain_trainer(model, data, work / "plain"),
        "ait": lambda data: ait_trainer(model, data, work / "ait", packing=False),
        "packing": lambda data: ait_trainer(model, data, work / "packed", packing=True),
    }
    names = {"plain": "plain Trainer + peft", "ait": "ait train (local)", "packing": "ait train, packing"}
    for name in ("plain", "ait"):  # first-call costs in torch and the trainers, paid by neither side below
        timed(makers[name](warm))
    runs: dict[str, list[Run]] = {name: [] for name in makers}
    ratios: list[float] = []
    cpu_ratios: list[float] = []
    packed: list[float] = []
    for r in range(rounds):
        order = ["plain", "ait"] if r % 2 == 0 else ["ait", "plain"]
        if r < packing_rounds:
            order.append("packing")
        print(f"round {r + 1} ({load()})")
        this: dict[str, Run] = {}
        for name in order:
            run = this[name] = timed(makers[name](train))
            runs[name].append(run)
            print(
                f"  {names[name]:<22} {run.tokens:>8,} tokens ({run.fed - run.tokens:,} padding) in {run.wall:6.1f} s"
                f" = {run.rate:7,.0f} tokens/s (CPU time {run.cpu:6.1f} s = {run.cpu_rate:7,.0f} tokens/s)"
            )
        ratios.append(this["ait"].rate / this["plain"].rate)
        cpu_ratios.append(this["ait"].cpu_rate / this["plain"].cpu_rate)
        if "packing" in this:
            packed.append(this["packing"].rate / this["ait"].rate)
        print(f"  ait / plain: {ratios[-1]:.2f}x (CPU time {cpu_ratios[-1]:.2f}x)")
    print(f"medians ({load()}):")
    for name, done in runs.items():
        if done:
            rate = statistics.median(x.rate for x in done)
            cpu = statistics.median(x.cpu_rate for x in done)
            print(
                f"  {names[name]:<22} {rate:8,.0f} tokens/s (CPU time {cpu:7,.0f} tokens/s), {len(done)} run(s)"
            )
    ratio = statistics.median(ratios)
    ok = ratio >= 1.0
    print(
        f"ait / plain: {ratio:.2f}x, median of {len(ratios)} paired rounds (target >= 1.0x) {'PASS' if ok else 'FAIL'}"
    )
    print(f"ait / plain by CPU time: {statistics.median(cpu_ratios):.2f}x")
    if packed:
        print(f"packing / no packing (ait): {statistics.median(packed):.2f}x, {len(packed)} paired round(s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
