"""`newsletter subscribers import` and `export`: CSV, with progress on stderr."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING

import click

from newsletter.cli import progress
from newsletter.cli.root import echo_json, engine_from, reading_engine_from
from newsletter.cli.subscriber_cmds import subscribers_group
from newsletter.errors import NewsletterError

if TYPE_CHECKING:
    from newsletter.audience.csv_import import ImportReport

BOM = "\ufeff"  # U+FEFF, which UTF-8 writes as EF BB BF

# (done, total, info beside the bar, plain line); `done` and `total` in rows or bytes
Update = Callable[[int, int, str, str], None]


@contextmanager
def _progress(label: str, *, in_bytes: bool = False) -> Iterator[Update]:
    """An `update(done, total, info, line)` for a long command: a `progress.Reporter` opened at
    the first call (when the total is known): a bar on stderr when it is a terminal, else a
    plain line on stderr at most every PLAIN_EVERY_S, the first one only once the command has
    run that long, so a quick command prints nothing but its summary."""
    started = time.monotonic()
    with ExitStack() as stack:
        reporter: progress.Reporter | None = None

        def update(done: int, total: int, info: str, line: str) -> None:
            nonlocal reporter
            if reporter is None:
                reporter = stack.enter_context(progress.Reporter(label, total, in_bytes=in_bytes))
            if reporter.bar is None and time.monotonic() - started < progress.PLAIN_EVERY_S:
                return
            reporter.update(done, info=info, line=line)

        yield update


def _rate(count: int, started: float) -> str:
    return f"{count / max(time.monotonic() - started, 1e-6):,.0f} rows/s"


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


@subscribers_group.command("import")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--list", "list_slug", required=True)
@click.option("--dry-run", is_flag=True, help="Report what would happen; write nothing.")
@click.option("--unconfirmed", is_flag=True, help="New members need double opt-in.")
@click.option(
    "--as",
    "as_reason",
    type=click.Choice(["unsubscribed", "bounced", "complained"]),
    default=None,
    help="Past opt-outs or bounces from another provider: suppress these addresses (an "
    "unsubscribe from this list, a bounce or complaint from every list); nobody is mailed.",
)
@click.option(
    "--delimiter",
    default=None,
    help="The column separator (default: sniffed from the header: ',', ';', tab or '|').",
)
@click.option(
    "--no-sequences",
    is_flag=True,
    help="The members this import subscribes join no sequence (no welcome mail): bulk imports.",
)
@click.option("--json", "as_json", is_flag=True, help="Only the summary, as JSON; no progress.")
@click.pass_context
def subscribers_import(
    ctx: click.Context,
    path: str,
    list_slug: str,
    dry_run: bool,
    unconfirmed: bool,
    as_reason: str | None,
    delimiter: str | None,
    no_sequences: bool,
    as_json: bool,
) -> None:
    """Import a CSV (an address column such as 'email' or 'Email Address', a name, others
    become attributes), or with --as bring past opt-outs and bounces in as suppressions.

    Progress goes to stderr, like the bad rows: a bar by bytes of the file on a terminal,
    otherwise a line every 2 s once the import has run that long; none with --json. The
    summary goes to stdout. A file whose every row was rejected exits with status 1."""
    from newsletter.audience.csv_import import ImportProgress, import_csv

    if as_reason and unconfirmed:
        raise click.UsageError("--as and --unconfirmed do not go together: --as adds nobody")
    with _progress("importing", in_bytes=True) as update:
        started = time.monotonic()
        name = click.format_filename(path, shorten=True)

        def report_progress(p: ImportProgress) -> None:
            rate = _rate(p.rows, started)
            update(
                p.bytes_read,
                p.total_bytes,
                f"{p.rows:,} rows, {rate}",
                f"import {name}: {p.rows:,} rows ({_mb(p.bytes_read)} of "
                f"{_mb(p.total_bytes)}), {rate}",
            )

        report = import_csv(
            engine_from(ctx),
            path,
            list_slug,
            dry_run=dry_run,
            status="unconfirmed" if unconfirmed else "subscribed",
            on_progress=None if as_json else report_progress,
            delimiter=_delimiter(delimiter),
            as_reason=as_reason,
            no_sequences=no_sequences,
        )
    _summary(report, as_json)
    _fail_if_all_rejected(report)


def _summary(report: ImportReport, as_json: bool) -> None:
    """The import's summary on stdout (its bad rows on stderr), or as JSON."""
    from newsletter.audience.csv_import import MAX_PROBLEMS

    c, dry_run = report.counts(), report.dry_run
    if as_json:
        echo_json(
            {
                **c,
                "dry_run": dry_run,
                "as": report.as_reason,
                "columns": report.notes,
                "seconds": round(report.seconds, 2),
                "problems": [{"line": p.line, "message": p.message} for p in report.problems],
            }
        )
        return
    for p in report.problems:
        click.echo(str(p), err=True)
    if report.rejected > len(report.problems):
        click.echo(f"... only the first {MAX_PROBLEMS} bad rows are listed", err=True)
    for note in report.notes:
        click.echo(f"{report.path}: {note}")
    if report.as_reason:
        did = (
            f"{'would suppress' if dry_run else 'suppressed'} {c['added']} as "
            f"{report.as_reason} (mailed nobody), made {c['updated']} stronger, "
            f"{c['unchanged']} already were, skipped {c['duplicates']} duplicates"
        )
    else:
        did = (
            f"{'would add' if dry_run else 'added'} {c['added']}, updated {c['updated']}, "
            f"unchanged {c['unchanged']}, skipped {c['duplicates']} duplicates and "
            f"{c['suppressed']} suppressed"
        )
        if c["left"]:
            did += f", {c['left']} who had left (status column) kept as suppressions"
    click.echo(
        f"{report.path}: {did}, rejected {c['rejected']} ({report.seconds:.1f} s)"
        + (" [dry run]" if dry_run else "")
    )


