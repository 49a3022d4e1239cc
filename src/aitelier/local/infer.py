"""Generation with a local model: a base model, or a base model plus a LoRA adapter directory.

Calls from many threads (the eval runner's concurrency) are gathered into batches: the first call waits a few
milliseconds for others with the same settings, then one left-padded ``generate`` answers them all.
"""

from __future__ import annotations

import json
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import NotFound


@dataclass(frozen=True)
class Loaded:
    tokenizer: Any
    model: Any


def load(name: str, dtype: Any = None) -> Loaded:
    """``name``: a model id or directory, or an adapter directory (its base model comes from its config).

    ``dtype``: the base model's, by default the one training uses (:func:`aitelier.local.compute_dtype`: bfloat16
    on a CUDA GPU, so a model that trained on a card also answers on it); ``"auto"`` keeps the checkpoint's own.
    A LoRA adapter's weights stay in float32 (peft's default)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from . import compute_dtype, use_cpu_threads

    use_cpu_threads()
    dtype = compute_dtype() if dtype is None else dtype
    path = Path(name)
    adapter = path / "adapter_config.json"
    if adapter.exists():
        base = json.loads(adapter.read_text(encoding="utf-8"))["base_model_name_or_path"]
        from peft import PeftModel

        tokenizer = AutoTokenizer.from_pretrained(path)
        model: Any = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base, dtype=dtype), path)
    else:
        if name.startswith((".", "/")) and not path.exists():
            raise NotFound(f"no model at {name}")
        tokenizer = AutoTokenizer.from_pretrained(name)
        model = AutoModelForCausalLM.from_pretrained(name, dtype=dtype)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    model.eval()
    if torch.cuda.is_available():
        model.to("cuda")
    return Loaded(tokenizer, model)


def generate(
    loaded: Loaded,
    conversations: list[list[dict[str, Any]]],
    *,
    max_tokens: int,
    temperature: float,
    seed: int | None = None,
) -> list[str]:
    """The reply to each conversation, in one batch."""
    import torch

    tok, model = loaded.tokenizer, loaded.model
    prompts = [tok.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in conversations]
    enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
    if seed is not None:
        torch.manual_seed(seed)
    sampling: dict[str, Any] = {"do_sample": False}
    if temperature > 0:
        sampling = {"do_sample": True, "temperature": temperature}
    with torch.no_grad():
        out = model.generate(
            input_ids=enc["input_ids"],
            attention_mask=enc["attention_mask"],
            max_new_tokens=max_tokens,
            pad_token_id=tok.pad_token_id,
            **sampling,
        )
    width = enc["input_ids"].shape[1]
    results = []
    for i in range(len(conversations)):
        new = out[i, width:].tolist()
        stop = tok.eos_token_id
        if stop in new:
            new = new[: new.index(stop)]
        results.append(tok.decode(new, skip_special_tokens=True).strip())
    return results


class Batcher:
    """Gathers concurrent ``submit`` calls with the same key into one ``run(key, items)`` call."""

    def __init__(self, run: Any, *, max_batch: int = 16, window: float = 0.02) -> None:
        self.run = run
        self.max_batch = max_batch
        self.window = window
        self.queue: queue.Queue[tuple[Any, Any, Future[Any]]] = queue.Queue()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    def submit(self, key: Any, item: Any) -> Any:
        fut: Future[Any] = Future()
        self.queue.put((key, item, fut))
        with self.lock:
            if self.thread is None:
                self.thread = threading.Thread(target=self._loop, name="ait-local-batch", daemon=True)
                self.thread.start()
        return fut.result()

    def _loop(self) -> None:
        while True:
            first = self.queue.get()
            batch = [first]
            held: list[tuple[Any, Any, Future[Any]]] = []
            while len(batch) < self.max_batch:
                try:
                    nxt = self.queue.get(timeout=self.window)
                except queue.Empty:
                    break
                (batch if nxt[0] == first[0] else held).append(nxt)
            for h in held:
                self.queue.put(h)
            try:
                answers = self.run(first[0], [b[1] for b in batch])
                for b, a in zip(batch, answers, strict=True):
                    b[2].set_result(a)
            except BaseException as e:  # noqa: BLE001 - every waiting caller gets the error
                for b in batch:
                    b[2].set_exception(e)
