"""Project statistics and readiness advice, computed in one streaming pass over the examples.

``compute_stats(project)`` returns a plain dict (what ``ait stats --json`` prints); the CLI only renders it.
The pass keeps a few counters, never the examples, so a 100,000-example project costs well under 100 MB.

Adding a section (like the token counts, :class:`TokenSection`): write a collector whose ``result() -> dict``
is merged into the stats dict, pass it in ``collectors``, and give the CLI a renderer for the new keys.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from . import freshness, runs
from .project import Project
from .store.schema import Head

SMALL_DATASET = 50  # below this a fine-tune is usually too weak to be worth paying for


STATS_AUTO_MAX_BYTES = 25_000_000  # `ait stats` counts tokens by itself up to this examples.jsonl size


class Collector(Protocol):
    def result(self) -> dict[str, Any]: ...


class TokenSection:
    """The token counts of the examples that go into the training files, as `ait format` makes them (its build:
    the same numbers, from its token cache where it counted them before). Counted always with ``wanted`` True,
    never with False, and by default only while examples.jsonl is at most :data:`STATS_AUTO_MAX_BYTES`
    (counting 100,000 examples for the first time costs about a second, more than the rest of `ait stats`)."""

    def __init__(self, project: Project, wanted: bool | None = None) -> None:
        self.project, self.wanted = project, wanted

    def result(self) -> dict[str, Any]:
        path = self.project.examples_path
        size = path.stat().st_size if path.exists() else 0
        if self.wanted is False or (self.wanted is None and size > STATS_AUTO_MAX_BYTES):
            reason = "--no-tokens" if self.wanted is False else "size"
            return {"tokens": {"counted": False, "examplesBytes": size, "reason": reason}}
        from .formats import build

        # every line checked in full first, as counting every conversation would
        self.project.store.read(full=True)
        made = build(self.project)
        assert made.encoding is not None and made.estimate is not None  # a conversation build counts
        train, val = made.train.stats().as_dict(), made.val.stats().as_dict()
        estimate = made.estimate.as_dict()
        return {
            "tokens": {
                "counted": True,
                **made.encoding.as_dict(),
                "train": train,
                "val": val,
                "estimate": estimate,
            }
        }


class Counts:
    """Totals, the rating histogram and split counts."""

    def __init__(self, threshold: int) -> None:
        self.threshold = threshold
        self.total = 0
        self.distribution = [0] * 11  # index = rating; 0 unused
        self.split = {"train": 0, "val": 0}
        self.split_good = {"train": 0, "val": 0}  # with a split and at or above the threshold

    def add_heads(self, heads: list[Head]) -> None:
        self.total += len(heads)
        threshold, distribution, split_all, split_good = (
            self.threshold,
            self.distribution,
            self.split,
            self.split_good,
        )
        for h in heads:
            rating, split = h.rating, h.split
            if rating is not None:
                distribution[rating] += 1
            if split is not None:
                split_all[split] += 1
                if rating is not None and rating >= threshold:
                    split_good[split] += 1

    def result(self) -> dict[str, Any]:
        total = self.total
        rated = sum(self.distribution)
        above = sum(self.distribution[self.threshold :])
        split_total = self.split["train"] + self.split["val"]
        split_good = self.split_good["train"] + self.split_good["val"]
        return {
            "total": total,
            "rated": rated,
            "unrated": total - rated,
            "rated_pct": _pct(rated, total),
            "unrated_pct": _pct(total - rated, total),
            "threshold": self.threshold,
            "above_threshold": above,
            "below_threshold": rated - above,
            "distribution": {str(r): self.distribution[r] for r in range(1, 11)},
            "train": self.split["train"],
            "val": self.split["val"],
            "train_usable": self.split_good["train"],
            "val_usable": self.split_good["val"],
            "excluded": split_total - split_good,
            "unsplit_above_threshold": above - split_good,
        }


def _pct(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


def compute_stats(project: Project, collectors: Iterable[Collector] = ()) -> dict[str, Any]:
    """Stats of the project's examples (journal applied). Raises DataError (exit 3) on malformed data."""
    counts = Counts(project.threshold)
    snap = project.store.read()  # the light view: no conversation is decoded
    counts.add_heads(snap.heads)
    problems = snap.problems
    stats: dict[str, Any] = {
        "project": project.name,
        "provider": project.provider,
        "model": project.model,
        **counts.result(),
    }
    for c in collectors:
        stats.update(c.result())
    from .pairs import build_pairs

    found = build_pairs(project, snap=snap)  # rewrite pairs: only rewritten lines are decoded
    stats["pairs"] = {**found.counts(), "unpairableIds": [u.id for u in found.unpairable]}
    # not errors (no data is in doubt), but worth a line on stderr: `ait doctor --fix` repairs them
    stats["notices"] = [str(p) for p in problems]
    fresh = freshness.check(project)
    stats["formatted"] = fresh.state
    stats["stale_reasons"] = fresh.reasons
    stats["last_run"] = last_run(project)
    stats["advice"] = advice(stats)
    stats["next"] = next((a["command"] for a in stats["advice"] if a["level"] == "todo"), None)
    return stats


