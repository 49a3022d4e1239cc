"""``ait rate``: flags, the no-terminal ways (--set, --rewrite), and starting the screen in :mod:`aitelier.ui`.

The queue, undo and what is written live in :mod:`aitelier.rating`; the drawing and the keys in
:mod:`aitelier.ui.rate_screen`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from ..errors import Interrupted, UsageError
from .common import echo_json, get_env, open_project, read_text
from .env import NoTerminal

if TYPE_CHECKING:
    from ..rating import RatingSession
    from .env import Env

ORDERS = ("id", "random", "oldest")  # aitelier.rating.ORDERS, repeated so `--help` does not import it


@click.command()
@click.option(
    "--min",
    "min_rating",
    type=click.IntRange(1, 10),
    metavar="N",
    help="Also re-review examples rated below N (unrated ones are always in the queue).",
)
@click.option(
    "--id",
    "ids",
    type=click.IntRange(min=1),
    multiple=True,
    metavar="ID",
    help="Rate this example, rated or not (repeat for several).",
)
@click.option(
    "--order",
    type=click.Choice(ORDERS),
    help="Queue order: id (lowest first, the default), oldest (by createdAt) or random.",
)
@click.option("--seed", type=int, help="Seed for --order random: the same seed gives the same order.")
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="ID=SCORE",
    help="No terminal needed: rate example ID with SCORE (1-10). Repeat for several.",
)
@click.option(
    "--rewrite",
    "rewrite_id",
    type=click.IntRange(min=1),
    metavar="ID",
    help="No terminal needed: replace example ID's assistant output with the text of --output FILE.",
)
@click.option(
    "--output",
    "output_file",
    type=click.Path(dir_okay=False, allow_dash=True),
    metavar="FILE",
    help="With --rewrite: the new assistant output ('-' reads standard input).",
)
@click.option(
    "--turn",
    type=click.IntRange(min=1),
    metavar="K",
    help="With --rewrite: which assistant turn to replace, 1 for the first (default: the last).",
)
@click.option(
    "--rating", type=click.IntRange(1, 10), metavar="N", help="With --rewrite: also rate the new output N."
)
@click.option("--json", "as_json", is_flag=True, help="With --set / --rewrite: print what changed as JSON.")
def rate(
    min_rating: int | None,
    ids: tuple[int, ...],
    order: str | None,
    seed: int | None,
    sets: tuple[str, ...],
    rewrite_id: int | None,
    output_file: str | None,
    turn: int | None,
    rating: int | None,
    as_json: bool,
) -> None:
    """Rate examples one key press each: 1-9, 0 (=10), r rewrite, s skip, u undo, q quit.

    Shows the unrated examples one at a time (with --min N also those rated below N). Every key press is saved
    at once, so Ctrl-C, a closed terminal or a crash loses nothing already rated.

    Without a terminal (scripts, CI) use --set or --rewrite.

    \b
    Examples:
      ait rate
      ait rate --min 8 --order random --seed 1
      ait rate --id 42
      ait rate --set 12=9 --set 13=4
      ait rate --rewrite 12 --output better.txt --rating 9
    """
    env = get_env()
    if not (sets or rewrite_id) and (output_file or turn or rating):
        raise UsageError("--output, --turn and --rating go with --rewrite ID")
    if sets or rewrite_id:
        if min_rating is not None or ids or order or seed is not None:
            raise UsageError(
                "--min, --id, --order and --seed choose what to rate interactively", hint=_NONINT
            )
        _non_interactive(env, sets, rewrite_id, output_file, turn, rating, as_json)
        return
    if as_json:
        raise UsageError("--json goes with --set or --rewrite")
    env.require_terminal(
        NoTerminal(
            "ait rate reads single key presses",
            "--set ID=SCORE [--set ...] or --rewrite ID --output FILE",
            "rate",
        )
    )
    from ..rating import RatingSession
    from ..ui.rate_screen import RateScreen

    project = open_project()
    session = RatingSession.open(
        project.store, min_rating=min_rating, ids=ids, order=order or "id", seed=seed
    )
    if session.total == 0:
        what = "unrated" if min_rating is None else f"unrated or rated below {min_rating}"
        env.out(f"Nothing to rate: no example is {what}.")
        if min_rating is None:
            env.out("`ait rate --min 8` re-reviews those rated below 8; `ait rate --id N` rates one example.")
        return
    stopped_by = RateScreen(env, session).run()
    if stopped_by is not None:
        raise Interrupted(stopped_by)


_NONINT = "ait rate --set ID=SCORE [--set ...] or ait rate --rewrite ID --output FILE [--rating N]"


# -- without a terminal -------------------------------------------------------------------------------------------
def _parse_set(value: str) -> tuple[int, int]:
    ident, sep, score = value.partition("=")
    try:
        if not sep:
            raise ValueError
        pair = int(ident.strip()), int(score.strip())
    except ValueError:
        raise UsageError(f"--set {value!r}: expected ID=SCORE, for example --set 12=9") from None
    if pair[0] < 1:
        raise UsageError(f"--set {value!r}: ids are positive integers")
    if not 1 <= pair[1] <= 10:
        raise UsageError(f"--set {value!r}: a rating is an integer from 1 to 10")
    return pair


def _non_interactive(
    env: Env,
    sets: tuple[str, ...],
    rewrite_id: int | None,
    output_file: str | None,
    turn: int | None,
    rating: int | None,
    as_json: bool,
) -> None:
    from ..curation import clean_text
    from ..rating import RatingSession
    from ..ui.rate_screen import close_session

    if rewrite_id is not None and not output_file:
        raise UsageError("--rewrite ID needs --output FILE (the new text; '-' reads standard input)")
    pairs = [_parse_set(s) for s in sets]
    order = ([rewrite_id] if rewrite_id is not None else []) + [i for i, _ in pairs]
    twice = sorted({i for i in order if order.count(i) > 1})
    if twice:
        raise UsageError(
            f"example {', '.join(map(str, twice))} is given more than once",
            hint="to rewrite and rate one example, use --rewrite ID --output FILE --rating N",
        )
    text = ""
    if rewrite_id is not None and output_file:
        text = clean_text(read_text(env, output_file, "the new output"))
    if rewrite_id is not None and not text:
        raise UsageError(f"{output_file} holds no text; nothing was changed")
    project = open_project()
    session = RatingSession.open(project.store, ids=order)  # strict read; NotFound names a missing id
    changes: list[dict[str, Any]] = []
    try:
        if rewrite_id is not None:
            step = session.rewrite(text, turn)
            if step is None:
                changes.append({"id": rewrite_id, "rewritten": False})
                env.err(f"Example {rewrite_id}: the text is the same as now; not rewritten.")
            else:
                assert step.after is not None
                changes.append(
                    {"id": rewrite_id, "rewritten": True, "turn": step.turn, "version": step.after.version}
                )
                if not as_json:
                    env.out(
                        f"Example {rewrite_id}: assistant turn {step.turn} rewritten (version {step.after.version})."
                    )
            if rating is not None:
                _rate(env, session, rating, changes, as_json)
            else:
                session.skip()
        for _ident, score in pairs:
            _rate(env, session, score, changes, as_json)
    finally:
        close_session(env, session)
    if as_json:
        echo_json(env, {"changes": changes, "summary": session.summary().as_dict()})


def _rate(env: Env, session: RatingSession, score: int, changes: list[dict[str, Any]], as_json: bool) -> None:
    step = session.rate(score)
    before = step.before.rating if step.before is not None else None
    changes.append({"id": step.id, "rating": score, "previous": before})
    if not as_json:
        was = "unrated" if before is None else before
        env.out(f"Example {step.id}: rated {score} (was {was}).")
