"""`newsletter lists --history [--weeks N]`: per week, joins, confirmations, unsubscribes,
bounces and complaints (`audience.growth`), as a table or JSON. It only reads."""

from __future__ import annotations

import click

from newsletter.cli.root import echo_json, reading_engine_from

DEFAULT_WEEKS = 12


def show_history(ctx: click.Context, weeks: int, as_json: bool) -> None:
    """Print the last `weeks` weeks, oldest first, and their totals."""
    from newsletter.audience.growth import KINDS, weekly_history
    from newsletter.db.connection import reading

    with reading(reading_engine_from(ctx)) as conn:
        rows = weekly_history(conn, weeks)
    if as_json:
        echo_json([{**r, "week": r["week"].isoformat()} for r in rows])
        return
    click.echo("week of     " + "  ".join(KINDS))
    for r in rows:
        click.echo(f"{r['week'].isoformat()}  " + _counts(r, KINDS))
    totals = {k: sum(r[k] for r in rows) for k in KINDS}
    click.echo(f"{'total':<10}  " + _counts(totals, KINDS))
    click.echo("weeks start on Monday (UTC); joins: memberships made, imports included")


def _counts(row: dict, kinds: tuple[str, ...]) -> str:
    return "  ".join(f"{row[k]:>{len(k)}}" for k in kinds)
