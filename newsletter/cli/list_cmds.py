"""`newsletter lists` and `newsletter lists create`."""

from __future__ import annotations

import click

from newsletter.cli.root import cli, echo_json, engine_from, reading_engine_from


@cli.group("lists", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--history",
    is_flag=True,
    help="Per week: joins, confirmations, unsubscribes, bounces and complaints.",
)
@click.option(
    "--weeks",
    type=click.IntRange(1, 520),
    default=None,
    help="With --history: how many weeks, the current one last (default 12).",
)
@click.pass_context
def lists_group(ctx: click.Context, as_json: bool, history: bool, weeks: int | None) -> None:
    """Show every list with its members by status (subcommand: create)."""
    if ctx.invoked_subcommand:
        return
    if weeks is not None and not history:
        raise click.UsageError("--weeks goes with --history: newsletter lists --history --weeks 8")
    if history:
        from newsletter.cli.history_cmds import DEFAULT_WEEKS, show_history

        show_history(ctx, weeks or DEFAULT_WEEKS, as_json)
        return
    from newsletter.audience.lists import list_counts

    rows = list_counts(reading_engine_from(ctx))
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no lists yet; create one with `newsletter lists create SLUG --name ...`")
        return
    from newsletter.audience.member_status import SHOWN_STATUSES

    width = max(len(r["slug"]) for r in rows)
    click.echo(f"{'list':<{width}}  " + "  ".join(SHOWN_STATUSES) + "  name")
    for r in rows:
        counts = "  ".join(f"{r[s]:>{len(s)}}" for s in SHOWN_STATUSES)
        click.echo(f"{r['slug']:<{width}}  {counts}  {r['name']}")


@lists_group.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="Name shown to subscribers.")
@click.option("--description", default="")
@click.option("--from-name", default="", help="Sender name for this list (default: settings).")
@click.option("--from-address", default="", help="Sender address for this list.")
@click.option("--reply-to", default="")
@click.pass_context
def lists_create(
    ctx: click.Context,
    slug: str,
    name: str,
    description: str,
    from_name: str,
    from_address: str,
    reply_to: str,
) -> None:
    """Create a list."""
    from newsletter.audience.lists import create_list

    row = create_list(engine_from(ctx), slug, name, description, from_name, from_address, reply_to)
    click.echo(f"created list '{row['slug']}' ({row['name']})")
