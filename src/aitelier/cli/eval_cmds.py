"""``ait eval`` (generate, then score, compare blind or judge) and ``ait evals`` (list and show past evals)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import Interrupted, NotFound, UsageError
from .common import echo_json, get_env, open_project
from .env import NoTerminal

if TYPE_CHECKING:
    from ..evaluate.results import Eval
    from ..project import Project
    from .env import Env

NO_TERMINAL = NoTerminal(
    "ait eval scores with single key presses",
    "--no-score (generate only), --judge MODEL (an LLM scores) or --json",
    "evaluate",
)


@click.command("eval")
@click.option(
    "--model", metavar="M", help="Model to evaluate (default: the latest succeeded run's fine-tuned model)."
)
@click.option("--compare", is_flag=True, help="Blind A/B comparison of --model against --base.")
@click.option("--base", metavar="M", help="With --compare: the other model (default: the project's model).")
@click.option(
    "--provider", metavar="NAME", help="Provider that serves the model(s) (default: the project's)."
)
@click.option(
    "--base-url",
    metavar="URL",
    help="Any OpenAI-compatible server instead (vLLM, Ollama, llama.cpp, LM Studio).",
)
@click.option(
    "--concurrency", type=click.IntRange(1, 256), default=8, show_default=True, help="Calls in flight."
)
@click.option(
    "--temperature",
    type=click.FloatRange(0, 2),
    default=0.0,
    show_default=True,
    help="Sampling temperature of the generations (recorded in the eval file).",
)
@click.option(
    "--max-tokens", type=click.IntRange(min=1), metavar="N", help="Longest answer (default: the model's)."
)
@click.option("--no-cache", is_flag=True, help="Call the model again even for answers already cached.")
@click.option("--no-score", is_flag=True, help="Only generate; print the eval file's name (scripts, CI).")
@click.option("--judge", "judge_model", metavar="MODEL", help="An LLM scores (or picks A/B) instead of you.")
@click.option(
    "--judge-provider", metavar="NAME", help="Provider of the judge model (default: the project's)."
)
@click.option(
    "--rubric",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="The judge's rubric (default: eval-rubric.md in the project, else a built-in one).",
)
@click.option("--show-expected", is_flag=True, help="With --compare: show the expected output too.")
@click.option("--seed", type=int, help="With --compare: seed for the A/B sides (default: random, recorded).")
@click.option("--resume", is_flag=True, help="Continue the latest unfinished eval instead of starting one.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the eval's summary as JSON (no interactive scoring)."
)
def eval_(
    model: str | None,
    compare: bool,
    base: str | None,
    provider: str | None,
    base_url: str | None,
    concurrency: int,
    temperature: float,
    max_tokens: int | None,
    no_cache: bool,
    no_score: bool,
    judge_model: str | None,
    judge_provider: str | None,
    rubric: str | None,
    show_expected: bool,
    seed: int | None,
    resume: bool,
    as_json: bool,
) -> None:
    """Run a model on every validation example, then score its outputs 1-5 (or compare two models blind).

    \b
    Generation is concurrent and cached (a second run, or a resumed one, never pays twice for a call).
    Scoring keys: 1-5 score, s skip, u undo, q quit. Comparison keys: a, b, t (tie), s, u, q; the model names
    are revealed at the end. Every key is saved the moment you press it; --resume continues.

    \b
    Without a terminal, use --no-score, --judge MODEL or --json.

    \b
    Examples:
      ait eval                              # the latest fine-tune, scored by you
      ait eval --compare                    # fine-tune against the project's base model, blind
      ait eval --no-score --concurrency 16  # generate only (CI), then `ait eval --resume` to score
      ait eval --judge meta-llama/Llama-3.3-70B-Instruct-Turbo --json
      ait eval --model my-model --base-url http://localhost:8000/v1
    """
    from ..evaluate import generate, results
    from ..evaluate.runner import Cache, Settings
    from ..ui.eval_screen import ProgressBar

    env = get_env()
    interactive = not (no_score or judge_model or as_json)
    if no_score and judge_model:
        raise UsageError("--no-score and --judge exclude each other (the judge scores)")
    if resume and (model or base or base_url or provider or seed is not None):
        raise UsageError("--resume continues an eval with its own models and settings; drop the other flags")
    if interactive:
        env.require_terminal(NO_TERMINAL)
    project = open_project()
    directory = results.evals_dir(project.root)
    cache = Cache(directory / generate.CACHE_NAME, read=not no_cache)
    if resume:
        ev = _resume_target(directory, "compare" if compare else None)
    else:
        settings = Settings(temperature=temperature, max_tokens=max_tokens)
        if base and not compare:
            raise UsageError("--base goes with --compare")
        the_model = model
        if the_model is None:
            the_model, trained_on = generate.default_model(project)
            if provider is None and base_url is None:
                provider = trained_on  # the fine-tune lives where it was trained
        endpoint = generate.connect(project, provider, base_url, env.environ)
        try:
            ev = generate.generate(
                project,
                endpoint,
                the_model,
                settings,
                cache=cache,
                base=(base or project.model) if compare else None,
                seed=seed,
                concurrency=concurrency,
                on_progress=ProgressBar(env, "Generating (2 models)" if compare else "Generating"),
            )
        finally:
            endpoint.close()
    if judge_model:
        judge_endpoint = generate.connect(project, judge_provider, None, env.environ)
        try:
            generate.run_judge(
                ev,
                judge_endpoint,
                judge_model,
                generate.rubric_text(project, rubric),
                cache=cache,
                concurrency=concurrency,
                on_progress=ProgressBar(env, "Judging"),
            )
        finally:
            judge_endpoint.close()
    if interactive:
        stopped_by = _score(env, project, ev, show_expected=show_expected or ev.kind == "score")
        if stopped_by is not None:
            raise Interrupted(stopped_by)
        return
    ev = results.load(ev.path)
    if as_json:
        echo_json(env, _brief(project, ev))
    elif no_score:
        env.out(project.relative(ev.path))
    else:
        _print_summary(env, ev)


def _resume_target(directory: Path, kind: str | None) -> Eval:
    from ..evaluate import results

    evals, _ = results.load_all(directory)
    for ev in reversed(evals):  # the latest first
        if not ev.finished and kind in (None, ev.kind):
            return ev
    what = "comparison" if kind else "eval"
    raise NotFound(f"no unfinished {what} to resume in data/evals", hint="`ait evals` lists them")


def _score(env: Env, project: Project, ev: Eval, *, show_expected: bool) -> int | None:
    from ..evaluate import results
    from ..evaluate.session import Session
    from ..ui.eval_screen import EvalScreen
    from ..ui.keys import CLEAR

    session = Session(ev)
    stopped_by = None
    if session.total:
        stopped_by = EvalScreen(env, session, show_expected=show_expected).run()
    # fold even after Ctrl-C: every answer is already in the journal, this only writes it into the file
    fresh = results.load(ev.path)
    history, _ = results.load_all(ev.path.parent)
    fresh.fold(history)
    if env.stdout_isatty:
        env.stdout.write(CLEAR)
    _print_summary(env, fresh)
    if fresh.kind == "compare":
        from ..ui.eval_screen import reveal_lines

        env.out("")
        env.out("The reveal:")
        for line in reveal_lines(fresh):
            env.out(line)
    if not fresh.finished:
        env.out(f"Some items are not scored yet; `ait eval --resume` continues {fresh.name}.")
    env.out(f"Saved in {project.relative(fresh.path)}")
    return stopped_by


def _brief(project: Project, ev: Eval) -> dict[str, Any]:
    d = ev.data
    return {
        "name": ev.name,
        "path": project.relative(ev.path),
        "kind": ev.kind,
        "model": d.get("model"),
        "base": d.get("base"),
        "provider": d.get("provider"),
        "created": d.get("created"),
        "finished": ev.finished,
        "judge": d.get("judge"),
        "summary": d.get("summary"),
    }


def _print_summary(env: Env, ev: Eval) -> None:
    from ..ui.eval_screen import summary_lines

    for line in summary_lines(ev):
        env.out(line)


@click.group("evals", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def evals(ctx: click.Context, as_json: bool) -> None:
    """List past evals with their figures; `ait evals show NAME` prints one."""
    if ctx.invoked_subcommand is not None:
        return
    from ..evaluate import results
    from ..evaluate.summary import summarize

    env = get_env()
    project = open_project()
    found, problems = results.load_all(results.evals_dir(project.root))
    for p in problems:
        env.warn(str(p))
    rows = []
    for ev in found:
        ev.data["summary"] = summarize(ev, found)  # the journal of an unfinished eval is counted too
        rows.append(_brief(project, ev))
    if as_json:
        echo_json(env, {"evals": rows})
        return
    if not rows:
        env.out("No evals yet: `ait eval` runs one.")
        return
    for r in rows:
        sm = r["summary"] or {}
        if r["kind"] == "score":
            s = sm.get("sendable") or {}
            avg = "-" if sm.get("average") is None else f"{sm['average']:.2f}"
            rate = "-" if not s else f"{100 * s['rate']:.0f}%"
            figures = f"avg {avg}  sendable {rate}  scored {sm.get('scored', 0)}/{sm.get('items', 0)}"
            who = str(r["model"])
        else:
            w = sm.get("wins") or {}
            figures = f"{w.get('model', 0)}-{w.get('base', 0)}-{sm.get('ties', 0)}  {sm.get('verdict', '')}"
            who = f"{r['model']} vs {r['base']}"
        state = "" if r["finished"] else "  (unfinished)"
        env.out(f"{r['name']}  {r['kind']:<7}  {who}  {figures}{state}")


@evals.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the whole eval document.")
def show(name: str, as_json: bool) -> None:
    """Print one eval: its settings, figures and every item."""
    from ..evaluate import results
    from ..evaluate.summary import summarize
    from ..ui.eval_screen import reveal_lines

    env = get_env()
    project = open_project()
    directory = results.evals_dir(project.root)
    ev = results.find(directory, name)
    history, _ = results.load_all(directory)
    ev.data["summary"] = summarize(ev, history)
    ev.data["finished"] = ev.finished
    if as_json:
        echo_json(env, ev.data)
        return
    d = ev.data
    _print_summary(env, ev)
    env.out(
        f"provider {d.get('provider')}{' at ' + d['base_url'] if d.get('base_url') else ''}; "
        f"settings {d.get('settings')}; created {d.get('created')}; val set {d.get('val_set', {}).get('examples')} examples"
    )
    env.out("")
    if ev.kind == "compare":
        for line in reveal_lines(ev):
            env.out(line)
    else:
        for it in ev.items:
            score = it.get("score") or ("skipped" if it.get("skipped") else "-")
            judge = it.get("judge") or {}
            jtext = f"   judge {judge.get('score')}: {judge.get('reason')}" if judge else ""
            first = " ".join(str(it.get("output", "")).split())
            env.out(f"  example {it['id']}: score {score}{jtext}")
            env.out(f"    {first[:100]}{'...' if len(first) > 100 else ''}")
