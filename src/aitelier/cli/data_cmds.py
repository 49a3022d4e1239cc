"""`ait split`, `ait format` and `ait validate`: parse flags, call the library, render.

Heavy modules (the tokenizer, rich) are imported inside the commands, so `ait --help` stays fast.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from ..errors import AitelierError, Declined, UsageError, ValidationFailed
from .common import echo_json, get_env, one_line, open_project
from .env import NoTerminal
from .options import PROVIDER

if TYPE_CHECKING:
    from ..formats import Problem
    from ..project import Project
    from ..tokens import EncodingChoice, TokenStats
    from .env import Env


# -- rendering helpers -------------------------------------------------------------------------------------------
def _render_problems(env: Env, problems: list[Problem]) -> None:
    """Every problem on stderr (errors first), then a count per rule so a long list stays readable."""
    if not problems:
        return
    for p in sorted(problems, key=lambda p: not p.is_error):  # stable: each kind keeps its order
        env.err(f"{p.severity}: {p}")
    if len(problems) > 10:
        by_rule = Counter((p.severity, p.rule) for p in problems)
        parts = ", ".join(f"{n} {rule} ({sev})" for (sev, rule), n in sorted(by_rule.items()))
        env.err(f"in all: {parts}")


def _fmt_num(x: float) -> str:
    return f"{x:,.1f}" if isinstance(x, float) and not x.is_integer() else f"{int(x):,}"


def token_table(note: str, stats: dict[str, dict[str, Any]], max_tokens: int | None) -> list[str]:
    """The per-example token table, from TokenStats.as_dict() values keyed by split."""
    lines = [
        f"Tokens per example ({note}):",
        f"  {'':6} {'examples':>9} {'total':>12} {'min':>7} {'median':>8} {'p90':>7} {'max':>7} {'trained':>12}",
    ]
    for name, s in stats.items():
        lines.append(
            f"  {name:6} {s['examples']:>9,} {s['total']:>12,} {s['min']:>7,} {_fmt_num(s['median']):>8} "
            f"{s['p90']:>7,} {s['max']:>7,} {s['trainedAssistant']:>12,}"
        )
    lines.append(
        "  (trained = assistant tokens the model learns from; total includes the chat-format overhead)"
    )
    if max_tokens:
        lines.append(f"  limit per example: {max_tokens:,} tokens")
    return lines


def estimate_lines(est: dict[str, Any]) -> list[str]:
    """The training-tokens and cost lines, from TrainingEstimate.as_dict()."""
    lines = [
        f"Training: {est['epochs']} epoch(s) ({est['epochsSource']}) x {est['tokensPerEpoch']:,} tokens "
        f"= {est['trainingTokens']:,} training tokens"
    ]
    if est["usd"] is not None and est["pricePer1M"] is not None:
        lines.append(
            f"Estimated cost: ${est['usd']:,.2f} for {est['model']} at ${est['pricePer1M']:,.2f} per 1M "
            f"training tokens ({est['priceSource']})"
        )
    lines += [f"  {note}" for note in est["notes"]]
    return lines


def _render_tokens(
    env: Env, choice: EncodingChoice, stats: dict[str, TokenStats], max_tokens: int | None
) -> None:
    for line in token_table(choice.note, {k: v.as_dict() for k, v in stats.items()}, max_tokens):
        env.out(line)


# -- ait split ---------------------------------------------------------------------------------------------------
_ASKS_RESHUFFLE = NoTerminal(
    "ait split --reshuffle asks before moving examples between train and val", "--yes", "reshuffle"
)


@click.command("split")
@click.option(
    "--ratio", type=float, default=None, help="Train fraction, 0-1 (default 0.8, or the recorded one)."
)
@click.option("--seed", type=int, default=None, help="Seed for the assignment (default: recorded, else 42).")
@click.option("--reshuffle", is_flag=True, help="Clear every split and assign again (asks first: val moves).")
@click.option("-y", "--yes", is_flag=True, help="Do not ask before --reshuffle.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def split(ratio: float | None, seed: int | None, reshuffle: bool, yes: bool, as_json: bool) -> None:
    """Assign train/val splits to examples rated at or above the threshold.

    Stratified by rating, seeded and reproducible. An example already in val stays in val and one in train
    stays in train; a later run only assigns new examples, keeping the overall ratio as close as it can.
    """
    from .. import split as splitting

    env = get_env()
    project = open_project()
    if ratio is not None:
        splitting.check_ratio(ratio)
    old_ratio = splitting.project_settings(project, None, None)[0]
    if reshuffle:
        plan = splitting.preview(project, ratio=ratio, seed=seed, reshuffle=True)
        first = splitting.preview(project, ratio=ratio, seed=seed)
        if not plan.clear and len(first.assign) == len(plan.assign):  # every eligible example is new
            env.err("Nothing to reshuffle: no example has a split yet, so this is a first split.")
            reshuffle = yes = False
    if reshuffle and not yes:
        env.require_terminal(_ASKS_RESHUFFLE)
        question = (
            f"Reshuffle moves {plan.val_to_train} validation example(s) to train and {plan.train_to_val} "
            "training example(s) to val; evals on the old val set stop being comparable. Continue?"
        )
        if not env.confirm(question, _ASKS_RESHUFFLE):
            raise Declined("Reshuffle cancelled; nothing changed.")
    result = splitting.split_project(project, ratio=ratio, seed=seed, reshuffle=reshuffle)
    s = result.summary
    plan = result.plan
    assigned_val = sum(1 for v in plan.assign.values() if v == "val")
    assigned_train = len(plan.assign) - assigned_val
    if as_json:
        echo_json(
            env,
            {
                "seed": result.seed,
                "ratio": result.ratio,
                "reshuffle": reshuffle,
                "rewritten": result.rewritten,
                "assigned": {"train": assigned_train, "val": assigned_val},
                "moved": {"valToTrain": plan.val_to_train, "trainToVal": plan.train_to_val},
                "cleared": len(plan.clear),
                **s.as_dict(),
            },
        )
        return
    head = f"Split (threshold {s.threshold}, train ratio {result.ratio:g}, seed {result.seed}): "
    if plan.assign:
        head += (
            f"assigned {len(plan.assign):,} example(s): {assigned_train:,} to train, {assigned_val:,} to val."
        )
    else:
        head += "nothing new to assign."
    env.out(head)
    if reshuffle:
        env.out(
            f"Reshuffled: {plan.val_to_train:,} moved val -> train, {plan.train_to_val:,} train -> val"
            + (f", {len(plan.clear):,} excluded example(s) lost their split." if plan.clear else ".")
        )
    achieved = "-" if s.achieved_ratio is None else f"{s.achieved_ratio:.3f}"
    env.out(f"  train {s.train:>8,}\n  val   {s.val:>8,}\n  achieved train ratio {achieved}")
    if s.by_rating:
        env.out(f"  {'rating':>6} {'train':>8} {'val':>8} {'val %':>6}")
        for r, row in sorted(s.by_rating.items(), reverse=True):
            n = row["train"] + row["val"]
            pct = f"{100 * row['val'] / n:.0f}%" if n else "-"
            env.out(f"  {r:>6} {row['train']:>8,} {row['val']:>8,} {pct:>6}")
    if s.excluded:
        env.out(
            f"Excluded (rated below {s.threshold} now; they keep their split but are left out of exports): "
            f"{s.excluded_train:,} train, {s.excluded_val:,} val"
        )
    if s.train + s.val == 0:
        env.out(f"No example is rated {s.threshold} or higher yet: rate some with `ait rate`.")
    kept = s.train + s.val - len(plan.assign)
    if ratio is not None and ratio != old_ratio and not reshuffle and kept > 0:
        env.out(
            f"Note: the train ratio {ratio:g} (was {old_ratio:g}) applies to examples assigned from now on; "
            f"the {kept:,} example(s) that already had a split keep it. `ait split --reshuffle --ratio {ratio:g}` "
            "assigns them all again (examples may move between train and val)."
        )


# -- ait format --------------------------------------------------------------------------------------------------
def _shared_options(fn: Any) -> Any:
    for opt in reversed(
        [
            click.option("--provider", type=PROVIDER, default=None, help="Format for this provider."),
            click.option(
                "--weight",
                type=click.Choice(["all", "last"]),
                default="all",
                show_default=True,
                help="Multi-turn: train every assistant turn, or only the last (weight 0 on the others).",
            ),
            click.option(
                "--max-tokens",
                type=click.IntRange(min=1),
                default=None,
                help="Per-example token limit (default: `maxTokens` in the config; OpenAI 16,385; else none).",
            ),
            click.option("--json", "as_json", is_flag=True, help="Print the result as JSON."),
            click.option(
                "--method",
                type=click.Choice(["sft", "dpo"]),
                default="sft",
                show_default=True,
                help="sft: conversations (data/train.jsonl); dpo: preference pairs (data/train.dpo.jsonl).",
            ),
        ]
    ):
        fn = opt(fn)
    return fn


def _ratings_options(prefix: str = "") -> Callable[[Any], Any]:
    """`--from-ratings` and `--min-gap`, for `ait pairs` and (their help after ``prefix``) `ait format`."""

    def text(help: str) -> str:
        return prefix + help if prefix else help[0].upper() + help[1:]

    def decorate(fn: Any) -> Any:
        fn = click.option(
            "--min-gap",
            type=click.IntRange(min=1),
            default=None,
            help=text("how far apart two ratings must be (default 3); implies --from-ratings."),
        )(fn)
        return click.option(
            "--from-ratings",
            is_flag=True,
            help=text("also pair examples with the same input whose ratings differ by --min-gap or more."),
        )(fn)

    return decorate


@click.command("format")
@_shared_options
@_ratings_options("--method dpo: ")
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=None,
    help="Planned epochs for the estimate (default: `epochs` in the config, else 3 like `ait train`).",
)
@click.option(
    "--price-per-1m", type=float, default=None, help="Training price in $ per 1M tokens (estimate)."
)
def format_(
    provider: str | None,
    weight: str,
    max_tokens: int | None,
    as_json: bool,
    method: str,
    from_ratings: bool,
    min_gap: int | None,
    epochs: int | None,
    price_per_1m: float | None,
) -> None:
    """Validate, then write data/train.jsonl and data/val.jsonl for the provider.

    Uses the examples rated at or above the threshold, by their split, in id order. Every problem is
    reported with its example id; if any is an error, nothing is written (exit status 3). With `--method dpo`
    it writes the preference pairs (see `ait pairs`) to data/train.dpo.jsonl and data/val.dpo.jsonl instead.
    """
    env = get_env()
    project = open_project()
    result = _build(
        project,
        provider,
        method=method,
        weight=weight,
        max_tokens=max_tokens,
        min_gap=min_gap_of(from_ratings, min_gap),
        epochs=epochs,
        price_per_1m=price_per_1m,
    )
    env.keep(result)
    _nothing_to_format(result)
    _render_problems(env, result.problems)
    written: list[str] = []
    removed: list[str] = []
    if result.ok:
        from .. import formats

        w = formats.write(project, result)
        written = [project.relative(p) for p in w.written]
        removed = [project.relative(p) for p in w.removed]
    if as_json:
        echo_json(env, {**result.as_dict(), "written": written, "removed": removed})
    else:
        _render_build(env, result, written, removed)
    if not result.ok:
        raise ValidationFailed(
            f"{len(result.errors)} problem(s) break the provider's rules; nothing was written",
            hint="each one is listed above with its example id and rule name",
        )


def _build(project: Project, provider: str | None, *, method: str, weight: str, **kw: Any) -> Any:
    """`formats.build` (sft) or `formats.dpo.build`, refusing flags that belong to the other method."""
    from .. import formats

    if method == "sft":
        if kw.pop("min_gap") is not None:
            raise UsageError("--from-ratings and --min-gap go with --method dpo")
        return formats.build(project, provider, weight=weight, **kw)
    if weight != "all":
        raise UsageError("--weight applies to --method sft (a preference pair has one output of each kind)")
    from ..formats import dpo

    return dpo.build(project, provider, **kw)


def _nothing_to_format(result: Any) -> None:
    """Neither file would get an example: say what to run instead of listing a table of zeros."""
    if result.train.count or result.val.count:
        return
    t = result.threshold
    if result.method == "dpo":
        left = len(result.pairs.pairs)
        raise ValidationFailed(
            "no preference pair goes into train or val; nothing was written"
            + (f" ({left:,} pair(s) left out: see `ait pairs`)" if left else ""),
            hint="rewrite replies while rating (`ait rate`, key r), rate them, then `ait split`"
            if not left
            else "`ait pairs` says why each one is left out",
        )
    if result.unsplit:
        raise ValidationFailed(
            f"no example has a split yet ({len(result.unsplit):,} rated {t}+ wait for one); nothing was written",
            hint="run `ait split` first",
        )
    raise ValidationFailed(
        f"no example with a split is rated {t} or higher; nothing was written",
        hint="rate examples with `ait rate` (or lower the threshold: `ait config set qualityThreshold N`)",
    )


def _render_build(env: Env, result: Any, written: list[str], removed: list[str]) -> None:
    what = "preference pairs (DPO)" if result.method == "dpo" else "format"
    env.out(
        f"{result.provider} {what}: {result.train.count:,} train, {result.val.count:,} val "
        f"(rated {result.threshold}+), {len(result.errors)} error(s), {len(result.warnings)} warning(s)"
    )
    if result.excluded:
        env.out(
            f"  {result.excluded:,} example(s) with a split are rated below {result.threshold} now: left out"
        )
    for p in written:
        env.out(f"  wrote {p}")
    for p in removed:
        env.out(f"  removed {p} (its split is empty)")
    if result.encoding is not None:
        _render_tokens(
            env,
            result.encoding,
            {"train": result.train.stats(), "val": result.val.stats()},
            result.max_tokens,
        )
    if result.estimate is not None:
        for line in estimate_lines(result.estimate.as_dict()):
            env.out(line)


# -- ait validate ------------------------------------------------------------------------------------------------
@click.command("validate")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option("--val", "val_file", type=click.Path(dir_okay=False), help="With FILE: its validation file.")
@click.option("--model", default=None, help="With FILE: the model (picks the tokenizer and context limit).")
@_shared_options
def validate(
    file: str | None,
    val_file: str | None,
    model: str | None,
    provider: str | None,
    weight: str,
    max_tokens: int | None,
    as_json: bool,
    method: str,
) -> None:
    """Run the checks of `ait format` without writing, on the project or on any JSONL FILE.

    `ait validate` checks what `ait format` would write. `ait validate FILE --provider together` checks a
    file made elsewhere (every problem by line); `--val VAL_FILE` adds the leakage check between the two.
    """
    from .. import formats

    env = get_env()
    if file is None:
        if val_file or model:
            raise UsageError("--val and --model go with a FILE argument")
        project = open_project()
        result = _build(project, provider, method=method, weight=weight, max_tokens=max_tokens, min_gap=None)
        _nothing_to_format(result)
        _render_problems(env, result.problems)
        if as_json:
            echo_json(env, result.as_dict())
        else:
            _render_build(env, result, [], [])
        if not result.ok:
            raise ValidationFailed(f"{len(result.errors)} problem(s) break the provider's rules")
        return
    here: Project | None
    try:
        here = open_project()
    except AitelierError:
        here = None
    if provider is None:
        if here is None:
            from ..providers import registry

            raise UsageError(
                f"pass --provider ({'|'.join(registry.names())}) to validate a file outside a project"
            )
        provider = here.provider
    if model is None and here is not None and provider == here.provider:
        model = here.model
    if weight != "all":
        raise UsageError("--weight applies to `ait format` output, not to an existing FILE")
    report = formats.validate_file(
        file,
        provider,
        val_path=val_file,
        model=model,
        max_tokens=max_tokens,
        cache_dir=here.data_dir if here is not None else None,  # token counts of lines `ait format` wrote
        method=method,
    )
    _render_problems(env, report.problems)
    if as_json:
        echo_json(env, report.as_dict())
    else:
        sizes = ", ".join(
            f"{path}: {report.lines[name]:,} line(s), {n:,} example(s)"
            for path, (name, n) in zip(report.paths, report.counts.items(), strict=True)
        )
        env.out(
            f"{sizes}; checked for {provider}: {len(report.errors)} error(s), {len(report.warnings)} warning(s)"
        )
        if report.encoding is not None and report.stats:
            _render_tokens(env, report.encoding, report.stats, report.max_tokens)
    if not report.ok:
        raise ValidationFailed(f"{len(report.errors)} problem(s) break the {provider} rules")


# -- ait pairs ---------------------------------------------------------------------------------------------------
def min_gap_of(from_ratings: bool, min_gap: int | None) -> int | None:
    from ..pairs import DEFAULT_MIN_GAP

    if min_gap is not None:
        return min_gap
    return DEFAULT_MIN_GAP if from_ratings else None


@click.command("pairs")
@_ratings_options()
@click.option("--json", "as_json", is_flag=True, help="Print every pair (with its line) as JSON.")
def pairs(from_ratings: bool, min_gap: int | None, as_json: bool) -> None:
    """List the preference pairs (DPO) the examples make, with where each came from.

    A rewritten example (`ait rate`, key r) pairs its current reply (preferred) with the original one
    (rejected). Each pair goes into train or val by its example's split; pairs without a split, rated below
    the threshold, or (from ratings) across the split are listed but left out of `ait format --method dpo`.
    """
    from .. import pairs as pairing

    env = get_env()
    project = open_project()
    found = pairing.build_pairs(project, min_gap=min_gap_of(from_ratings, min_gap))
    if as_json:
        echo_json(env, found.as_dict())
        return
    c = found.counts()
    src, place = c["bySource"], c["byPlace"]
    sources = f"{src['rewrite']:,} from rewrites" + (
        f", {src['ratings']:,} from ratings (gap >= {found.min_gap})" if found.min_gap is not None else ""
    )
    env.out(f"Preference pairs: {c['total']:,} ({sources}); train {place['train']:,}, val {place['val']:,}")
    left = {k: v for k, v in place.items() if k not in ("train", "val") and v}
    if left:
        words = {
            "unsplit": "no split yet (`ait split`)",
            "excluded": f"rated below {project.threshold}",
            "crossing": "the two examples are in different splits",
        }
        env.out("  left out: " + "; ".join(f"{n:,} {words[k]}" for k, n in left.items()))
    if found.pairs:
        width = max(20, env.width(100) - 42)
        env.out(f"  {'ids':<12} {'source':<8} {'place':<9} {'':<7} input")
        for p in found.pairs:
            ids = "/".join(str(i) for i in p.ids)
            extra = f"turn {p.turn}" if p.turn is not None else f"gap {p.gap}"
            last = next((m["content"] for m in reversed(p.input) if m["role"] == "user"), "")
            env.out(f"  {ids:<12} {p.source:<8} {p.place:<9} {extra:<7} {one_line(str(last), width)}")
    if found.unpairable:
        env.out(f"Cannot be paired ({len(found.unpairable):,}):")
        for u in found.unpairable:
            env.out(f"  example {u.id}: {u.reason}")
    if not found.pairs and not found.unpairable:
        env.out("Rewrite replies while rating (`ait rate`, key r) to make pairs.")
