""" "Don't track my opens and clicks": a subscriber's choice on the preferences page.

For such a subscriber the redirect and the pixel still answer, and nothing is recorded
(`hits.record` checks this table in the same read, and on PostgreSQL again in the write).
Opting out also erases what was recorded of them so far.
"""

from __future__ import annotations

from sqlalchemy import Engine, delete, exists, select

from newsletter.audience.history import record_event
from newsletter.db import tables
from newsletter.db.clock import utcnow
from newsletter.db.connection import reading
from newsletter.db.dialect import insert_skipping
from newsletter.db.transaction import begin

OPT = tables.tracking_optouts


def opted_out(engine: Engine, subscriber_id: int) -> bool:
    with reading(engine) as conn:
        return bool(
            conn.execute(select(exists().where(OPT.c.subscriber_id == subscriber_id))).scalar()
        )


def set_tracking(engine: Engine, subscriber_id: int, track: bool, *, source: str) -> bool:
    """Allow or refuse tracking for a subscriber; True if that changed anything. Refusing
    deletes their recorded hits too; the change is kept in their history."""
    with begin(engine) as conn:
        if track:
            changed = conn.execute(delete(OPT).where(OPT.c.subscriber_id == subscriber_id)).rowcount
        else:
            ins = insert_skipping(conn, OPT, ("subscriber_id",))
            changed = conn.execute(
                ins, {"subscriber_id": subscriber_id, "created_at": utcnow()}
            ).rowcount
            for table in (tables.tracking_hits, tables.tracking_recipients):
                conn.execute(delete(table).where(table.c.subscriber_id == subscriber_id))
        if changed:
            kind = "tracking allowed" if track else "tracking refused"
            record_event(conn, subscriber_id, None, kind, source)
    return bool(changed)
