"""`newsletter mailbox`: the mail that comes back (bounces, complaints, unsubscribe requests),
from a Maildir or an IMAP folder; `unsubscribe-mailbox` is its older name, kept as an alias."""

from __future__ import annotations

import os

import click

from newsletter.cli.root import cli, echo_json, engine_from, settings_from, warn_kept_key


def _run(
    ctx: click.Context,
    path: str | None,
    imap_url: str | None,
    delete: bool,
    as_json: bool,
    workers: int | None,
) -> None:
    from newsletter.errors import ConfigError
    from newsletter.mailbox.run import process
    from newsletter.tokens import signer_for

    if bool(path) == bool(imap_url):
        raise ConfigError("give a Maildir PATH or --imap imaps://user@host/FOLDER (one of them)")
    settings = settings_from(ctx)
    engine = engine_from(ctx)
    signer = signer_for(settings, allow_generated=True)
    if imap_url:
        from newsletter.mailbox.imap import ImapFolder

        source: object = ImapFolder(imap_url, settings, delete=delete)
    else:
        from newsletter.mailbox.maildir import Maildir

        source = Maildir(str(path), delete=delete)
    try:
        count = workers if workers is not None else min(2, os.cpu_count() or 1)
        report = process(engine, settings, signer, source, workers=count)  # type: ignore[arg-type]
    finally:
        source.close()  # type: ignore[attr-defined]
    if report.as_dict().get("read"):  # it acted: mail was read and applied
        warn_kept_key(ctx)
    if as_json:
        echo_json(report.as_dict())
        return
    for item in report.problems:
        click.echo(f"skipped {item['message']}: {item['reason']}", err=True)
    for item in report.unrecognised:
        click.echo(f"unrecognised {item['message']}: {item['reason']}")
    click.echo(f"mailbox {source.where()}: {report.summary()}")  # type: ignore[attr-defined]


_PATH = click.argument("path", required=False, type=click.Path(file_okay=False))
_OPTIONS = [
    click.option(
        "--imap",
        "imap_url",
        default=None,
        metavar="URL",
        help="Read imaps://user@host[:port]/FOLDER instead (password: NEWSLETTER_IMAP_PASSWORD).",
    ),
    click.option("--delete", is_flag=True, help="Delete processed messages instead of keeping."),
    click.option("--json", "as_json", is_flag=True, help="Print the report as JSON."),
    click.option(
        "--workers",
        type=click.IntRange(1, 16),
        default=None,
        help="Processes that read a Maildir (default: 2, or 1 on one CPU).",
    ),
]


def _with_options(func):  # type: ignore[no-untyped-def]
    for option in reversed(_OPTIONS):
        func = option(func)
    return _PATH(func)


@cli.command("mailbox")
@_with_options
@click.pass_context
def mailbox_cmd(ctx: click.Context, path: str | None, **options: object) -> None:
    """Process bounces (DSN), complaints (ARF) and unsubscribe requests in a Maildir PATH or an
    IMAP folder (for cron: exits non-zero only when the mailbox cannot be read)."""
    _run(ctx, path, **options)  # type: ignore[arg-type]


@cli.command("unsubscribe-mailbox")
@_with_options
@click.pass_context
def unsubscribe_mailbox(ctx: click.Context, path: str | None, **options: object) -> None:
    """The same as `mailbox` (its older name)."""
    _run(ctx, path, **options)  # type: ignore[arg-type]
