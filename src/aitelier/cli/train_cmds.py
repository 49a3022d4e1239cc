"""`ait train`, `ait status` and `ait cancel`: parse flags, call :mod:`aitelier.training`, render.

The SDKs and rich are imported inside the commands (through the provider registry), so `ait --help` stays fast
and `ait status` on finished runs never imports an SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from ..errors import AitelierError, Declined, ExitStatus, NotFound, ProblemsFound, UsageError
from .common import echo_json, get_env, open_project
from .env import NoTerminal

if TYPE_CHECKING:
    from ..project import Project
    from ..providers.base import JobEvent, JobRequest, ModelLimits, PriceEstimate, Provider
    from ..training import Plan, Snapshot
    from .env import Env

DEFAULT_INTERVAL = 10.0
_ASKS_PRICE = NoTerminal("ait train shows the price and asks before creating the job", "--yes", "create it")


# -- ait train -----------------------------------------------------------------------------------------------------
class CliTrainUI:
    """The questions `ait train` asks, answered by flags or a person (never silently without a terminal)."""

    def __init__(self, env: Env, *, yes: bool, quiet: bool) -> None:
        self.env = env
        self.yes = yes
        self.quiet = quiet

    def note(self, message: str) -> None:
        self.env.err(message)

    def another_identical_run(self, record: dict[str, Any]) -> bool:
        self.env.warn(
            f"run {record['id']} (job {record.get('jobId')}, {record.get('status')}) already trains "
            f"{record.get('baseModel')} on the same files with the same settings"
        )
        # --yes answers the price question only: a retried script must not start a duplicate by accident
        return self.env.confirm(
            "Start another identical run anyway?",
            NoTerminal("ait train asks before starting a second identical run", "--force-new", "start one"),
        )

    def confirm(self, plan: Plan, request: JobRequest, estimate: PriceEstimate | None) -> bool:
        out = self.env.err if self.quiet else self.env.out
        out(f"Ready to create a fine-tuning job on {plan.provider.title}:")
        out(f"  model     {plan.model}")
        out(f"  method    {_method_text(plan)}")
        for data, file_id in (
            (plan.data.train, request.training_file),
            (plan.data.val, request.validation_file),
        ):
            if data is not None:
                out(f"  {data.role:<9} {data.rel} ({data.examples} examples), uploaded as {file_id}")
        from ..ui.jobs import settings_text

        out(f"  settings  {settings_text(plan.hyperparameters.to_record())}")
        out(f"  price     {_price_text(plan.provider, estimate)}")
        if estimate is not None and estimate.allowed_to_proceed is False:
            limit = f" (${estimate.user_limit:,.2f})" if estimate.user_limit is not None else ""
            self.env.warn(
                f"{plan.provider.title} says this costs more than your credit limit and balance{limit}: "
                "the job would likely be cancelled for insufficient funds"
            )
        return self.env.confirm("Create the fine-tuning job?", _ASKS_PRICE, yes=self.yes)


def _method_text(plan: Plan) -> str:
    text = {"sft": "supervised (SFT)", "dpo": "preference tuning (DPO)"}.get(plan.method, plan.method)
    if plan.from_run is not None:
        text += f", continuing from run {plan.from_run.get('id')} (job {plan.from_run.get('jobId')})"
    return text


def _price_text(provider: Provider, est: PriceEstimate | None) -> str:
    from ..providers import registry

    if registry.get(provider.name).pricing == "free":
        return "free (it runs on this machine)"
    if est is None:
        return f"no estimate available ({provider.title} bills per trained token)"
    if not est.available or est.total is None:
        why = f": {est.reason}" if est.reason else ""
        return f"no estimate available{why}"
    bits = []
    if est.train_tokens is not None:
        bits.append(f"{int(est.train_tokens):,} training tokens")
    if est.eval_tokens:
        bits.append(f"{int(est.eval_tokens):,} evaluation tokens")
    if est.source != "provider":
        bits.append(est.source)
    return f"${est.total:,.2f}" + (f" ({', '.join(bits)})" if bits else "")


def _provider_and_model(project: Project, provider: str | None, model: str | None) -> tuple[str, str]:
    from ..providers import registry

    name = provider or project.provider
    if model:
        return name, model
    if name == project.provider:
        return name, project.model
    default = registry.get(name).default_model
    if default:
        return name, default
    raise UsageError(f"--provider {name} needs --model (the project's model is for {project.provider})")


class TrainCommand(click.Command):
    """`ait train`, with one option per hyperparameter that any registered provider declares (a plugin's
    too): the registry is read when the command's options are needed, never for `ait --help`."""

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        params = super().get_params(ctx)
        taken = {p.name for p in params}
        extra = [o for o in hyperparameter_options() if o.name not in taken]
        return params[:-1] + extra + params[-1:]  # --help stays last


