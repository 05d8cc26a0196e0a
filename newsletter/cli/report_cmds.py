"""`newsletter report [ISSUE] [--json] [--html FILE]`: what happened after a send, people and
machines apart. Before reading, hits past `tracking_retention_months` are folded into totals."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from newsletter.cli.root import cli, echo_json, reading_engine_from, settings_from
from newsletter.cli.times import when
from newsletter.errors import ConfigError, SendError
from newsletter.safe_text import one_line

GROWTH_WEEKS = 12  # the overview page's chart: about a quarter


@cli.command("report")
@click.argument("issue", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write the report as one self-contained HTML page: of ISSUE, or without one, "
    "growth per week as a chart beside the last 20 sends.",
)
@click.option("--send", "send_id", type=int, default=None, help="Report send N of ISSUE.")
@click.pass_context
def report_cmd(
    ctx: click.Context, issue: str | None, as_json: bool, html_file: str | None, send_id: int | None
) -> None:
    """Opens, clicks (people and machines, with why), unsubscribes and bounces of ISSUE's latest
    send (and of all its sends, apart and together, when it had follow-ups); without ISSUE, the
    last 20 sends side by side."""
    from newsletter.cli.sequence_cmds import issue_id_of, report_sequence
    from newsletter.db.connection import reading
    from newsletter.sending.outcomes import outcome_totals
    from newsletter.tracking import report, retention

    def one(conn: Any, send: dict[str, Any], detail: bool = True) -> dict[str, Any]:
        outcomes = outcome_totals(conn, send["send_id"], send["backend"])
        return report.send_report(conn, send, outcomes, detail=detail)

    settings, engine = settings_from(ctx), reading_engine_from(ctx)
    retention.expire(engine, settings)
    if issue and report_sequence(ctx, issue, as_json, html_file):
        return  # a sequence's name: every step
    with reading(engine) as conn:
        weeks: list[dict[str, Any]] = []
        if not issue:
            rows = [one(conn, s, detail=False) for s in report.recent_sends(conn)]
            if html_file:
                from newsletter.audience.growth import weekly_history

                weeks = weekly_history(conn, GROWTH_WEEKS)
        else:
            issue_id = issue_id_of(issue)  # a step id (welcome/02-tips) too
            sends = report.sends_of(conn, issue_id)
            if not sends:
                raise SendError(f"{issue_id} has not been sent (see `newsletter status`)")
            if send_id is not None:
                sends = [s for s in sends if s["send_id"] == send_id]
                if not sends:
                    raise SendError(f"{issue_id} has no send #{send_id} (see `newsletter status`)")
            rows = [one(conn, sends[-1])]
            if len(sends) > 1:  # follow-ups: each send apart, and together
                rows[0]["all_sends"] = [one(conn, s, detail=False) for s in sends]
                rows[0]["together"] = report.together(conn, rows[0]["all_sends"])
    if html_file:
        _write_html(Path(html_file), rows, weeks if not issue else None, settings.language)
    if as_json:
        echo_json(rows[0] if issue else rows)
    elif issue:
        _print_one(rows[0])
        _print_all(rows[0])
    else:
        _print_table(rows)
    if html_file:
        click.echo(f"wrote {html_file}", err=as_json)


def _write_html(
    path: Path, rows: list[dict[str, Any]], weeks: list[dict[str, Any]] | None, language: str
) -> None:
    """Write the page (one send's, or with `weeks` the overview) in one piece: a failed write
    leaves no half page behind."""
    from newsletter.tracking import overview_html, report_html

    now = datetime.now(UTC)
    if weeks is None:
        page = report_html.render(rows[0], generated_at=now, language=language)
    else:
        page = overview_html.render(rows, weeks, generated_at=now, language=language)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"{path}: cannot write the report: {exc.strerror}") from None


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _num(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _kinds(r: dict[str, Any]) -> str:
    """` (hard 2, soft 1, blocked 0)` when the send has any bounce."""
    kinds = r.get("bounces") or {}
    if not any(kinds.values()):
        return ""
    return " (" + ", ".join(f"{k} {_num(v)}" for k, v in kinds.items()) + ")"


def _print_one(r: dict[str, Any]) -> None:
    click.echo(
        f"{r['issue']}: send #{r['send_id']} to {', '.join(r['lists'])}"
        + (f" where {r['segment']}" if r.get("segment") else "")
        + f" through {r['backend']}, started {when(r['started_at'])}"
    )
    click.echo(
        f"  sent {_num(r['sent'])}  delivered {_num(r['delivered'])}  bounced "
        f"{_num(r['bounced'])}{_kinds(r)}  complained {_num(r['complained'])}  unsubscribed "
        f"through this issue {_num(r['unsubscribed'])}"
    )
    for label, key, rate in (
        ("opened ", "opens", "open_rate"),
        ("clicked", "clicks", "click_rate"),
    ):
        click.echo(
            f"  {label} {_num(r[key]['human'])} people ({_pct(r[rate])}), "
            f"{_num(r[key]['machine'])} machines"
        )
    click.echo(f"  click-to-open (people) {_pct(r['click_to_open'])}")
    if r.get("ab_test"):
        _print_variants(r)
    if r["machine_reasons"]:
        reasons = ", ".join(f"{k} {v:,}" for k, v in r["machine_reasons"].items())
        click.echo(f"  machines by reason: {reasons}")
    if r["hits_expired"]:
        click.echo("  (hits expired: only totals remain)")
    if r["links"]:
        click.echo("  links (people / machines):")
    for link in r["links"]:
        click.echo(f"    {link['human']:>6,} / {link['machine']:<6,} {link['url']}")


def _print_all(r: dict[str, Any]) -> None:
    """Each send of the issue apart, then together (unique people across them)."""
    if "all_sends" not in r:
        return
    click.echo("every send of this issue:")
    _print_table(r["all_sends"])
    t = r["together"]
    people = (
        f"opened {_num(t['opens']['human'])} people ({_pct(t['open_rate'])}), clicked "
        f"{_num(t['clicks']['human'])} ({_pct(t['click_rate'])})"
        if t["opens"] is not None
        else "opens and clicks: hits expired, unique people unknown"
    )
    click.echo(
        f"together (sends {', '.join(f'#{i}' for i in t['sends'])}): sent {_num(t['sent'])}, "
        f"bounced {_num(t['bounced'])}, {people}"
    )


def _print_variants(r: dict[str, Any]) -> None:
    """One row per variant of a subject-line test, then its verdict."""
    from newsletter.tracking.ab_report import verdict_line

    click.echo("  subject-line test (opened / clicked: people, machines):")
    for v in r["variants"]:
        click.echo(
            f"    {v['variant']} {_num(v['recipients']):>8} recipients  opened "
            f"{_num(v['opens']['human'])} ({_pct(v['open_rate'])}), {_num(v['opens']['machine'])}"
            f"  clicked {_num(v['clicks']['human'])} ({_pct(v['click_rate'])}), "
            f"{_num(v['clicks']['machine'])}  {one_line(v['subject'])}"
        )
    click.echo(f"  {verdict_line(r['ab_test'])}")


def _print_table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        click.echo("no sends yet")
        return
    click.echo(
        f"{'send':>5}  {'started':<16}  {'sent':>8}  {'opened':>7}  {'clicked':>7}  "
        f"{'CTO':>6}  {'unsub':>5}  {'bounced':>7}  issue"
    )
    for r in rows:
        started = when(r["started_at"])[:16]
        click.echo(
            f"{r['send_id']:>5}  {started:<16}  {_num(r['sent']):>8}  {_pct(r['open_rate']):>7}  "
            f"{_pct(r['click_rate']):>7}  {_pct(r['click_to_open']):>6}  "
            f"{_num(r['unsubscribed']):>5}  {_num(r['bounced']):>7}  {r['issue']}"
        )
    click.echo("opened, clicked and CTO count people only (machines are reported per issue)")
