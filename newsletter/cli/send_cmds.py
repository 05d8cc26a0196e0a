"""`newsletter send`, `test-send` and `worker`."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from newsletter.authoring.ab_front import LETTERS
from newsletter.cli.preflight import FORCE_FLAG, FORCE_HELP, preflight
from newsletter.cli.progress import Reporter
from newsletter.cli.root import cli, engine_from, settings_from
from newsletter.cli.stopping import graceful_stop, replay_journals, stop_line, stopped_exit
from newsletter.errors import RelayOutage, SendError
from newsletter.models import BACKENDS
from newsletter.sending.stopping import STOP

if TYPE_CHECKING:
    from newsletter.config import Settings
    from newsletter.sending.batches import Progress
    from newsletter.sending.plan import Plan


def _issue_path(ref: str, settings: Settings) -> Path:
    from newsletter.authoring.issue_file import resolve_issue

    return resolve_issue(ref, settings.issues_dir)


def _rate(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        rate = float(value.removesuffix("/s"))
    except ValueError:
        raise click.BadParameter(f"{value!r}: give messages per second, e.g. 50 or 50/s") from None
    if rate < 0:
        raise click.BadParameter("the rate cannot be negative")
    return rate


@cli.command("send")
@click.argument("issue")
@click.option("--list", "lists", multiple=True, help="List slug (default: the issue's lists).")
@click.option(
    "--backend", type=click.Choice(BACKENDS), default=None, help="Override the configured backend."
)
@click.option("--dry-run", is_flag=True, help="Do everything but deliver; say what would be sent.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--rate", default=None, help="At most N messages per second (e.g. 50 or 50/s).")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="Send to at most N recipients in this run (continue later with --resume).",
)
@click.option("--resume", is_flag=True, help="Continue an interrupted send.")
@click.option("--rerender", is_flag=True, help="With --resume: send the changed issue file.")
@click.option("--retry-failed", is_flag=True, help="Send again to recipients that failed.")
@click.option(
    "--retry-unknown",
    is_flag=True,
    help="Send again to recipients whose delivery is unknown (they may get it twice).",
)
@click.option(
    "--cancel", "cancel_send", is_flag=True, help="Stop the unfinished send of this issue."
)
@click.option("--json", "as_json", is_flag=True, help="Print the final summary as JSON.")
@click.option(FORCE_FLAG, "force_preflight", is_flag=True, help=FORCE_HELP)
@click.option(
    "--winner",
    type=click.Choice(list(LETTERS), case_sensitive=False),
    help="A subject-line test's winner by hand (once its test phase is sent): send it now.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 32),
    default=None,
    help="Processes sharing the send on this machine (default: one per core, up to "
    "send_workers_max, once the audience reaches send_workers_from; not with --limit).",
)
@click.pass_context
def send_cmd(
    ctx: click.Context,
    issue: str,
    lists: tuple[str, ...],
    backend: str | None,
    dry_run: bool,
    yes: bool,
    rate: str | None,
    limit: int | None,
    resume: bool,
    rerender: bool,
    retry_failed: bool,
    retry_unknown: bool,
    cancel_send: bool,
    as_json: bool,
    force_preflight: bool,
    winner: str | None,
    workers: int | None,
) -> None:
    """Send ISSUE (a file or an issue id) to its lists, through the ledger."""
    from newsletter.sending.plan import SendOptions, prepare
    from newsletter.sending.send import cancel

    settings, engine = settings_from(ctx), engine_from(ctx)
    replay_journals(ctx)
    path = _issue_path(issue, settings)
    if cancel_send:
        send_id = cancel(engine, path.stem, lists or None)
        click.echo(f"send #{send_id} of {path.stem} cancelled; workers finish what is on the wire")
        return
    if workers and workers > 1 and limit:
        raise click.UsageError("--workers cannot be combined with --limit")
    options = SendOptions(
        lists=lists,
        backend=backend or "",
        dry_run=dry_run,
        rate=_rate(rate),
        limit=limit,
        resume=resume,
        rerender=rerender,
        retry_failed=retry_failed,
        retry_unknown=retry_unknown,
        workers=workers,
        force_preflight=force_preflight,
        winner=LETTERS.index(winner.upper()) if winner else None,
    )
    preflight(settings, path, backend or settings.backend, force=force_preflight, say=_say)
    plan = prepare(engine, settings, path, options)
    for note in plan.notes:
        click.echo(f"note: {note}", err=True)
    if _nothing_to_send(plan, as_json):
        return
    _confirm(plan, yes)
    _run(ctx, plan, as_json)


def _say(line: str) -> None:
    click.echo(line, err=True)


def _describe(plan: Plan) -> str:
    slugs = ", ".join(lst["slug"] for lst in plan.lists)
    return f"{plan.issue.id} to {plan.audience} recipient(s) of {slugs} via {plan.backend}"


def _nothing_to_send(plan: Plan, as_json: bool) -> bool:
    """Print the summary of a send that delivers nothing (already sent, dry run); True if so."""
    slugs = ", ".join(lst["slug"] for lst in plan.lists)
    summary: dict[str, Any] = {"issue": plan.issue.id, "lists": slugs}
    if plan.nothing_to_do:
        _summary(as_json, {**summary, "message": plan.nothing_to_do})
        return True
    if plan.options.dry_run:
        _summary(
            as_json,
            {
                **summary,
                "would_send": plan.audience,
                "backend": plan.backend,
                "message": f"dry run: would send {_describe(plan)}",
            },
        )
        return True
    return False


def _confirm(plan: Plan, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise SendError(
            f"about to send {_describe(plan)}: not on a terminal, so add --yes to confirm"
        )
    click.confirm(f"Send {_describe(plan)}?", abort=True)


def _run(ctx: click.Context, plan: Plan, as_json: bool) -> None:
    from newsletter.sending.send import execute

    settings, engine = settings_from(ctx), engine_from(ctx)
    started = time.monotonic()
    with Reporter("sending", plan.audience) as reporter:

        def report(p: Progress) -> None:
            info = f"sent {p.counts['sent']} failed {p.counts['failed']} {p.rate:.0f}/s"
            line = f"send #{p.send_id}: {p.this_run}/{plan.audience} processed, {info}"
            reporter.update(p.this_run, info=info, line=line, final=p.counts["queued"] <= 0)

        try:
            with graceful_stop():
                progress = execute(engine, settings, plan, report, _worker_command(ctx))
        except RelayOutage as exc:
            raise SendError(
                f"{exc}; continue with `newsletter send {plan.issue.id} --resume` once it "
                "takes mail again"
            ) from None
    assert progress is not None
    counts = progress.counts
    if STOP.asked:
        stopped_exit(stop_line(counts, f"newsletter send {plan.issue.id} --resume"))
    elapsed = time.monotonic() - started
    see = (
        f" (see `newsletter status {plan.issue.id}`)"
        if counts["failed"] or counts["unknown"]
        else ""
    )
    _summary(
        as_json,
        {
            "issue": plan.issue.id,
            "lists": ", ".join(lst["slug"] for lst in plan.lists),
            "send_id": progress.send_id,
            "backend": plan.backend,
            "processed": progress.this_run,
            "seconds": round(elapsed, 2),
            "rate": round(progress.this_run / max(elapsed, 1e-6), 1),
            "counts": counts,
            "message": (
                f"send #{progress.send_id}: {counts['sent']} sent, {counts['failed']} "
                f"failed, {counts['skipped']} skipped, {counts['unknown']} unknown, "
                f"{counts['queued']} still queued"
                + (f", {counts['held']} held for the winner{see}" if counts["held"] else see)
            ),
        },
    )


def _worker_command(ctx: click.Context) -> list[str]:
    config = ctx.find_root().obj.get("config_path")
    return [
        sys.executable,
        "-m",
        "newsletter",
        *(["--config", config] if config else []),
        "worker",
        "--once",
    ]


def _summary(as_json: bool, data: dict) -> None:
    click.echo(json.dumps(data, indent=2, default=str) if as_json else data["message"])


@cli.command("test-send")
@click.argument("issue")
@click.option("--to", "addresses", multiple=True, required=True, help="Recipient address.")
@click.option(
    "--list", "slug", default="", help="Send it as this list gets it (default: the issue's first)."
)
@click.option("--backend", type=click.Choice(BACKENDS), default=None)
@click.option(FORCE_FLAG, "force_preflight", is_flag=True, help=FORCE_HELP)
@click.pass_context
def test_send_cmd(
    ctx: click.Context,
    issue: str,
    addresses: tuple[str, ...],
    slug: str,
    backend: str | None,
    force_preflight: bool,
) -> None:
    """Send ISSUE to the given addresses only ("[TEST]" subject), outside the ledger, with the
    list's own sender, Reply-To and name."""
    from newsletter.cli.build_cmds import proof_list_of
    from newsletter.sending.proof import send_proof

    settings = settings_from(ctx)
    path = _issue_path(issue, settings)
    preflight(settings, path, backend or settings.backend, force=force_preflight, say=_say)
    the_list = proof_list_of(ctx, path, slug)  # no database yet: the configured sender
    results = send_proof(settings, path, addresses, backend or "", the_list=the_list)
    for address, result in zip(addresses, results, strict=False):
        detail = f" ({result.detail})" if result.detail else ""
        click.echo(f"{address}: {result.status}{detail}")
    if any(r.status != "sent" for r in results):
        sys.exit(1)


@cli.command("worker")
@click.option("--once", is_flag=True, help="Exit when no running send has work left.")
@click.option("--send", "send_id", type=int, default=None, help="Work on this send id only.")
@click.option("--rate", default=None, help="At most N messages per second from this worker.")
@click.pass_context
def worker_cmd(ctx: click.Context, once: bool, send_id: int | None, rate: str | None) -> None:
    """Claim and send batches of any running send (several may run, on several machines)."""
    from newsletter.sending.worker_loop import run_worker

    replay_journals(ctx)
    with graceful_stop():
        done = run_worker(
            engine_from(ctx), settings_from(ctx), once=once, only_send=send_id, rate=_rate(rate)
        )
    if STOP.asked:
        stopped_exit(f"worker processed {done:,} recipient(s); it left nothing claimed")
    click.echo(f"worker finished: {done} recipient(s) processed")