def hyperparameter_options() -> list[click.Option]:
    """One option per hyperparameter name; the help says which provider takes it when they differ."""
    from ..providers import registry

    infos = [i for i in registry.available().values() if i.trainer is not None]
    by_name: dict[str, list[tuple[Any, Any]]] = {}
    for info in infos:
        for h in info.hyperparameters:
            by_name.setdefault(h.name, []).append((info, h))
    types = {int: click.INT, float: click.FLOAT}
    options = []
    for decls in by_name.values():
        first = decls[0][1]

        def described(h: Any) -> str:
            text = h.help.rstrip(".")
            if h.method is not None:
                text = f"With --method {h.method}: {text.removeprefix(h.method.upper() + ': ')}"
            return f"{text}; {h.range_text}" if h.range_text else text

        texts = {described(h) for _, h in decls}
        if len(texts) == 1 and len(decls) == len(infos):
            text = described(first) + "."
        else:
            text = " ".join(f"{info.title}: {described(h)}." for info, h in decls)
        if len({h.default for _, h in decls}) == 1 and first.default is not None and len(decls) == len(infos):
            text += f" Default {first.default}, or `{first.name}` in .aitelier.json."
        if first.type is bool:  # --x / --no-x; not given: None (the provider's default)
            flag = first.flag
            options.append(click.Option([f"{flag}/--no-{flag[2:]}", first.name], default=None, help=text))
        else:
            options.append(click.Option([first.flag], type=types.get(first.type, click.STRING), help=text))
    return options


@click.command(cls=TrainCommand)
@click.option("--provider", help="Train on this provider instead of the project's (see `ait init --help`).")
@click.option("--model", help="Base model to fine-tune (default: the project's model).")
@click.option(
    "--method",
    type=click.Choice(["sft", "dpo"]),
    default="sft",
    show_default=True,
    help="sft: on data/train.jsonl; dpo: preference tuning on data/train.dpo.jsonl (`ait format --method dpo`).",
)
@click.option(
    "--from",
    "from_ref",
    metavar="RUN",
    help="Continue from the model of an earlier finished run (a run or job id), e.g. DPO after SFT.",
)
@click.option("--dry-run", is_flag=True, help="Check everything and print the exact request; upload nothing.")
@click.option("-y", "--yes", is_flag=True, help="Create the job without asking about the price.")
@click.option("--force-new", is_flag=True, help="Start even if an identical run is already active.")
@click.option("--watch", is_flag=True, help="Follow the job after creating it (like `ait status --watch`).")
@click.option(
    "--interval",
    type=click.FloatRange(min=0, min_open=True),
    help=f"Seconds between polls with --watch (default {DEFAULT_INTERVAL:g}, or AITELIER_POLL_INTERVAL).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run record (or the dry-run plan) as JSON.")
