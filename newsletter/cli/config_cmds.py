"""`newsletter config` and `newsletter db upgrade`."""

from __future__ import annotations

import click

from newsletter.cli import cli, settings_from


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
    from newsletter.db import make_engine
    from newsletter.migrations import HEAD, upgrade

    engine = make_engine(settings_from(ctx).effective_database_url, upgrade=False)
    applied = upgrade(engine)
    for step in applied:
        click.echo(f"applied migration {step}")
    click.echo(f"database is at schema version {HEAD}")
