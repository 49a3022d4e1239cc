"""`ait format --method dpo`: the project's preference pairs (:mod:`aitelier.pairs`) as
``data/train.dpo.jsonl`` and ``data/val.dpo.jsonl``, every rule checked before anything is written.

One line per pair, in the shape Together, OpenAI and TRL's ``DPOTrainer`` all take::

    {"input": {"messages": [...]}, "preferred_output": [{"role": "assistant", ...}],
     "non_preferred_output": [{"role": "assistant", ...}]}

The rules are the registry's (:mod:`aitelier.formats.rules`, severities per provider): the conversation rules on
the input and each output, ``dpo-input``, ``dpo-output``, ``dpo-outputs-differ``, the token limit with the
input and both outputs counted (``context-length``), duplicates and train/val leakage, and warnings for pairs
left out (``pair-left-out``) and rewrites that cannot be paired (``unpairable``). A problem names the pair's
example id (the preferred one, and the rejected one for a pair from ratings). Written with :func:`write`, like
the SFT files (atomic, nothing written when any rule is broken, a record for `ait train`'s staleness check).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import freshness
from .. import tokens as tok
from ..pairs import CROSSING, EXCLUDED, UNSPLIT, build_pairs
from ..providers import registry
from .build import (
    ENCODE,
    Build,
    SplitFile,
    check_context,
    check_split_files,
    count_tokens,
    prompt_key,
    target,
)
from .checks import check_preference
from .rules import Problems

if TYPE_CHECKING:
    from ..project import Project


def build(
    project: Project,
    provider: str | None = None,
    *,
    max_tokens: int | None = None,
    min_gap: int | None = None,
    epochs: int | None = None,
    price_per_1m: float | None = None,
) -> Build:
    """Pair, format and validate; writes nothing (see :func:`aitelier.formats.write`)."""
    provider = provider or project.provider
    registry.get(provider).check_method("dpo")
    t = target(project, provider, max_tokens, epochs)  # before reading, as for SFT
    spec, limit = t.spec, t.limit
    found = build_pairs(project, min_gap=min_gap)
    train_path, val_path = freshness.files(project, "dpo")
    files = {"train": SplitFile("train", train_path), "val": SplitFile("val", val_path)}
    problems = Problems(provider)
    left: dict[str, list[int]] = {}
    for pair in found.pairs:
        f = files.get(pair.place)
        if f is None:
            left.setdefault(pair.place, []).append(pair.preferred_id)
            continue
        line = pair.line()
        extra = "" if pair.rejected_id == pair.preferred_id else f" (rejected: example {pair.rejected_id})"
        for rule, message in check_preference(line, spec):
            problems.add(rule, message + extra, example_id=pair.preferred_id, split=pair.place)
        f.ids.append(pair.preferred_id)
        f.encoded.append(ENCODE(line) + b"\n")
        f.prompts.append(prompt_key([*pair.input, {"role": "assistant", "content": ""}]))
    for place, why in (
        (UNSPLIT, "have no split yet (`ait split`)"),
        (EXCLUDED, f"are unrated or rated below {project.threshold}"),
        (CROSSING, "are from ratings of two examples in different splits"),
    ):
        ids = left.get(place)
        if ids:
            problems.add("pair-left-out", f"{len(ids)} pair(s) {why} and are left out: examples {_ids(ids)}")
    if found.unpairable:
        ids = [u.id for u in found.unpairable]
        problems.add(
            "unpairable",
            f"{len(ids)} rewritten multi-turn example(s) do not record which turn was rewritten and cannot be "
            f"paired: examples {_ids(ids)} (`ait pairs` lists them)",
        )
    train, val = files["train"], files["val"]
    if train.count and not val.count:
        problems.add("no-val", "no validation pairs; rewrite replies of validation examples too", split="val")
    cache = tok.TokenCache(project.data_dir, t.choice.name)
    count_tokens([train, val], t.choice, cache)
    check_split_files(problems, train, val, spec)
    check_context(problems, train, limit)
    check_context(problems, val, limit)
    return Build(
        provider=provider,
        model=t.model,
        weight="all",
        threshold=project.threshold,
        train=train,
        val=val,
        problems=problems.items,
        encoding=t.choice,
        max_tokens=limit,
        excluded=len(left.get(EXCLUDED, [])),
        unsplit=left.get(UNSPLIT, []),
        estimate=t.estimate(train, price_per_1m),
        source=t.inputs,
        method="dpo",
        pairs=found,
    )


def _ids(ids: list[int], shown: int = 20) -> str:
    text = ", ".join(str(i) for i in ids[:shown])
    return text + (f" and {len(ids) - shown} more" if len(ids) > shown else "")


__all__ = ["build"]