def train(
    provider: str | None,
    model: str | None,
    method: str,
    from_ref: str | None,
    dry_run: bool,
    yes: bool,
    force_new: bool,
    watch: bool,
    interval: float | None,
    as_json: bool,
    **hyper: Any,
) -> None:
    """Upload data/train.jsonl (and data/val.jsonl), show the price, ask, and start a LoRA fine-tune.

    Nothing is uploaded until every local check passes and the hyperparameters fit the provider's ranges and
    the model's limits. The run is recorded in .aitelier.json before the upload and after each step, so
    `ait status` always knows how far it got; running `ait train` again never starts a second job for the
    same attempt by accident. Which hyperparameter options a provider takes is in its help text below.
    """
    from .. import training
    from ..providers import registry
    from ..providers.base import Hyperparameters

    env = get_env()
    project = open_project()
    name, model = _provider_and_model(project, provider, model)
    registry.trainer_of(name)  # a provider without a trainer says so before anything else
    free = registry.get(name).pricing == "free"
    poll = _poll_interval(interval)
    if not (dry_run or yes or free):  # the price question comes after the upload: know it can be asked
        env.require_terminal(_ASKS_PRICE)
    given = {k: v for k, v in hyper.items() if v is not None}
    if "epochs" not in given and project.config.get("epochs") is not None:
        given["epochs"] = project.config["epochs"]  # the figure `ait format` estimated with
    registry.get(name).check_method(method)
    prov = registry.connect(name, project.root)  # a missing key fails here, before any work
    try:
        from_run = training.continued_run(project, prov, from_ref) if from_ref else None
        hp = Hyperparameters(given)
        data = training.preflight(project, name, model, method=method)
        for w in data.warnings[:20]:
            env.warn(w)
        plan = training.plan(project, prov, model, hp, data, method=method, from_run=from_run)
        if dry_run:
            _print_dry_run(env, project, plan, as_json=as_json)
            return
        ui = CliTrainUI(env, yes=yes or free, quiet=as_json)  # nothing to pay: nothing to ask
        record = training.start(project, plan, ui, force_new=force_new, poll_interval=_poll_interval(None))
        if record.get("status") == "declined":
            raise Declined("Not started: nothing was created and nothing will be charged.")
        if as_json and not watch:
            echo_json(env, record)
        elif not as_json:
            what = "fine-tune" if method == "sft" else f"{method.upper()} fine-tune"
            env.out(
                f"Started {what} {record['jobId']} on {prov.title} (run {record['id']}, status "
                f"{record['status']})."
            )
            if not watch:
                env.out(
                    "Follow it with `ait status --watch`" + (", stop it with `ait cancel`." if free else ".")
                )
        if watch:
            _watch(env, project, prov, record, interval=poll, as_json=as_json)
    finally:
        prov.close()


def _print_dry_run(env: Env, project: Project, plan: Plan, *, as_json: bool) -> None:
    from dataclasses import fields

    from ..providers.base import camel
    from ..ui.jobs import settings_text

    data = plan.data
    files = {f.role: f.to_record() for f in (data.train, data.val) if f is not None}
    lim = plan.limits
    limits: dict[str, Any] | None = None
    if lim is not None:  # the bounds the model publishes, by their camelCase names (maxEpochs ...)
        limits = {
            camel(f.name): getattr(lim, f.name)
            for f in fields(lim)
            if f.name not in ("model", "default_lora_r", "sdk_object") and getattr(lim, f.name) is not None
        }
    from ..credentials import scrub
    from ..providers import registry

    price_note = (
        f"{plan.provider.title} prices the job from the uploaded files: `ait train` uploads them, shows the "
        "price and asks before it creates the job"
        if registry.get(plan.provider.name).pricing == "provider"
        else _price_text(plan.provider, plan.local_estimate)
    )
    if as_json:
        echo_json(
            env,
            {
                "dryRun": True,
                "provider": plan.provider.name,
                "model": plan.model,
                "method": plan.method,
                "fromRun": plan.from_run.get("id") if plan.from_run is not None else None,
                "files": files,
                "trainTokens": data.train_tokens,
                "limits": limits,
                "hyperparameters": plan.hyperparameters.to_record(),
                "request": {"endpoint": plan.request.endpoint, "body": plan.request.payload},
                "estimate": plan.local_estimate.to_record() if plan.local_estimate else None,
                "price": price_note,
            },
        )
        return
    import json

    env.out("Dry run: nothing was uploaded and no job was created.")
    url = plan.provider.settings.credentials.base_url
    env.out(f"  provider  {plan.provider.title}" + (f" ({scrub(url)})" if url else ""))
    env.out(f"  model     {plan.model}")
    env.out(f"  method    {_method_text(plan)}")
    for role, f in files.items():
        env.out(
            f"  {role:<9} {f['path']}: {f['examples']} examples, {f['bytes']:,} bytes, sha256 {f['sha256']}"
        )
    if data.train_tokens is not None:
        note = f" ({data.token_note})" if data.token_note else ""
        env.out(f"  tokens    ~{data.train_tokens:,} per epoch in the training file{note}")
    if lim is not None:
        env.out(f"  limits    {_limits_text(lim)}")
    env.out(f"  settings  {settings_text(plan.hyperparameters.to_record())}")
    env.out(f"  price     {price_note}")
    env.out(f"Request ({plan.request.endpoint}), file ids filled in after upload:")
    env.out(json.dumps(plan.request.payload, indent=2, ensure_ascii=False))


