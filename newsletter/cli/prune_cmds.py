"""`newsletter prune` (for cron): erase subscribers who never confirmed."""

from __future__ import annotations

from datetime import timedelta

import click

from newsletter.cli.root import cli, engine_from, settings_from, warn_kept_key
from newsletter.errors import ConfigError
from newsletter.times import stamp_utc


@cli.command("prune")
@click.option(
    "--days",
    type=int,
    default=None,
    help="Erase those unconfirmed for longer than this (default: unconfirmed_days, 30).",
)
@click.option("--dry-run", is_flag=True, help="Count who would be erased; erase nothing.")
@click.option("-v", "--verbose", is_flag=True, help="Also say so when nobody is erased.")
@click.pass_context
def prune_cmd(ctx: click.Context, days: int | None, dry_run: bool, verbose: bool) -> None:
    """Erase never-confirmed subscribers (addresses anyone may have typed into the form) once
    nothing has happened to them for `unconfirmed_days`. Meant for cron: silent when idle."""
    from newsletter.audience.consent import prune_unconfirmed

    settings = settings_from(ctx)
    if days is None:
        days, where = settings.unconfirmed_days, settings.sources.get("unconfirmed_days")
    else:
        where = "--days"
    if days < 1:
        raise ConfigError(f"{where or 'unconfirmed_days'}: must be at least 1 (days), got {days}")
    count = prune_unconfirmed(engine_from(ctx), timedelta(days=days), dry_run=dry_run)
    if count or verbose:
        warn_kept_key(ctx)
        stamp = stamp_utc()
        verb = "would erase" if dry_run else "erased"
        click.echo(
            f"{stamp} prune: {verb} {count} never-confirmed subscriber"
            f"{'' if count == 1 else 's'} (unconfirmed for over {days} days)"
        )
