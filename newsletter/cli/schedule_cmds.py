"""`newsletter send-due` (for cron) and `newsletter schedule`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from newsletter.cli.audience_cmds import named_from
from newsletter.cli.preflight import FORCE_FLAG, FORCE_HELP, preflight
from newsletter.cli.root import (
    cli,
    engine_from,
    reading_engine_from,
    settings_from,
    warn_kept_key,
)
from newsletter.cli.stopping import graceful_stop, replay_journals, stopped_exit
from newsletter.errors import ConfigError, NewsletterError
from newsletter.sending.stopping import STOP
from newsletter.times import minute_utc, stamp_utc


def _now(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"--now: {value!r} is not an ISO 8601 time (e.g. 2019-03-01T14:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        raise ConfigError(f"--now: {value!r} has no timezone; add Z or an offset like +01:00")
    return moment.astimezone(UTC)


@cli.command("send-due")
@click.option(
    "--issues",
    "issues_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder of issue files (default: issues_dir setting).",
)
@click.option("--now", "now_text", default=None, help="Pretend it is this time (ISO 8601).")
@click.option("--dry-run", is_flag=True, help="Say what would go out; send nothing.")
@click.option(
    "--max-late",
    default=None,
    help="Never start an issue more than this past its send_at (default: max_late, 24h).",
)
@click.option("-v", "--verbose", is_flag=True, help="Also report issues with nothing to do.")
@click.option(FORCE_FLAG, "force_preflight", is_flag=True, help=FORCE_HELP)
@click.pass_context
def send_due_cmd(
    ctx: click.Context,
    issues_dir: str | None,
    now_text: str | None,
    dry_run: bool,
    max_late: str | None,
    verbose: bool,
    force_preflight: bool,
) -> None:
    """Send every issue whose send_at has passed, once. Meant for cron: silent when idle."""
    from newsletter.sending.schedule import parse_duration, send_due

    settings = settings_from(ctx)
    now = _now(now_text)
    late = parse_duration(max_late or settings.max_late, "--max-late" if max_late else "max_late")
    folder = Path(issues_dir or settings.issues_dir)
    engine = engine_from(ctx)
    replay_journals(ctx)

    def log(line: str, problem: bool) -> None:
        warn_kept_key(ctx)  # once, and only when there is something to say
        click.echo(f"{stamp_utc()} send-due: {line}", err=problem)

    with graceful_stop():  # sequence steps first: a long issue send never holds back a welcome
        ok = dry_run or _sequences(engine, settings, (now, late), log, verbose, force_preflight)
    entries = _scheduled(engine, settings, folder, (now, late), (bool(issues_dir), bool(now_text)))

    def gate(path: Path) -> None:
        def say(line: str) -> None:
            log(f"{path.stem}: {line}", line.startswith("error") or ": error: " in line)

        preflight(settings, path, settings.backend, force=force_preflight, say=say)

    with graceful_stop():
        ok = (
            send_due(
                engine,
                settings,
                entries,
                dry_run=dry_run,
                log=log,
                verbose=verbose,
                gate=gate,
                force_preflight=force_preflight,
                now=now,
                named=named_from(ctx),
            )
            and ok
        )
    if STOP.asked:
        stopped_exit("send-due stopped; its next run continues what is left")
    if not dry_run:  # hits past tracking_retention_months become totals (cron runs this)
        from newsletter.tracking.retention import expire

        for send_id in expire(engine, settings, now):
            log(f"send #{send_id}: hits older than the retention period folded into totals", False)
    if verbose and not entries:
        log(f"no scheduled issues in {folder}", False)
    sys.exit(0 if ok else 1)


def _scheduled(
    engine: Any,
    settings: Any,
    folder: Path,
    when: tuple[datetime, timedelta],
    given: tuple[bool, bool],
) -> list[Any]:
    """The issue files send-due plans (`given`: whether --issues and --now were); a project
    of sequences only (no issues folder, none named with --issues) has none."""
    from newsletter.sending.schedule import plan

    named_folder, pretend = given
    if not named_folder and not folder.is_dir() and Path(settings.sequences_dir).is_dir():
        return []
    return plan(engine, settings, folder, *when, pretend=pretend)


def _sequences(
    engine: Any,
    settings: Any,
    clock: tuple[datetime, timedelta],
    log: Callable[[str, bool], None],
    verbose: bool,
    force: bool,
) -> bool:
    """The sequences folder's steps that are due (README: Sequences); False if any failed.
    A sequence with an error in its files is reported and left alone; the others go on. The
    settings half of the pre-flight gate is asked once, when a step is first about to go out."""
    from newsletter.cli.preflight import settings_gate
    from newsletter.sequences.files import read_sequences
    from newsletter.sequences.run import send_sequences

    verdict: list[Exception | None] = []

    def say(line: str) -> None:
        log(f"sequences: {line}", ": error: " in line or line.startswith("error"))

    def gate() -> None:
        if not verdict:
            try:
                settings_gate(settings, force=force, say=say)
                verdict.append(None)
            except NewsletterError as exc:
                verdict.append(exc)
        if verdict[0] is not None:
            raise verdict[0]

    found, problems = read_sequences(settings.sequences_dir)
    errors = [p for p in problems if p.severity == "error"]
    for problem in errors:
        log(f"sequence not sent: {problem}", True)
    if STOP.asked:
        return not errors
    now, late = clock
    sent = send_sequences(
        engine, settings, found, now=now, max_late=late, log=log, verbose=verbose, gate=gate
    )
    return sent and not errors


@cli.command("schedule")
@click.option("--issues", "issues_dir", type=click.Path(file_okay=False), default=None)
@click.option("--now", "now_text", default=None, help="Pretend it is this time (ISO 8601).")
@click.option("--max-late", default=None)
@click.pass_context
def schedule_cmd(
    ctx: click.Context, issues_dir: str | None, now_text: str | None, max_late: str | None
) -> None:
    """List scheduled issues (UTC and local time) and what send-due would do now."""
    from newsletter.authoring.send_time import local_time
    from newsletter.sending.schedule import parse_duration, plan

    settings = settings_from(ctx)
    now = _now(now_text)
    late = parse_duration(max_late or settings.max_late)
    folder = Path(issues_dir or settings.issues_dir)
    entries = plan(reading_engine_from(ctx), settings, folder, now, late)
    if not entries:
        click.echo(f"no scheduled issues in {folder}")
        return
    for e in entries:
        if e.send_at is None:
            click.echo(f"{e.issue_id}: {e.state}: {e.detail}")
            continue
        utc, local = minute_utc(e.send_at), local_time(e.send_at)
        click.echo(f"{e.issue_id}  {utc}  ({local})  {e.state}: {e.detail}")