ACTIVE = ("pending", "queued", "running")


def last_run(project: Project) -> dict[str, Any] | None:
    """The latest fine-tuning run: id, status, fine-tuned model, and whether it trained on the train/val files
    there are now (same sizes; assumed when the record does not say, as the npm tool's records do not)."""
    if not runs.all_runs(project):
        return None
    run = runs.all_runs(project)[-1]
    files = run.get("files") if isinstance(run.get("files"), dict) else None
    same = True
    if files:
        for name, path in (("train", project.train_path), ("val", project.val_path)):
            size = path.stat().st_size if path.exists() else None
            rec = files.get(name)
            if (rec.get("bytes") if isinstance(rec, dict) else None) != size:
                same = False
    return {
        "id": run.get("id"),
        "status": run.get("status"),
        "model": runs.model_of(run),
        "method": run.get("method") or "sft",
        "sameFiles": same,
    }


def _item(level: str, message: str, command: str | None = None) -> dict[str, Any]:
    return {"level": level, "message": message, "command": command}


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def advice(stats: dict[str, Any]) -> list[dict[str, Any]]:
    """What to do next, in order. Levels: "todo" (a step with its command), "warning", "problem", "info"."""
    out: list[dict[str, Any]] = []
    total, unrated, above = stats["total"], stats["unrated"], stats["above_threshold"]
    threshold = stats["threshold"]
    if total == 0:
        out.append(_item("todo", "add examples (one at a time, or a JSONL/CSV file)", "ait add"))
        return out
    if unrated:
        out.append(_item("todo", f"rate {plural(unrated, 'unrated example')}", "ait rate"))
    if stats["rated"] and not above:
        out.append(
            _item(
                "problem",
                f"no example is rated {threshold} or higher, so there is nothing to train on: rewrite outputs "
                f"while rating, or lower qualityThreshold in .aitelier.json",
            )
        )
    split_done = stats["train"] + stats["val"] > 0
    usable = stats["train_usable"] if split_done else above
    info = _provider(stats["provider"])
    needed = info.spec.min_examples if info is not None else 1
    if info is not None and 0 < usable < needed:
        out.append(
            _item(
                "problem",
                f"{info.title} needs at least {needed} training examples; "
                f"{'the train split has' if split_done else 'you have'} {usable} rated {threshold} or higher",
            )
        )
    elif 0 < usable < SMALL_DATASET:
        out.append(
            _item(
                "warning",
                f"only {plural(usable, 'example')} rated {threshold} or higher to train on; "
                f"fine-tunes on fewer than {SMALL_DATASET} are usually weak",
            )
        )
    if stats["unsplit_above_threshold"]:
        n = stats["unsplit_above_threshold"]
        out.append(_item("todo", f"assign {plural(n, 'good example')} to train or val", "ait split"))
    if stats["excluded"]:
        out.append(
            _item(
                "info",
                f"{plural(stats['excluded'], 'example')} with a split {'is' if stats['excluded'] == 1 else 'are'} "
                f"unrated or below {threshold} and will be left out of the training files",
            )
        )
    if not out or all(a["level"] != "todo" for a in out):
        run = stats.get("last_run") or {}
        trained = run.get("sameFiles") and runs.finished(run)
        if split_done and stats["formatted"] != "current":
            reasons = "; ".join(stats.get("stale_reasons") or []) or "the examples changed"
            what = "write" if stats["formatted"] == "missing" else f"rewrite ({reasons})"
            out.append(_item("todo", f"{what} data/train.jsonl and data/val.jsonl", "ait format"))
        elif split_done and trained:
            model = run.get("model")
            # `ait eval` picks the latest succeeded run's model; name any other (the npm tool's "completed")
            command = "ait eval --compare"
            if run.get("status") != "succeeded" and model:
                command += f" --model {model}"
            out.append(
                _item(
                    "todo",
                    f"the fine-tune on these files finished (run {run['id']}): evaluate "
                    f"{model or 'the fine-tuned model'} on your validation examples (data/val.jsonl), blind "
                    "against the base model, before training again",
                    command,
                )
            )
        elif split_done and run.get("sameFiles") and run.get("status") in ACTIVE:
            out.append(
                _item(
                    "todo",
                    f"a fine-tune on these files is {run['status']} (run {run['id']})",
                    "ait status --watch",
                )
            )
        elif split_done:
            out.append(_item("todo", "the training files are up to date: start a fine-tune", "ait train"))
    run = stats.get("last_run") or {}
    pairs = (stats.get("pairs") or {}).get("byPlace") or {}
    if pairs.get("train") and runs.finished(run) and run.get("method", "sft") == "sft":
        out.append(
            _item(
                "info",
                f"{plural(pairs['train'], 'preference pair')} from your rewrites can tune run {run['id']} further "
                f"with DPO (then `ait train --method dpo --from {run['id']}`)",
                "ait format --method dpo",
            )
        )
    return out


def _provider(name: str) -> Any:
    """The project's registered provider; None when no provider by that name is installed."""
    from .errors import UsageError
    from .providers import registry

    try:
        return registry.get(name)
    except UsageError:
        return None
