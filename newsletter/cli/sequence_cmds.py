"""`newsletter sequences [--json]`, `sequences pause NAME`, `sequences resume NAME`; and the
sequences' part of `report` and `status`: a step id (`welcome/02-tips`) or a step's file names
a step's send, and `report NAME` shows every step of a sequence."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click

from newsletter.cli.root import cli, echo_json, reading_engine_from, settings_from
from newsletter.errors import NewsletterError
from newsletter.safe_text import one_line

TOML = "sequence.toml"
_PART = r"[A-Za-z0-9_-]+"
_STEP_ID = re.compile(rf"^{_PART}/{_PART}$")


def issue_id_of(ref: str) -> str:
    """The id under which `report`/`status` find the sends of ISSUE: a step id as written
    (`welcome/02-tips`), a step file's step id (`sequences/welcome/02-tips.md`), else the file
    name without `.md` (an issue's path or id, as before)."""
    path = Path(ref)
    file = path if path.suffix == ".md" else Path(ref + ".md")
    if file.is_file() and (file.parent / TOML).is_file():
        return f"{file.parent.name}/{file.stem}"
    if _STEP_ID.match(ref) and not file.exists() and not path.parent.is_dir():
        return ref
    return path.stem


@cli.group("sequences", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print the sequences as JSON.")
@click.pass_context
def sequences_cmd(ctx: click.Context, as_json: bool) -> None:
    """Each sequence (from the sequences folder and the database) with its steps and, per
    step, how many readers got it, are waiting for it, or were skipped."""
    if ctx.invoked_subcommand is not None:
        return
    from newsletter.sequences.files import read_sequences
    from newsletter.sequences.overview import overview

    settings = settings_from(ctx)
    found, problems = read_sequences(settings.sequences_dir)
    rows = overview(_engine_if_any(ctx), found)
    broken = sorted(
        Path(p.path).relative_to(settings.sequences_dir).parts[0]
        for p in problems
        if p.severity == "error" and _below(p.path, settings.sequences_dir)
    )
    if as_json:
        echo_json(rows)
    elif not rows:
        click.echo(f"no sequences (none in {settings.sequences_dir}/, none registered)")
    else:
        for row in rows:
            _print_sequence(row)
    for name in dict.fromkeys(broken):
        click.echo(
            f"warning: sequence '{name}' has errors and is not sent: run `newsletter check`",
            err=True,
        )


def _engine_if_any(ctx: click.Context) -> Any:
    """The database as it is, or None when there is none yet (nothing is registered)."""
    try:
        return reading_engine_from(ctx)
    except NewsletterError as exc:
        if "no database" not in str(exc):
            raise
        return None


def _below(path: str, folder: str) -> bool:
    try:
        Path(path).relative_to(folder)
    except ValueError:
        return False
    return Path(path) != Path(folder)


def _state(row: dict[str, Any]) -> str:
    if not row["registered"]:
        return "not registered yet (the next send-due registers it)"
    state = "paused" if row["paused"] else "active"
    if not row["in_folder"]:
        state += ", gone from the folder (nothing more is sent)"
    return state


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _print_sequence(row: dict[str, Any]) -> None:
    members = (
        f", {_count(row['members'])} in it, {_count(row['left'])} left" if row["registered"] else ""
    )
    click.echo(
        f"{row['name']}: {_state(row)}; lists {', '.join(row['lists'])}; join {row['join']}"
        f"{members}"
    )
    width = max((len(s["key"]) for s in row["steps"]), default=0)
    for s in row["steps"]:
        note = " (removed)" if s["removed"] else "" if s["in_folder"] else " (not in the folder)"
        click.echo(
            f"  {s['key']:<{width}}  after {s['after']:<6}  sent {_count(s['sent']):>7}  "
            f"waiting {_count(s['waiting']):>7}  skipped {_count(s['skipped']):>7}{note}"
        )


def _pause(ctx: click.Context, name: str, paused: bool) -> None:
    from newsletter.sequences.files import NAME_PATTERN, sequence_folders
    from newsletter.sequences.overview import UnknownSequence, set_sequence_paused

    settings = settings_from(ctx)
    folder = Path(settings.sequences_dir)
    in_folder = [p.name for p in sequence_folders(folder)] if folder.is_dir() else []
    try:
        if not NAME_PATTERN.match(name):
            raise UnknownSequence(
                f"no sequence {one_line(name, 100)!r}: names are letters, digits, '-' and '_'"
            )
        set_sequence_paused(_engine(ctx, name), name, paused, in_folder)
    except UnknownSequence as exc:
        click.echo(f"error: {exc}", err=True)
        ctx.exit(2)
    if paused:
        click.echo(f"sequence '{name}' paused: send-due sends none of its steps until resumed")
    else:
        click.echo(f"sequence '{name}' resumed: send-due sends its steps again")


def _engine(ctx: click.Context, name: str) -> Any:
    """The database, as it is (pausing creates none): without one, nothing is registered."""
    from newsletter.sequences.overview import UnknownSequence

    engine = _engine_if_any(ctx)
    if engine is None:
        raise UnknownSequence(
            f"sequence '{name}' is not registered: there is no database yet (send-due creates "
            "it and registers the sequences)"
        )
    return engine


@sequences_cmd.command("pause")
@click.argument("name")
@click.pass_context
def pause_cmd(ctx: click.Context, name: str) -> None:
    """Stop sending sequence NAME (readers keep their place; enrolment goes on)."""
    _pause(ctx, name, True)


@sequences_cmd.command("resume")
@click.argument("name")
@click.pass_context
def resume_cmd(ctx: click.Context, name: str) -> None:
    """Send sequence NAME again (steps held back past max_late are skipped)."""
    _pause(ctx, name, False)


def report_sequence(ctx: click.Context, ref: str, as_json: bool, html: str | None) -> bool:
    """`report NAME` for a registered sequence NAME that is no issue with sends: every step's
    report, printed; False when NAME is not such a sequence (the issue's report follows)."""
    from newsletter.db.connection import reading
    from newsletter.tracking import report

    if "/" in ref or ref.endswith(".md"):
        return False
    with reading(reading_engine_from(ctx)) as conn:
        if report.sends_of(conn, ref):
            return False
        rows = _sequence_rows(conn, ref)
    if rows is None:
        return False
    if html:
        raise NewsletterError(f"--html takes an issue or a step ({ref}/KEY), not a sequence")
    if as_json:
        echo_json({"sequence": ref, "steps": rows})
    else:
        print_sequence_report(ref, rows)
    return True


def _sequence_rows(conn: Any, name: str) -> list[dict[str, Any]] | None:
    """The report of each registered step of sequence `name`, in order, removed steps last
    (None: no such registered sequence)."""
    from newsletter.sending.outcomes import outcome_totals
    from newsletter.sequences.overview import step_rows
    from newsletter.tracking import report

    steps = step_rows(conn, name)
    if not steps:
        return None
    rows = []
    for step in steps:
        sends = report.sends_of(conn, f"{name}/{step['key']}")
        if sends:
            send = sends[-1]
            outcomes = outcome_totals(conn, send["send_id"], send["backend"])
            rows.append(report.send_report(conn, send, outcomes, detail=False))
        else:
            rows.append({"issue": f"{name}/{step['key']}", "send_id": None, "sent": 0})
        rows[-1]["removed"] = step["removed_at"] is not None
    return rows


def print_sequence_report(name: str, rows: list[dict[str, Any]]) -> None:
    """One line per step: sent, people who opened and clicked, unsubscribes."""
    click.echo(f"sequence {name}: {len(rows)} step{'s' if len(rows) != 1 else ''}")
    width = max(len(r["issue"]) for r in rows)
    for r in rows:
        if r["send_id"] is None:
            click.echo(f"  {r['issue']:<{width}}  not sent yet")
            continue
        removed = " (removed)" if r["removed"] else ""
        click.echo(
            f"  {r['issue']:<{width}}  sent {_count(r['sent']):>7}  opened "
            f"{_count(r['opens']['human']):>6} people ({_pct(r['open_rate'])})  clicked "
            f"{_count(r['clicks']['human']):>6} ({_pct(r['click_rate'])})  unsubscribed "
            f"{_count(r['unsubscribed'])}{removed}"
        )
    click.echo("opened and clicked count people only (machines apart: report STEP_ID)")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"
