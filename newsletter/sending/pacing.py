"""What the workers of a running send have learned about their relay (`send_pacing`): each
writes its own row about once a second, reads the others' to heed them, and `status` shows the
sum. Rows go with their worker (`workers.Worker.close`, `workers.recover`)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Connection, select

from newsletter.db import tables
from newsletter.db.clock import utcnow
from newsletter.db.dialect import insert_for
from newsletter.sending.delivery.base import Pace

P = tables.send_pacing
FRESH = timedelta(seconds=10)  # a row older than this is a worker that stopped writing


def write(conn: Connection, send_id: int, worker_id: str, pace: Pace) -> None:
    values = dict(
        sessions=pace.sessions,
        session_limit=pace.limit,
        rate=pace.rate,
        throttled=pace.throttled,
        throttled_s=pace.throttled_s,
        refusals=pace.refusals,
        updated_at=utcnow(),
    )
    statement = insert_for(conn, P).values(send_id=send_id, worker=worker_id, **values)
    conn.execute(statement.on_conflict_do_update(index_elements=["send_id", "worker"], set_=values))


def _fresh(conn: Connection, send_id: int) -> list[tuple[str, Pace]]:
    rows = conn.execute(
        select(P).where(P.c.send_id == send_id, P.c.updated_at >= utcnow() - FRESH)
    ).all()
    return [
        (
            r.worker,
            Pace(r.sessions, r.session_limit, r.rate, r.throttled, r.throttled_s, r.refusals),
        )
        for r in rows
    ]


def peers(conn: Connection, send_id: int, worker_id: str) -> list[Pace]:
    """What the send's other live workers wrote lately."""
    return [pace for worker, pace in _fresh(conn, send_id) if worker != worker_id]


def of_send(conn: Connection, send_id: int) -> Pace | None:
    """The whole send's: sessions, limits and rates added up (None: no worker wrote lately)."""
    paces = [pace for _, pace in _fresh(conn, send_id)]
    if not paces:
        return None
    return Pace(
        sessions=sum(p.sessions for p in paces),
        limit=sum(p.limit for p in paces),
        rate=sum(p.rate for p in paces) if all(p.rate for p in paces) else 0.0,
        throttled=any(p.throttled for p in paces),
        throttled_s=max(p.throttled_s for p in paces),
        refusals=sum(p.refusals for p in paces),
    )