def _limits_text(lim: ModelLimits) -> str:
    def rng(lo: float | None, hi: float | None) -> str:
        if lo is not None and hi is not None:
            return f"{lo:g} to {hi:g}"
        return f"<= {hi:g}" if hi is not None else f">= {lo:g}"

    parts = []
    if lim.max_epochs is not None:
        parts.append(f"epochs <= {lim.max_epochs}")
    if lim.min_learning_rate is not None or lim.max_learning_rate is not None:
        parts.append(f"learning rate {rng(lim.min_learning_rate, lim.max_learning_rate)}")
    if lim.min_batch_size is not None or lim.max_batch_size is not None:
        parts.append(f"batch size {rng(lim.min_batch_size, lim.max_batch_size)}")
    if lim.max_lora_r is not None:
        parts.append(f"LoRA rank <= {lim.max_lora_r}")
    if lim.max_evals is not None:
        parts.append(f"evals <= {lim.max_evals}")
    return ", ".join(parts) or "none published"


# -- ait status ----------------------------------------------------------------------------------------------------
def _poll_interval(flag: float | None) -> float:
    """--interval, else AITELIER_POLL_INTERVAL, else the default."""
    from ..credentials import POLL_ENV, number_setting

    return flag if flag is not None else number_setting(POLL_ENV, DEFAULT_INTERVAL)


