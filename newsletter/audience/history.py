"""What happened to a subscriber, for `subscribers show` (erased by `forget`)."""

from __future__ import annotations

from sqlalchemy import Connection, Engine, select

from newsletter.db import tables
from newsletter.db.clock import utcnow
from newsletter.db.connection import reading


def record_event(
    conn: Connection, sub_id: int, list_id: int | None, kind: str, detail: str
) -> None:
    conn.execute(
        tables.subscriber_events.insert().values(
            subscriber_id=sub_id, list_id=list_id, kind=kind, detail=detail, at=utcnow()
        )
    )


def history(engine: Engine, subscriber_id: int) -> list[dict]:
    e = tables.subscriber_events
    with reading(engine) as conn:
        q = select(e).where(e.c.subscriber_id == subscriber_id).order_by(e.c.id)
        return [dict(r) for r in conn.execute(q).mappings()]
