"""`newsletter status`: each send with its counts by status, timing and rate; for one issue,
the recipients that failed or whose delivery is unknown."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click

from newsletter.cli import cli, engine_from


@cli.command("status")
@click.argument("issue", required=False)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def status_cmd(ctx: click.Context, issue: str | None, as_json: bool) -> None:
    """Sends with their counts by status; for one ISSUE also the failures and unknowns."""
    from newsletter import db, ledger  # not at import time: every command loads this module

    engine = engine_from(ctx)
    issue_id = Path(issue).stem if issue else None
    out = []
    with db.reading(engine) as conn:
        running = [s.id for s in ledger.running_sends(conn)]
    for send_id in running:  # batches of dead workers show up as unknown at once
        ledger.recover(engine, send_id)
    with db.reading(engine) as conn:
        for s in ledger.all_sends(conn, issue_id):
            counts = ledger.counts(conn, s.id)
            start, end = s.started_at, s.finished_at
            span = (
                (
                    (end or datetime.now(UTC)).replace(tzinfo=UTC) - start.replace(tzinfo=UTC)
                ).total_seconds()
                if start
                else 0
            )
            row = {
                "send_id": s.id,
                "issue": s.issue_id,
                "lists": list(s.list_slugs),
                "status": s.status,
                "backend": s.backend,
                "counts": counts,
                "started_at": start,
                "finished_at": end,
                "rate": round(counts["sent"] / span, 1) if span > 0 else None,
            }
            if issue_id:
                row["problems"] = [
                    {"email": e, "status": st, "detail": d}
                    for e, st, d in ledger.problems(conn, s.id)
                ]
            out.append(row)
    if as_json:
        click.echo(json.dumps(out, indent=2, default=str))
        return
    if not out:
        click.echo("no sends yet" + (f" for {issue_id}" if issue_id else ""))
    for row in out:
        c = row["counts"]
        click.echo(
            f"#{row['send_id']} {row['issue']} -> {', '.join(row['lists'])} "
            f"[{row['status']}, {row['backend']}] queued {c['queued']} sent {c['sent']} "
            f"failed {c['failed']} skipped {c['skipped']} unknown "
            f"{c['unknown'] + c['claimed']} | started {row['started_at']} finished "
            f"{row['finished_at'] or '-'} | {row['rate'] or 0}/s"
        )
        for p in row.get("problems", []):
            click.echo(f"  {p['status']:<8} {p['email']}: {p['detail']}")