class _Providers:
    """One connected provider per name, made on first use; a failure to connect is remembered per name."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.made: dict[str, Provider] = {}
        self.failed: dict[str, AitelierError] = {}

    def get(self, name: str) -> Provider:
        from ..providers import registry

        if name in self.failed:
            raise self.failed[name]
        if name not in self.made:
            try:
                self.made[name] = registry.connect(name, self.project.root)
            except AitelierError as e:
                self.failed[name] = e
                raise
        return self.made[name]

    def close(self) -> None:
        for p in self.made.values():
            p.close()


@click.command()
@click.argument("ref", required=False)
@click.option(
    "--all", "show_all", is_flag=True, help="A table of every run, each refreshed from its provider."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--watch", is_flag=True, help="Follow the run until it ends; exit 0 on success, 5 otherwise.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0, min_open=True),
    help=f"Seconds between polls with --watch (default {DEFAULT_INTERVAL:g}, or AITELIER_POLL_INTERVAL); "
    "grows while nothing changes.",
)
def status(ref: str | None, show_all: bool, as_json: bool, watch: bool, interval: float | None) -> None:
    """Show the latest fine-tuning run (or REF: a run id, job id or model name), refreshed from its provider.

    Saves the fine-tuned model's name and the final status into the run when they appear, and plots the loss
    curve when the provider reports one.
    """
    from .. import runs

    env = get_env()
    project = open_project()
    if show_all and (ref or watch):
        raise UsageError("--all shows every run; it does not take a run id or --watch")
    records = runs.all_runs(project)
    if not records:
        if as_json:
            echo_json(env, {"runs": []} if show_all else {"run": None})
            return
        env.out("No fine-tuning runs yet. Start one with `ait train` (try `ait train --dry-run` first).")
        return
    providers = _Providers(project)
    try:
        if show_all:
            _status_all(env, project, providers, records, as_json=as_json)
            return
        record = runs.find(project, ref) if ref else records[-1]
        if watch:
            _watch(
                env,
                project,
                providers.get(str(record["provider"])),
                record,
                interval=_poll_interval(interval),
                as_json=as_json,
            )
            return
        _status_one(env, project, providers, record, as_json=as_json)
    finally:
        providers.close()


def _status_all(
    env: Env, project: Project, providers: _Providers, records: list[dict[str, Any]], *, as_json: bool
) -> None:
    from .. import runs, training
    from ..ui.jobs import runs_table

    errors: dict[str, str] = {}
    for record in records:
        if not training.needs_refresh(record):
            continue
        try:
            training.refresh(project, providers.get(str(record.get("provider"))), record, events=False)
        except AitelierError as e:  # one failing run must not cost the others their update
            errors[runs.run_id(record)] = str(e)
    fresh = runs.all_runs(project)
    if as_json:
        echo_json(env, {"runs": fresh, "errors": errors})
    else:
        for line in runs_table(fresh, errors, width=env.terminal_size[0]):
            env.out(line)
        for run_id, message in errors.items():
            env.warn(f"{run_id}: not refreshed: {message}")
    if errors:
        raise ProblemsFound(status=ExitStatus.PROVIDER)  # each one was named above


def _status_one(
    env: Env, project: Project, providers: _Providers, record: dict[str, Any], *, as_json: bool
) -> None:
    from .. import training
    from ..providers.base import ProviderRequestError

    snap: Snapshot = training.Snapshot(record)
    loss: list[Any] = []
    failure: AitelierError | None = None
    try:
        if record.get("jobId") or training.needs_refresh(record):
            prov = providers.get(str(record["provider"]))
            snap = training.refresh(project, prov, record)
            if snap.job is not None and snap.job.status.value not in ("pending", "queued"):
                try:
                    loss = prov.loss_curve(snap.job.id, snap.events)
                except ProviderRequestError as e:
                    env.warn(f"no loss curve: {e}")
    except AitelierError as e:  # still show what the record knows
        failure = e
        snap = training.Snapshot(snap.record)
    if as_json:
        out = training.snapshot_json(snap)
        out["loss"] = [{"step": p.step, "train": p.train, "val": p.val} for p in loss]
        if failure is not None:
            out["error"] = str(failure)
        echo_json(env, out)
    else:
        _render_run(env, snap, loss)
    if failure is not None:
        if training.needs_refresh(snap.record):
            raise failure
        env.warn(f"showing the recorded state: {failure}")


def _render_run(env: Env, snap: Snapshot, loss: list[Any], *, events: int = 10) -> None:
    from .. import runs
    from ..training import progress_of
    from ..ui.jobs import event_line, files_text, progress_line, settings_text, short_time
    from ..ui.plot import loss_plot

    r = snap.record
    job = snap.job
    status = job.status_text if job is not None else runs.shown_status(r)
    if job is None and r.get("providerStatus") and r.get("providerStatus") != r.get("status"):
        status += f" ({r['providerStatus']})"
    rows = [("run", f"{runs.run_id(r)} on {r.get('provider')}"), ("job", str(r.get("jobId") or "-"))]
    if job is not None and not job.final:
        rows.append(("status", progress_line(status, progress_of(job, snap.events))))
    else:
        rows.append(("status", status))
    rows.append(("base model", str(r.get("baseModel") or "")))
    if r.get("method"):
        rows.append(
            ("method", str(r["method"]) + (f" (from run {r['fromRun']})" if r.get("fromRun") else ""))
        )
    if runs.model_of(r):
        rows.append(("model", str(runs.model_of(r))))
    for i, line in enumerate(files_text(r.get("files") or {})):
        rows.append(("files" if i == 0 else "", line))
    if r.get("hyperparameters"):
        rows.append(("settings", settings_text(r["hyperparameters"])))
    if (r.get("estimate") or {}).get("usd") is not None:
        rows.append(("estimate", f"${r['estimate']['usd']:,.2f}"))
    rows.append(("started", short_time(r.get("startedAt"))))
    if r.get("finishedAt"):
        rows.append(("finished", short_time(r.get("finishedAt"))))
    if r.get("error"):
        rows.append(("error", str(r["error"])))
    if r.get("createMayHaveSucceeded"):
        rows.append(("note", "the provider may have created the job; `ait status` looks for it each time"))
    for k, v in rows:
        env.out(f"{k:<11} {v}")
    if snap.events:
        env.out("")
        env.out("Recent events:")
        for e in snap.events[-events:]:
            env.out("  " + event_line(e.created_at, e.level, e.message))
    plot = loss_plot(loss, width=min(60, max(20, env.width(80) - 14)))
    if plot:
        env.out("")
        env.out("Loss:")
        for line in plot:
            env.out("  " + line)


def _watch(
    env: Env,
    project: Project,
    prov: Provider,
    record: dict[str, Any],
    *,
    interval: float,
    as_json: bool,
) -> None:
    from .. import training
    from ..ui.jobs import event_line, progress_line
    from ..ui.plot import loss_plot

    say = env.err if as_json else env.out
    fancy = env.stdout_isatty and env.color and not as_json
    bar: Any = None
    last_line = ""
    if fancy:
        from rich.progress import BarColumn, Progress, TextColumn

        bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[detail]}"),
            console=env.console,
            transient=True,
        )
        bar.start()
        task = bar.add_task("waiting", total=None, detail="")

    def on_poll(snap: Snapshot, new: list[JobEvent]) -> None:
        nonlocal last_line
        job = snap.job
        for e in new:
            line = event_line(e.created_at, e.level, e.message)
            if bar is not None:
                bar.console.print(line, highlight=False)
            else:
                say(line)
        if job is None:
            return
        prog = training.progress_of(job, snap.events)
        if bar is not None:
            from ..ui.jobs import progress_text

            total = prog.get("totalSteps") or None
            bar.update(
                task,
                description=job.status_text,
                total=total,
                completed=prog.get("step") or 0,
                detail=progress_text(prog),
            )
            return
        line = progress_line(job.status_text, prog)
        if line != last_line:
            say(line)
            last_line = line

    def on_error(e: AitelierError, wait: float) -> None:
        msg = f"{e} (trying again in {wait:.0f}s)"
        if bar is not None:
            bar.console.print(f"warning: {msg}", highlight=False)
        else:
            env.warn(msg)

    say(f"Watching {record.get('jobId')} on {prov.title} (Ctrl-C stops watching; the job keeps running).")
    try:
        snap = training.watch(
            project,
            prov,
            record,
            on_poll=on_poll,
            on_error=on_error,
            interval=interval,
            max_interval=min(60.0, max(interval, interval * 30)),
        )
    finally:
        if bar is not None:
            bar.stop()
    job = snap.job
    assert job is not None
    if as_json:
        echo_json(env, training.snapshot_json(snap))
    else:
        say(f"{job.id}: {job.status_text}" + (f"; model {job.output_model}" if job.output_model else ""))
        try:
            loss = prov.loss_curve(job.id, snap.events)
        except AitelierError:
            loss = []
        for line in loss_plot(loss, width=min(60, max(20, env.width(80) - 14))):
            say("  " + line)
    training.outcome(snap)


# -- ait cancel ----------------------------------------------------------------------------------------------------
@click.command()
@click.argument("ref", required=False)
@click.option("-y", "--yes", is_flag=True, help="Cancel without asking.")
def cancel(ref: str | None, yes: bool) -> None:
    """Cancel the latest active fine-tune (or REF: a run id or job id)."""
    from .. import runs, training

    env = get_env()
    project = open_project()
    if ref:
        record = runs.find(project, ref)
    else:
        active = [r for r in runs.all_runs(project) if r.get("jobId") and runs.is_active(r)]
        if not active:
            raise NotFound("no active fine-tune to cancel", hint="`ait status --all` lists every run")
        record = active[-1]
    if not record.get("jobId"):
        raise UsageError(f"run {record['id']} has no job to cancel (status: {record.get('status')})")
    if record.get("finishedAt"):
        raise UsageError(f"job {record['jobId']} already ended ({record.get('status')}); nothing to cancel")
    question = (
        f"Cancel fine-tune {record['jobId']} on {record.get('provider')} (status {record.get('status')})?"
    )
    if not env.confirm(question, NoTerminal("ait cancel asks before cancelling", "--yes", "cancel"), yes=yes):
        raise Declined("Not cancelled.")
    providers = _Providers(project)
    try:
        snap = training.cancel(project, providers.get(str(record["provider"])), record)
    finally:
        providers.close()
    assert snap.job is not None
    env.out(f"Cancel requested for {snap.job.id}: now {snap.job.status_text}.")
