"""`newsletter send`, `test-send` and `worker`."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from newsletter.authoring.ab_front import LETTERS
from newsletter.cli.audience_cmds import named_from
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
@click.option("--where", default="", help="Only to the subscribers of this segment.")
@click.option("--again", is_flag=True, help="A follow-up of a sent issue, to --where.")
@click.option("--subject", default="", help="With --again: the follow-up's own subject.")
@click.option("--send", "send_id", type=int, default=None, help="Resume or cancel send N.")
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
    where: str,
    again: bool,
    subject: str,
    send_id: int | None,
) -> None:
    """Send ISSUE (a file or an issue id) to its lists, through the ledger."""
    from newsletter.sending.plan import SendOptions, prepare
    from newsletter.sending.send import cancel

    settings, engine = settings_from(ctx), engine_from(ctx)
    replay_journals(ctx)
    path = _issue_path(issue, settings)
    if cancel_send:
        return _cancel(cancel(engine, path.stem, lists or None, send_id), path.stem)
    _check_flags(workers, limit, subject, again)
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
        where=where,
        again=again,
        subject=subject,
        named=named_from(ctx),
        send_id=send_id,
        winner=LETTERS.index(winner.upper()) if winner else None,
    )
    preflight(settings, path, backend or settings.backend, force=force_preflight, say=_say)
    plan = prepare(engine, settings, path, options)
    click.echo("".join(f"note: {note}\n" for note in plan.notes), err=True, nl=False)
    if _nothing_to_send(plan, as_json):
        return
    _confirm(plan, yes)
    _run(ctx, plan, as_json)


def _cancel(stopped: int, issue_id: str) -> None:
    click.echo(f"send #{stopped} of {issue_id} cancelled; workers finish what is on the wire")


def _check_flags(workers: int | None, limit: int | None, subject: str, again: bool) -> None:
    if workers and workers > 1 and limit:
        raise click.UsageError("--workers cannot be combined with --limit")
    if subject and not again:
        raise click.UsageError("--subject is for a follow-up: add --again --where ...")


def _say(line: str) -> None:
    click.echo(line, err=True)


def _describe(plan: Plan) -> str:
    slugs = ", ".join(lst["slug"] for lst in plan.lists)
    what = plan.issue.id + (" (follow-up)" if plan.followup else "")
    where = f" where {plan.segment.normal}" if plan.segment else ""
    speaks = f", in {plan.language}" if plan.language else ""
    return f"{what} to {plan.audience} recipient(s) of {slugs}{where} via {plan.backend}{speaks}"


def _nothing_to_send(plan: Plan, as_json: bool) -> bool:
    """Print the summary of a send that delivers nothing (already sent, dry run); True if so."""
    slugs = ", ".join(lst["slug"] for lst in plan.lists)
    summary: dict[str, Any] = {"issue": plan.issue.id, "lists": slugs}
    if plan.segment is not None:
        summary.update(segment=plan.segment.normal, left_out_untracked=plan.untracked)
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
                "language": plan.language,
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
