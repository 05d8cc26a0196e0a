"""Hits are kept `tracking_retention_months` (13 by default) after a send starts; then only the
send's totals (unique human and machine readers, by reason) and each link's totals remain.

A send's hits expire together, so its unique counts stay exact; later hits on an expired send
are not recorded (`hits.record` sees its totals row). `send-due` (cron) and `report` run this.
"""

from __future__ import annotations

import calendar
from datetime import datetime

from sqlalchemy import Engine, delete, func, select, update

from newsletter.config import Settings
from newsletter.db import tables
from newsletter.db.clock import utcnow
from newsletter.db.transaction import begin
from newsletter.tracking import report

S, T, L = tables.sends, tables.tracking_totals, tables.tracked_links


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time `months` calendar months earlier (the 31st becomes the month's
    last day)."""
    years, month0 = divmod(moment.month - 1 - months, 12)
    year, month = moment.year + years, month0 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def expire(engine: Engine, settings: Settings, now: datetime | None = None) -> list[int]:
    """Fold the hits of every send started before the retention cutoff into totals and delete
    them; returns the ids of the sends folded now."""
    cutoff = months_before(now or utcnow(), settings.tracking_retention_months)
    started = func.coalesce(S.c.started_at, S.c.created_at)
    with begin(engine) as conn:
        due = list(
            conn.execute(
                select(S.c.id)
                .where(started < cutoff, ~select(T.c.send_id).where(T.c.send_id == S.c.id).exists())
                .order_by(S.c.id)
            ).scalars()
        )
    for send_id in due:
        _fold(engine, send_id)
    return due


def _fold(engine: Engine, send_id: int) -> None:
    with begin(engine) as conn:
        figures = report.live_figures(conn, send_id)
        conn.execute(
            T.insert().values(
                send_id=send_id,
                opens_human=figures["opens"]["human"],
                opens_machine=figures["opens"]["machine"],
                clicks_human=figures["clicks"]["human"],
                clicks_machine=figures["clicks"]["machine"],
                reasons=figures["machine_reasons"],
                folded_at=utcnow(),
            )
        )
        for link_id, (human, machine) in figures["per_link"].items():
            conn.execute(
                update(L)
                .where(L.c.id == link_id)
                .values(human_clicks=human, machine_clicks=machine)
            )
        for table in (tables.tracking_hits, tables.tracking_recipients):
            conn.execute(delete(table).where(table.c.send_id == send_id))
