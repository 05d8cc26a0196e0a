"""`newsletter status`: each send with its counts by status, timing and rate; for one issue,
the recipients that failed or whose delivery is unknown. It only reads: rows of stopped workers
are shown as in doubt, and `send`, `worker` or `send-due` settle them: `unknown` for what was
on the network, back to `queued` for what was only claimed."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import click

from newsletter.cli.root import cli, reading_engine_from
from newsletter.cli.times import duration, when
from newsletter.errors import SendError
from newsletter.safe_text import one_line


@cli.command("status")
@click.argument("issue", required=False)
@click.option("--json", "as_json", is_flag=True)
@click.option("--send", "send_id", type=int, default=None, help="Only send N (of ISSUE).")
@click.pass_context
def status_cmd(ctx: click.Context, issue: str | None, as_json: bool, send_id: int | None) -> None:
    """Sends with their counts by status; for one ISSUE (or send N) also the failures and
    unknowns."""
    from newsletter.cli.sequence_cmds import issue_id_of

    engine = reading_engine_from(ctx)
    issue_id = issue_id_of(issue) if issue else None  # a step id (welcome/02-tips) too
    rows = _rows(engine, issue_id, detail=bool(issue_id or send_id))
    if send_id is not None:
        rows = [r for r in rows if r["send_id"] == send_id]
        if not rows:
            of = f"{issue_id} has" if issue_id else "there is"
            raise SendError(f"{of} no send #{send_id} (see `newsletter status`)")
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        click.echo("no sends yet" + (f" for {issue_id}" if issue_id else ""))
    for row in rows:
        _print_row(row)


def _rows(engine: Any, issue_id: str | None, detail: bool) -> list[dict[str, Any]]:
    # Not at import time: every command loads this module, and this pulls in SQLAlchemy.
    from newsletter.audience.bounces import counts_by_category
    from newsletter.db.clock import as_utc
    from newsletter.db.connection import reading
    from newsletter.sending import ab_phase, ledger, pacing, sends, workers
    from newsletter.sending.ab_winner import phase_line
    from newsletter.sending.outcomes import outcome_totals

    out = []
    with reading(engine) as conn:
        found = sends.all_sends(conn, issue_id)
        counts = {s.id: ledger.counts(conn, s.id) for s in found}
        outcomes = {s.id: outcome_totals(conn, s.id, s.backend) for s in found}
        returns = {s.id: counts_by_category(conn, s.id) for s in found}
        problems = {s.id: ledger.problems(conn, s.id) for s in found} if detail else {}
        paces = {s.id: pacing.of_send(conn, s.id) for s in found if s.status == "running"}
        tests = {s.id: state for s in found if (state := ab_phase.state_of(conn, s.id))}
    for s in found:
        start, end = as_utc(s.started_at), as_utc(s.finished_at)
        span = ((end or datetime.now(UTC)) - start).total_seconds() if start else 0.0
        c = counts[s.id]
        row = {
            "send_id": s.id,
            "issue": s.issue_id,
            "lists": list(s.list_slugs),
            "segment": (s.options or {}).get("segment"),
            "status": s.status,
            "backend": s.backend,
            "counts": c,  # ledger rows by status
            "outcomes": {**asdict(outcomes[s.id]), "reached": outcomes[s.id].reached},
            "returns": returns[s.id],  # hard, soft, blocked bounces; complaints; delays
            "in_doubt": workers.in_doubt(engine, s.id) if s.status == "running" else 0,
            "started_at": start,
            "finished_at": end,
            "seconds": round(span, 1),
            "rate": round(outcomes[s.id].sent / span, 1) if span > 0 else None,
            "relay": _relay(paces.get(s.id)),
            "ab_test": phase_line(tests[s.id], s.status) if s.id in tests else None,
        }
        if detail:
            row["problems"] = [
                {"email": e, "status": st, "detail": d} for e, st, d in problems[s.id]
            ]
            if row["in_doubt"]:
                row["problems"] += [
                    {"email": e, "status": "in doubt", "detail": why}
                    for e, why in workers.in_doubt_rows(engine, s.id)
                ]
        out.append(row)
    return out


def _relay(pace: Any) -> dict[str, Any] | None:
    """What the send's workers learned about their relay, while it runs (SMTP)."""
    if pace is None:
        return None
    return {
        "sessions": pace.sessions,
        "session_limit": pace.limit,
        "rate": round(pace.rate, 1) or None,  # messages a second; None: not limited
        "throttled": pace.throttled,
        "throttled_seconds": round(pace.throttled_s),
        "refusals": pace.refusals,
    }


def _sent(row: dict[str, Any]) -> str:
    """Sent as `report` says it (accepted, those that came back included), then what came
    back and, when the provider says so, what was delivered."""
    o, r = row["outcomes"], row["returns"]
    delivered = "" if o["delivered"] is None else f"delivered {o['delivered']}, "
    return (
        f"sent {o['sent']} ({delivered}bounced {o['bounced']} (hard {r['hard']}, soft "
        f"{r['soft']}, blocked {r['blocked']}), complained {o['complained']})"
    )


def _print_row(row: dict[str, Any]) -> None:
    c = row["counts"]
    doubt = f" ({row['in_doubt']} in doubt: their worker stopped)" if row["in_doubt"] else ""
    took = "took" if row["finished_at"] else "running for"
    click.echo(
        f"#{row['send_id']} {row['issue']} -> {', '.join(row['lists'])}"
        + (f" where {row['segment']}" if row["segment"] else "")
        + f" [{row['status']}, {row['backend']}] queued {c['queued']} {_sent(row)} "
        f"failed {c['failed']} skipped {c['skipped']} unknown {c['unknown']} "
        f"in flight {c['claimed']}{doubt} | started {when(row['started_at'])}"
        + (f", finished {when(row['finished_at'])}" if row["finished_at"] else "")
        + f", {took} {duration(row['seconds'])} | {row['rate'] or 0}/s"
    )
    if row.get("ab_test"):
        click.echo(f"  subject-line test: {row['ab_test']}")
    if relay := row["relay"]:
        pace = f"{relay['rate']} msg/s" if relay["rate"] else "no rate limit"
        click.echo(
            f"  relay: {relay['sessions']} sessions (limit {relay['session_limit']}), {pace}, "
            f"{relay['refusals']} refusals"
            + (f"; throttled for {relay['throttled_seconds']} s" if relay["throttled"] else "")
        )
    for p in row.get("problems", []):
        click.echo(f"  {p['status']:<8} {one_line(p['email'])}: {one_line(p['detail'])}")
    if row["in_doubt"]:
        click.echo(
            "  rows in doubt: the next `send --resume`, `worker` or `send-due` marks those the "
            "stopped worker had on the network unknown (they may have been delivered; resend "
            "them on purpose with --retry-unknown) and puts those it had only claimed back in "
            "the queue"
        )
