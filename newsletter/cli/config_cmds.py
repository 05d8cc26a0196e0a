"""`newsletter config`, `newsletter db upgrade` and `newsletter db status`."""

from __future__ import annotations

import click

from newsletter.cli.root import cli, settings_from


@cli.command("config")
@click.pass_context
def config_cmd(ctx: click.Context) -> None:
    """Print the effective settings, secrets masked, and where each came from."""
    from newsletter.config import masked

    rows = masked(settings_from(ctx))
    width = max(len(name) for name, _, _ in rows)
    for name, value, source in rows:
        click.echo(f"{name:<{width}}  {value or '(empty)'}  [{source}]")


@cli.group("db")
def db_group() -> None:
    """Database maintenance."""


@db_group.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply pending schema migrations (also done automatically on first use)."""
    from newsletter.db.engine import make_engine
    from newsletter.db.migrate import upgrade

    engine = make_engine(settings_from(ctx).effective_database_url, upgrade=False)
    result = upgrade(engine)
    before = result.before or "empty"
    if result.changed:
        click.echo(f"database upgraded from revision {before} to {result.after}")
    else:
        click.echo(f"database is at revision {result.after}, the latest; nothing to do")


@db_group.command("status")
@click.pass_context
def db_status(ctx: click.Context) -> None:
    """Show the database's schema revision and whether it is the latest."""
    from newsletter.db.connection import create
    from newsletter.db.migrate import HEAD, current_revision

    engine = create(settings_from(ctx).effective_database_url, existing=True)  # changes nothing
    now = current_revision(engine)
    if now == HEAD:
        click.echo(f"database is at revision {now}, the latest")
    else:
        click.echo(
            f"database is at revision {now or 'none (empty)'}; the latest is {HEAD}: "
            "run `newsletter db upgrade` (or any command that writes: it upgrades on first use)"
        )