def _delimiter(text: str | None) -> str | None:
    """--delimiter as one character (`\\t` or `tab` spell a tab)."""
    if text is None:
        return None
    value = "\t" if text in ("\\t", "tab") else text
    if len(value) != 1 or value in '"\r\n' or value.isalnum():
        raise click.BadParameter(
            f"{text!r}: give one character that is no letter, digit or quote, such as ';', "
            "'|' or '\\t' (a tab)",
            param_hint="--delimiter",
        )
    return value


def _fail_if_all_rejected(report: ImportReport) -> None:
    """Exit 1 when rows were read and every one was rejected: nothing could be imported."""
    if report.rejected and report.rejected == sum(report.counts().values()):
        click.echo(
            f"error: {report.path}: every row was rejected, nothing was imported "
            "(see the lines above)",
            err=True,
        )
        sys.exit(1)


@subscribers_group.command("export")
@click.option("--list", "list_slug", required=True)
@click.option(
    "--status",
    default="subscribed",
    show_default=True,
    type=click.Choice(
        ["subscribed", "unconfirmed", "unsubscribed", "bounced", "complained", "all"]
    ),
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False),
    default=None,
    help="File to write (default: stdout).",
)
@click.option(
    "--raw",
    is_flag=True,
    help="Write cells exactly as stored: no leading ' before cells a spreadsheet would run "
    "as a formula (=, +, -, @, tab, CR). For programs, not spreadsheets.",
)
@click.option(
    "--excel",
    is_flag=True,
    help="Start the file with a UTF-8 byte order mark, so Excel reads accents and other "
    "non-ASCII letters right when the file is double-clicked.",
)
@click.pass_context
def subscribers_export(
    ctx: click.Context, list_slug: str, status: str, output: str | None, raw: bool, excel: bool
) -> None:
    """Export members of a list as CSV.

    A cell that begins with =, +, -, @, a tab or a CR is written with a leading ' so that a
    spreadsheet shows it as text instead of running it (import removes that '); --raw turns
    this off. --excel starts the file with a UTF-8 byte order mark (BOM), which Excel needs
    to read it as UTF-8 (import skips it). Progress goes to stderr, never into the CSV: a bar
    on a terminal, otherwise a line every 2 s once the export has run that long; none when
    the CSV itself goes to a terminal."""
    from newsletter.audience.csv_export import ExportProgress, export_csv

    if excel and raw:
        raise click.UsageError("--excel is for a spreadsheet, --raw for programs: choose one")
    engine = reading_engine_from(ctx)
    chosen = None if status == "all" else status
    # Taken before any bar starts: on a terminal rich sends what is written to sys.stdout
    # meanwhile through its console, i.e. to stderr.
    stdout = sys.stdout
    with _progress("exporting") as update:
        started = time.monotonic()

        def report_progress(p: ExportProgress) -> None:
            rate = _rate(p.written, started)
            update(
                p.written,
                p.total,
                rate,
                f"export {list_slug}: {p.written:,} of {p.total:,} rows, {rate}",
            )

        if output is None:
            quiet = stdout.isatty()  # the rows on the screen show it is working
            if excel:
                stdout.write(BOM)
            export_csv(
                engine,
                list_slug,
                stdout,
                chosen,
                raw=raw,
                on_progress=None if quiet else report_progress,
            )
            return
        try:
            encoding = "utf-8-sig" if excel else "utf-8"  # -sig: the BOM first
            f = open(output, "w", encoding=encoding, newline="")  # noqa: SIM115 (closed below)
        except OSError as exc:
            raise NewsletterError(f"{output}: cannot write: {exc.strerror or exc}") from None
        with f:
            n = export_csv(engine, list_slug, f, chosen, raw=raw, on_progress=report_progress)
    click.echo(f"wrote {n} rows to {output}", err=True)
