"""`newsletter secret rotate` (the steps of a key rotation, with a new key) and `newsletter
secret retire` (stop accepting the outbox's generated key once NEWSLETTER_SECRET_KEY replaced
it). Which keys sign and verify: `config.keys`."""

from __future__ import annotations

import secrets
import sys

import click

from newsletter.cli.root import cli, settings_from
from newsletter.errors import ConfigError


@cli.group("secret")
def secret_group() -> None:
    """The keys that sign unsubscribe, preferences and confirmation links (rotate, retire)."""


@secret_group.command("rotate")
@click.pass_context
def rotate(ctx: click.Context) -> None:
    """Print a new key and the steps to switch to it without breaking links already mailed."""
    from newsletter.config.keys import KEEP_OLD_DAYS, kept_generated_key, secret_file_location

    settings = settings_from(ctx)
    new = secrets.token_urlsafe(32)
    current = settings.secret_key
    if not current:
        path = secret_file_location(settings)
        current = path.read_text(encoding="ascii").strip() if path.is_file() else ""
    old = [k.strip() for k in settings.old_secret_keys.split(",") if k.strip()]
    kept = kept_generated_key(settings)
    keep = [k for k in (current, *old, *((kept[1],) if kept else ())) if k]
    click.echo("To rotate the secret key, in the environment of every sender and the web app:")
    click.echo(f"  1. the new key:      NEWSLETTER_SECRET_KEY={new}")
    if keep:
        click.echo(
            f"  2. keep the old one: NEWSLETTER_OLD_SECRET_KEYS={','.join(dict.fromkeys(keep))}"
        )
        click.echo(
            f"     for at least {KEEP_OLD_DAYS} days: links already mailed were signed with it, "
            "and an unsubscribe link must keep working for 30 days after its mail"
        )
    click.echo("  3. restart the web app and any `newsletter worker`; cron jobs read it next run")
    click.echo(
        f"  4. after {KEEP_OLD_DAYS} days, drop the old key from NEWSLETTER_OLD_SECRET_KEYS"
        + (" and run `newsletter secret retire`" if kept else "")
    )


@secret_group.command("retire")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def retire(ctx: click.Context, yes: bool) -> None:
    """Delete the outbox's generated key (.newsletter-secret) once NEWSLETTER_SECRET_KEY replaced
    it: links signed with it stop working."""
    from newsletter.config.keys import kept_generated_key, secret_file_location

    settings = settings_from(ctx)
    if not settings.secret_key:
        raise ConfigError(
            f"NEWSLETTER_SECRET_KEY is not set: {secret_file_location(settings)} is the key in "
            "use, so it cannot be retired (set your own key first; see `newsletter secret rotate`)"
        )
    kept = kept_generated_key(settings)
    if kept is None:
        click.echo("no generated key to retire: only NEWSLETTER_SECRET_KEY and its old keys sign")
        return
    path = kept[0]
    question = f"delete {path}? links mailed with the generated key stop working"
    if not yes:
        if not sys.stdin.isatty():
            raise ConfigError(f"{question}: not on a terminal, so add --yes to confirm")
        click.confirm(question[0].upper() + question[1:], abort=True)
    try:
        path.unlink()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot delete the generated key: {exc.strerror}") from None
    click.echo(f"retired {path}: links signed with the generated key are no longer accepted")
