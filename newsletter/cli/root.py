"""The root `newsletter` command group and what every command shares: settings and the
database engine, loaded once per invocation (lazily: `--help` never reads the config)."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any

import click

from newsletter.errors import NewsletterError
from newsletter.safe_text import one_line


class _Group(click.Group):
    """The root group. Its commands load on demand: `lazy` (set by `main.py`) names the
    module(s) that add each one, and `load` imports them, so `newsletter build` never imports
    the modules of `send`, `mailbox` or `serve` (start-up time is most of a build). The import
    lives in `main.py`, beside its literal table, where the layer test reads it."""

    lazy: dict[str, tuple[str, ...]] = {}
    load: Callable[[str], None] | None = None

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and self.load is not None:
            self.load(cmd_name)  # it adds the command to this group
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NewsletterError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            # One line whatever the message holds (drivers put newlines in theirs); a problem at
            # a place in a file reads `FILE:LINE: error: message`, as `check` writes it.
            located = getattr(exc, "line", None)
            text = located if isinstance(located, str) else "error: " + str(exc)
            click.echo(one_line(text), err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Path to newsletter.toml (default: ./newsletter.toml if present).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.version_option(package_name="newsletter")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, debug: bool) -> None:
    """Write newsletter issues in Markdown, render them once, send them safely."""
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_path
    ctx.obj["debug"] = debug


# Commands that are silent when they have nothing to do (cron): they call `warn_kept_key`
# themselves once they act. `secret` explains the keys itself.
QUIET_WHEN_IDLE = ("send-due", "prune", "mailbox", "unsubscribe-mailbox", "secret")


def settings_from(ctx: click.Context) -> Any:
    """Load settings once per invocation (lazily: `--help` never reads the config)."""
    from newsletter.config import load_settings

    root = ctx.find_root()
    root.ensure_object(dict)
    if "settings" not in root.obj:
        settings = load_settings(root.obj.get("config_path"))
        for warning in settings.warnings:  # e.g. a typo in a NEWSLETTER_* variable
            click.echo(f"warning: {warning}", err=True)
        root.obj["settings"] = settings
        if root.invoked_subcommand not in QUIET_WHEN_IDLE:
            warn_kept_key(ctx)
    return root.obj["settings"]


def warn_kept_key(ctx: click.Context) -> None:
    """Say, once per invocation, that a generated key NEWSLETTER_SECRET_KEY replaced is still
    accepted (`config.keys`)."""
    from newsletter.config.keys import kept_key_warning

    root = ctx.find_root()
    if root.obj.get("key_warned"):
        return
    root.obj["key_warned"] = True
    warning = kept_key_warning(settings_from(ctx))
    if warning:
        click.echo(f"warning: {warning}", err=True)


def engine_from(ctx: click.Context) -> Any:
    """The database engine for this invocation, migrated on first use."""
    from newsletter.db.engine import make_engine

    root = ctx.find_root()
    if "engine" not in root.obj:
        url = settings_from(ctx).effective_database_url
        root.obj["engine"] = make_engine(url)
        _warn_if_exposed(url)
    return root.obj["engine"]


def _warn_if_exposed(url: str) -> None:
    from newsletter.db.connection import exposed_database

    warning = exposed_database(url)
    if warning:
        click.echo(f"warning: {warning}", err=True)


def reading_engine_from(ctx: click.Context) -> Any:
    """The engine for a command that only reads: opening it creates and upgrades nothing, and a
    missing, empty or outdated database is one error line (`db.engine.open_for_reading`)."""
    from newsletter.db.engine import open_for_reading

    root = ctx.find_root()
    if "engine" not in root.obj:  # at the newest revision: as good as `engine_from`'s
        url = settings_from(ctx).effective_database_url
        root.obj["engine"] = open_for_reading(url)
        _warn_if_exposed(url)
    return root.obj["engine"]


_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def echo_json(data: object) -> None:
    """Print `data` as indented JSON (datetimes as ISO 8601)."""

    def default(value: object) -> str:
        return value.isoformat() if isinstance(value, datetime) else str(value)

    text = json.dumps(data, indent=2, default=default, ensure_ascii=False)
    # JSON allows raw C1 controls and bidi overrides, which a terminal obeys: written escaped.
    click.echo(_UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text))
