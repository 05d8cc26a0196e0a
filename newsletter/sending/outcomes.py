"""The outcome totals of a send: the ONE reader of the ledger for what became of its messages,
used by `status`, `report` and anything after them, so "sent" means the same everywhere.

Sent is every message the relay or provider accepted: ledger rows `sent`, and `bounced` and
`complained` (they were accepted, then came back). Delivered comes from the `stage` column a
provider's events move (SendGrid only; a complaint implies delivery). Rates divide by
sent - bounced (`models.SendOutcomes.rate`).
"""

from __future__ import annotations

from sqlalchemy import Connection, case, func, select

from newsletter.db import tables
from newsletter.models import SendOutcomes

D = tables.deliveries
REPORTS_DELIVERIES = ("sendgrid",)  # backends whose provider says when mail was delivered


def outcome_totals(conn: Connection, send_id: int, backend: str) -> SendOutcomes:
    """The totals of one send (`backend`: the send's own, which says whether deliveries are
    known)."""
    delivered_stage = case((D.c.stage == "delivered", 1), else_=0)
    rows = conn.execute(
        select(D.c.status, func.count(), func.sum(delivered_stage))
        .where(D.c.send_id == send_id)
        .group_by(D.c.status)
    ).all()
    n = {status: int(count) for status, count, _ in rows}
    delivered = sum(int(d or 0) for status, _, d in rows if status == "sent")
    bounced, complained = n.get("bounced", 0), n.get("complained", 0)
    return SendOutcomes(
        sent=n.get("sent", 0) + bounced + complained,
        delivered=delivered + complained if backend in REPORTS_DELIVERIES else None,
        bounced=bounced,
        complained=complained,
        failed=n.get("failed", 0),
        unknown=n.get("unknown", 0),
        skipped=n.get("skipped", 0),
        queued=n.get("queued", 0),
        claimed=n.get("claimed", 0),
    )
