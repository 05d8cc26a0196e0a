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
    from newsletter.mailbox.lock import held
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
        with held(source.lock_path()) as mine:  # type: ignore[attr-defined]
            if not mine:
                busy = "another newsletter mailbox run is processing this folder; nothing done"
                if as_json:
                    echo_json({"busy": True, "summary": busy})
                else:
                    click.echo(f"mailbox {source.where()}: {busy}")  # type: ignore[attr-defined]
                return
            if imap_url:
                from newsletter.mailbox import folders

                name = source.name()  # type: ignore[attr-defined]
                first = not folders.keyword_in_use(engine, name)
                source.first_keyword_run = first  # type: ignore[attr-defined]
            count = workers if workers is not None else min(2, os.cpu_count() or 1)
            report = process(engine, settings, signer, source, workers=count)  # type: ignore[arg-type]
            if imap_url:
                folders.remember(engine, name)
    finally:
        source.close()  # type: ignore[attr-defined]
    if report.as_dict().get("read"):  # it acted: mail was read and applied
        warn_kept_key(ctx)
    if as_json:
        echo_json(report.as_dict())
        return
    from newsletter.safe_text import one_line

    for item in report.problems:  # the reasons are cleaned where made; once more, on output
        click.echo(f"skipped {one_line(item['message'])}: {one_line(item['reason'])}", err=True)
    for item in report.unrecognised:
        click.echo(f"unrecognised {one_line(item['message'])}: {one_line(item['reason'])}")
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
