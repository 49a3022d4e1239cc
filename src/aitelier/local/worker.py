"""The training process of a local job: ``python -m aitelier.local.worker RUN_DIR`` (started by
:func:`aitelier.local.jobs.start`, detached). LoRA through TRL's ``SFTTrainer`` (``method`` sft) or
``DPOTrainer`` (``method`` dpo, on the preference pairs of ``ait format --method dpo``) and peft; progress, losses
and the result or error go to ``RUN_DIR/events.jsonl``. A job continuing an earlier run (``fromAdapter``) starts
from the base model with that run's adapter merged in, and trains a new adapter on top (for DPO the merged
model is also the reference).

Also usable under ``accelerate launch -m aitelier.local.worker RUN_DIR`` for several GPUs (only the main
process writes events).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from . import jobs
from .data import read_conversations, read_preferences, tokenize


def rows(tokenizer: Any, path: Path) -> list[dict[str, list[int]]]:
    out = []
    for messages in read_conversations(path):
        row = tokenize(tokenizer, messages)
        if any(row["assistant_masks"]):  # nothing to learn from a conversation with every turn at weight 0
            out.append(row)
    return out


def load_model(model: str, adapter: str | None = None) -> tuple[Any, Any]:
    """The tokenizer and the model (with ``adapter``, an earlier run's LoRA adapter, merged in)."""
    from huggingface_hub import constants
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from . import compute_dtype, use_cpu_threads

    # Local training sends nothing: TRL pings huggingface.co with usage facts from every trainer it creates
    # (trainer class, model architecture, peft, device) unless the Hub's telemetry is off.
    constants.HF_HUB_DISABLE_TELEMETRY = True

    use_cpu_threads()
    tokenizer = AutoTokenizer.from_pretrained(model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    loaded = AutoModelForCausalLM.from_pretrained(model, dtype=compute_dtype())
    if adapter:
        from peft import PeftModel

        loaded = PeftModel.from_pretrained(loaded, adapter).merge_and_unload()
    return tokenizer, loaded


def _lora(hp: dict[str, Any]) -> Any:
    from peft import LoraConfig

    return LoraConfig(
        r=hp["lora_r"],
        lora_alpha=hp["lora_alpha"],
        lora_dropout=hp["lora_dropout"],
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )


def _common(hp: dict[str, Any], output: Path, has_val: bool) -> dict[str, Any]:
    """The TrainingArguments both trainers share."""
    import torch

    from . import compute_dtype

    return {
        "output_dir": str(output),
        "num_train_epochs": hp["epochs"],
        "per_device_train_batch_size": hp["batch_size"],
        "per_device_eval_batch_size": hp["batch_size"],
        "learning_rate": hp["learning_rate"],
        "max_length": hp["max_length"],
        "eval_strategy": "epoch" if has_val else "no",
        "save_strategy": "no",
        "logging_steps": 1,
        "report_to": [],
        "seed": int(hp.get("seed", 42)),
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
        "dataloader_pin_memory": torch.cuda.is_available(),
        "lr_scheduler_type": "linear",
        "bf16": compute_dtype() == torch.bfloat16,
        "fp16": False,
        "warmup_ratio": 0.0,
        # TRL turns it on by default: it saves accelerator memory by running every forward twice. On the CPU,
        # where memory is rarely what runs out, it cost a fifth of the training time (bench/bench_local.py).
        "gradient_checkpointing": torch.cuda.is_available() or torch.backends.mps.is_available(),
    }


def trainer_for(
    model_name: str,
    hp: dict[str, Any],
    train_file: Path,
    val_file: Path | None,
    output: Path,
    callbacks: list[Any] = (),  # type: ignore[assignment]
    *,
    from_adapter: str | None = None,
    method: str = "sft",
) -> Any:
    """The trainer for LoRA on ``model_name`` with the run's hyperparameters (the library's entry point; bench/
    builds the same trainer): an ``SFTTrainer``, or for ``method`` dpo a ``DPOTrainer`` on preference pairs. The
    DPO reference model is the model without the new adapter (TRL disables the adapter for it); ``rpo_alpha``
    adds the NLL loss on the preferred output (TRL's loss ``sft`` beside ``sigmoid``)."""
    from datasets import Dataset

    tokenizer, model = load_model(model_name, from_adapter)
    has_val = val_file is not None
    if method == "dpo":
        from trl import DPOConfig, DPOTrainer

        read: Callable[[Path], list[Any]] = read_preferences
        alpha = hp.get("rpo_alpha")
        losses: dict[str, Any] = {"loss_type": ["sigmoid"]}
        if alpha:
            losses = {"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0, float(alpha)]}
        trainer_class: Any = DPOTrainer
        config: Any = DPOConfig(**_common(hp, output, has_val), beta=hp["dpo_beta"], **losses)
    else:
        from trl import SFTConfig, SFTTrainer

        read = partial(rows, tokenizer)
        packing = bool(hp.get("packing", False))
        trainer_class = SFTTrainer
        config = SFTConfig(
            **_common(hp, output, has_val),
            packing=packing,
            group_by_length=not packing,  # similar lengths in a batch: padding does not eat the compute
        )
    trainer = trainer_class(
        model=model,
        args=config,
        train_dataset=Dataset.from_list(read(train_file)),
        eval_dataset=Dataset.from_list(read(val_file)) if val_file is not None else None,
        processing_class=tokenizer,
        peft_config=_lora(hp),
        callbacks=list(callbacks),
    )
    if method != "dpo":
        score_trained_tokens_only()
    return trainer


def score_trained_tokens_only() -> None:
    """Let TRL's LM head score only the tokens the loss counts on the CPU and MPS too, as it does on CUDA.

    SFTTrainer computes the loss through a fused LM head (``trl.trainer.utils.add_fused_lm_head``) that projects
    only the positions with a label on devices with Triton, and every position elsewhere (so that AWS Neuron
    compiles one shape). On the CPU that runs the vocabulary projection, its softmax and its backward for every
    system, user and padding token too, which carry no loss: three quarters of the tokens of the bundled
    examples and a fifth of the training time (bench/bench_local.py). The loss, the gradients and the logged
    metrics are the same either way. TRL reads the choice from its module's ``_use_triton`` at each call.
    """
    import trl.trainer.utils as fused

    triton = getattr(fused, "_use_triton", None)
    if triton is None or getattr(triton, "aitelier", False):
        return

    def compact(device: Any) -> bool:
        return device.type in ("cpu", "mps") or bool(triton(device))

    compact.aitelier = True  # type: ignore[attr-defined]
    fused._use_triton = compact


def progress_callback(d: Path, epochs: int) -> Any:
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if not state.is_world_process_zero or not logs:
                return
            if "loss" in logs:
                jobs.append_event(
                    d,
                    step=state.global_step,
                    totalSteps=state.max_steps,
                    epoch=state.epoch,
                    epochs=epochs,
                    loss=float(logs["loss"]),
                )
            if "eval_loss" in logs:
                jobs.append_event(
                    d, step=state.global_step, totalSteps=state.max_steps, valLoss=float(logs["eval_loss"])
                )

    return Progress()


def main(d: Path) -> int:
    request = json.loads((d / "request.json").read_text(encoding="utf-8"))
    rank0 = int(os.environ.get("RANK", "0")) == 0

    def stop(signum: int, frame: Any) -> None:
        if rank0:
            jobs.append_event(d, status="cancelled", message="cancelled")
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    hp = request["hyperparameters"]
    try:
        if rank0:
            jobs.append_event(d, status="running", message=f"loading {request['model']}")
        val = Path(request["validationFile"]) if request.get("validationFile") else None
        trainer = trainer_for(
            request["model"],
            hp,
            Path(request["trainingFile"]),
            val,
            d / "checkpoints",
            [progress_callback(d, hp["epochs"])],
            from_adapter=request.get("fromAdapter"),
            method=request.get("method", "sft"),
        )
        if rank0:
            jobs.append_event(
                d,
                message=f"training on {trainer.args.device} ({len(trainer.train_dataset)} "
                + ("preference pairs, DPO)" if request.get("method") == "dpo" else "examples)"),
            )
        if val is not None:
            trainer.evaluate()  # the validation loss before training (step 0), logged by the callback
        trainer.train()
        adapter = d / "adapter"
        if trainer.is_world_process_zero():
            trainer.model.save_pretrained(adapter)
            trainer.processing_class.save_pretrained(adapter)
            jobs.append_event(d, status="succeeded", adapter=str(adapter), message="adapter saved")
        return 0
    except BaseException as e:  # noqa: BLE001 - every failure must end as a reason in the run
        traceback.print_exc()
        text = f"{type(e).__name__}: {e}".strip()
        if "out of memory" in text.lower():
            text += " (try a smaller --batch-size or --max-length)"
        if rank0:
            jobs.append_event(d, status="failed", error=text[:1000])
        return 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
