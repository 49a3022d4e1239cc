"""`ait stats` and `ait doctor`: render what :mod:`aitelier.stats` and :mod:`aitelier.doctor` compute."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from ..errors import ProblemsFound, UsageError
from .common import echo_json, get_env, open_project
from .data_cmds import estimate_lines, token_table
from .env import Env

BAR_WIDTH = 30
LEVEL_LABELS = {"todo": "next", "problem": "problem", "warning": "warning", "info": "note"}
LEVEL_STYLES = {"todo": "bold", "problem": "bold red", "warning": "yellow", "info": "dim"}


# -- stats ------------------------------------------------------------------------------------------------------
def _counts_section(stats: dict[str, Any], env: Env) -> list[str]:
    total = stats["total"]
    lines = [f"Project {stats['project']} ({stats['provider']}, {stats['model']})", ""]
    lines.append(f"  Examples  {total}")
    if total:
        lines.append(f"  Rated     {stats['rated']} ({stats['rated_pct']:.1f}%)")
        lines.append(f"  Unrated   {stats['unrated']} ({stats['unrated_pct']:.1f}%)")
    return lines


def _histogram_section(stats: dict[str, Any], env: Env) -> list[str]:
    if not stats["rated"]:
        return []
    dist = stats["distribution"]
    peak = max(dist.values())
    threshold = stats["threshold"]
    block = "█" if env.stdout_isatty else "#"
    lines = ["", "Ratings"]
    for r in range(10, 0, -1):
        count = dist[str(r)]
        bar = block * (max(1, round(BAR_WIDTH * count / peak)) if count else 0)  # one block at least if any
        mark = "  <- threshold" if r == threshold else ""
        lines.append(f"  {r:>2} {bar:<{BAR_WIDTH}} {count}{mark}")
    share = 100.0 * stats["above_threshold"] / stats["rated"]
    lines.append(f"  Rated {threshold} or higher: {stats['above_threshold']} ({share:.1f}% of rated)")
    return lines


def _split_section(stats: dict[str, Any], env: Env) -> list[str]:
    if not stats["total"]:
        return []
    lines = ["", "Splits"]
    lines.append(f"  train {stats['train']}  val {stats['val']}")
    if stats["train"] or stats["val"]:
        lines.append(
            f"  usable (rated {stats['threshold']}+): train {stats['train_usable']}  val {stats['val_usable']}"
        )
    if stats["excluded"]:
        lines.append(f"  excluded (split but unrated or below {stats['threshold']}): {stats['excluded']}")
    if stats["unsplit_above_threshold"]:
        lines.append(f"  rated {stats['threshold']}+ with no split yet: {stats['unsplit_above_threshold']}")
    return lines


def _pairs_section(stats: dict[str, Any], env: Env) -> list[str]:
    p = stats.get("pairs") or {}
    if not p.get("total") and not p.get("unpairable"):
        return []
    place = p["byPlace"]
    left = p["total"] - place["train"] - place["val"]
    lines = ["", "Preference pairs (DPO)"]
    lines.append(
        f"  from rewrites {p['bySource']['rewrite']}: train {place['train']}  val {place['val']}"
        + (f"  left out {left} (no split or rated below {stats['threshold']})" if left else "")
    )
    if p["unpairable"]:
        ids = ", ".join(str(i) for i in p["unpairableIds"][:10])
        more = f" and {p['unpairable'] - 10} more" if p["unpairable"] > 10 else ""
        lines.append(
            f"  cannot be paired: {p['unpairable']} rewritten example(s) ({ids}{more}); `ait pairs` says why"
        )
    return lines


def _tokens_section(stats: dict[str, Any], env: Env) -> list[str]:
    """Counted by stats.TokenSection (or skipped); the table is the one `ait format` prints."""
    t = stats.get("tokens")
    if not t:
        return []
    if not t["counted"]:
        if t.get("reason") == "--no-tokens":
            return []  # the user asked for no token section
        mb = t["examplesBytes"] / 1e6
        return [
            "",
            "Tokens",
            f"  not counted for a project this size ({mb:,.0f} MB of examples): `ait stats --tokens` counts "
            "them, `ait format` always does",
        ]
    if not t["train"]["examples"] and not t["val"]["examples"]:
        return ["", "Tokens", "  no examples rated at or above the threshold have a split yet (`ait split`)"]
    return [
        "",
        *token_table(t["note"], {"train": t["train"], "val": t["val"]}, None),
        *estimate_lines(t["estimate"]),
    ]


def _advice_section(stats: dict[str, Any], env: Env) -> list[str]:
    lines = ["", "What next"] if stats["advice"] else []
    for item in stats["advice"]:
        label = LEVEL_LABELS[item["level"]]
        command = f": {item['command']}" if item["command"] else ""
        lines.append(f"  {label}: {item['message']}{command}")
    return lines


# The order `ait stats` prints in. A new section (e.g. token counts) is one function here plus its keys in the
# stats dict (see aitelier.stats).
SECTIONS: list[Callable[[dict[str, Any], Env], list[str]]] = [
    _counts_section,
    _histogram_section,
    _split_section,
    _pairs_section,
    _tokens_section,
    _advice_section,
]


def render_stats(stats: dict[str, Any], env: Env) -> None:
    lines = [line for section in SECTIONS for line in section(stats, env)]
    if not env.color:
        env.out("\n".join(lines))
        return
    from rich.markup import escape

    for line in lines:
        text = escape(line)
        for level, style in LEVEL_STYLES.items():
            prefix = f"  {LEVEL_LABELS[level]}:"
            if line.startswith(prefix):
                text = f"[{style}]{escape(prefix)}[/]{escape(line[len(prefix) :])}"
        if line in ("Ratings", "Splits", "Preference pairs (DPO)", "Tokens", "What next") or line.startswith(
            ("Project ", "Tokens per")
        ):
            text = f"[bold]{text}[/]"
        env.console.print(text)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the stats as a JSON object.")
@click.option(
    "--tokens/--no-tokens",
    default=None,
    help="Count tokens of the exported examples (default: only when examples.jsonl is at most 25 MB).",
)
def stats(as_json: bool, tokens: bool | None) -> None:
    """Counts, rating histogram 10..1, train/val counts and what to run next.

    Reads every example strictly: a malformed line stops it with path:line and exit status 3
    (`ait doctor` lists every problem).
    """
    from ..stats import TokenSection, compute_stats

    env = get_env()
    project = open_project()
    result = compute_stats(project, [TokenSection(project, tokens)])
    for notice in result["notices"]:
        env.warn(f"{notice} (`ait doctor --fix` repairs it)")
    if as_json:
        echo_json(env, result)
    else:
        render_stats(result, env)


# -- doctor -----------------------------------------------------------------------------------------------------
def _render_report(report: Any, env: Env, fixing: bool) -> None:
    from ..stats import plural

    out = env.out
    if fixing:
        for p in report.fixed:
            out(f"fixed: {p}")
        for b in report.backups:
            out(f"backup: {b}")
        if not report.fixed:
            out("nothing needed fixing" if report.ok else "nothing here is safe to fix automatically")
    out(f"checked: {', '.join(report.checked) or 'no data files yet'}")
    pending = f", {report.pending_changes} pending change(s) in the journal" if report.pending_changes else ""
    out(f"valid examples: {report.examples}{pending}")
    for p in report.problems:
        out(f"{p}{'  [fixable]' if p.fixable else ''}")
    for w in report.warnings:
        out(f"warning: {w}")
    if report.ok:
        out(
            ("ok: no problems left" if report.fixed else "ok: no problems found")
            + (f" ({plural(len(report.warnings), 'warning')})" if report.warnings else "")
        )
        return
    fixable = len(report.fixable)
    left = len(report.problems) - fixable
    parts = []
    if fixable:
        parts.append(f"{fixable} fixable with `ait doctor --fix` (it keeps a backup)")
    if left:
        parts.append(f"{left} to fix by hand: edit the file at the line named (nothing else is touched)")
    head = plural(len(report.problems), "problem")
    if fixing:  # say what --fix did and what it left, never "nothing needed fixing" above problems
        head = f"fixed {len(report.fixed)}, {head} left"
    summary = f"{head}: " + "; ".join(parts)
    if any(p.path.endswith(("train.jsonl", "val.jsonl")) for p in report.problems):
        summary += "; train.jsonl and val.jsonl are written by `ait format`: run it again to regenerate them"
    out(summary)


@click.command()
@click.option(
    "--fix",
    is_flag=True,
    help="Repair what is safe (BOM, CRLF, blank lines, missing final newline, torn journal tail, leftover "
    "temp files) after copying each changed file to <file>.bak-<timestamp>.",
)
@click.option(
    "--reject",
    is_flag=True,
    help="With --fix: also move lines that are not valid examples (bad JSON, a wrong field, a duplicate id) to "
    "data/examples.rejects.jsonl, byte for byte, so they stop blocking every command.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as a JSON object.")
def doctor(fix: bool, reject: bool, as_json: bool) -> None:
    """Check the data files and list every problem with its file and line.

    Exit status 0 when no problem is left (warnings such as exact duplicates do not count), 3 otherwise.
    Without --fix nothing is changed.
    """
    from ..doctor import diagnose, repair

    env = get_env()
    if reject and not fix:
        raise UsageError("--reject moves lines, so it goes with --fix", hint="ait doctor --fix --reject")
    project = open_project()
    report = repair(project, reject=reject) if fix else diagnose(project)
    if as_json:
        echo_json(env, report.to_dict())
    else:
        _render_report(report, env, fix)
    if not report.ok:
        raise ProblemsFound()  # the report lists them
