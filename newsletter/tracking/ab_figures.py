"""Each variant of a subject-line test as the report counts it: recipients (sent, bounced
included), bounced, and unique people and machines who opened or clicked. A reader is a person
if any of their hits was judged human; a click counts as an open (as in `report`); the trap link
is no link of the issue. Three grouped queries, whatever the audience size."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, case, func, or_, select

from newsletter.db import tables
from newsletter.tracking.judge import LINK

D, H, L = tables.deliveries, tables.tracking_hits, tables.tracked_links
SENT = ("sent", "bounced", "complained")  # accepted by the server: outcomes' `sent`


def variant_figures(conn: Connection, send_id: int, variants: int) -> list[dict[str, Any]]:
    """[{variant, recipients, bounced, reached, opens: {human, machine}, clicks: {...}}]."""
    out: list[dict[str, Any]] = [
        {"variant": v, "recipients": 0, "bounced": 0, "opens": {}, "clicks": {}}
        for v in range(variants)
    ]
    rows = conn.execute(
        select(D.c.variant, D.c.status, func.count())
        .where(D.c.send_id == send_id, D.c.variant.is_not(None), D.c.status.in_(SENT))
        .group_by(D.c.variant, D.c.status)
    )
    for variant, status, n in rows:
        out[variant]["recipients"] += int(n)
        out[variant]["bounced"] += int(n) if status == "bounced" else 0
    opens = _people(conn, send_id, or_(H.c.link_id == 0, L.c.kind == LINK))
    clicks = _people(conn, send_id, L.c.kind == LINK)
    for v, figures in enumerate(out):
        figures["reached"] = figures["recipients"] - figures["bounced"]
        figures["opens"] = opens.get(v, {"human": 0, "machine": 0})
        figures["clicks"] = clicks.get(v, {"human": 0, "machine": 0})
    return out


def _people(conn: Connection, send_id: int, where: Any) -> dict[int, dict[str, int]]:
    """variant -> {human, machine} unique readers among the hits matching `where`."""
    person = (
        select(
            D.c.variant,
            H.c.subscriber_id,
            func.max(case((H.c.verdict == "human", 1), else_=0)).label("human"),
        )
        .select_from(
            H.join(
                D, and_(D.c.send_id == H.c.send_id, D.c.subscriber_id == H.c.subscriber_id)
            ).outerjoin(L, L.c.id == H.c.link_id)
        )
        .where(H.c.send_id == send_id, D.c.variant.is_not(None), where)
        .group_by(D.c.variant, H.c.subscriber_id)
        .subquery()
    )
    rows = conn.execute(
        select(person.c.variant, func.sum(person.c.human), func.count()).group_by(person.c.variant)
    )
    return {int(v): {"human": int(h), "machine": int(n) - int(h)} for v, h, n in rows}
