"""Recording a hit, judged with the recipient's recent hits read from the database: one short
write before the redirect or the pixel is answered, so a hit that was answered is stored.

Most hits are a reader's only hit in a while: nothing recent can change their verdict, so the
request's own verdict is stored by ONE statement that checks exactly that (no recent hit of
this recipient on this send, no opt-out, not expired) as it inserts. Otherwise the recipient's
recent hits are read and judged (`judge.decide`), and earlier rows re-judged if need be.

Judging must see every hit of the recipient, whichever server process took it. SQLite has one
writer at a time: everything runs in one BEGIN IMMEDIATE transaction. PostgreSQL serialises
per recipient through a small state row (`hits_pg`).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from newsletter.db.dialect import is_sqlite
from newsletter.db.driver_sql import Sql
from newsletter.db.errors import translated
from newsletter.tracking import hits_pg
from newsletter.tracking.hit_rows import Hit, convert, hit_params, read_state, store
from newsletter.tracking.judge import decide

__all__ = ["Hit", "record"]


def record(engine: Engine, hit: Hit, window_seconds: int) -> str:
    """Judge and store one hit; returns the stored reason, or '' when nothing was recorded."""
    window = timedelta(seconds=window_seconds)
    with translated("cannot record a hit"):
        try:
            if not is_sqlite(engine):
                return hits_pg.record(engine, hit, window)
            # The verdict of a hit with nothing recent beside it, before taking the write lock.
            reason = decide(hit.kind, hit.link_id, hit.reason, hit.at, [], window).reason
            quiet = hit_params(hit, reason, window)
            with engine.begin() as conn:  # SQLite: BEGIN IMMEDIATE, the single writer's lock
                if _QUIET.run(conn, **quiet).rowcount == 1:
                    return reason
                return _judged(conn, hit, window)
        except IntegrityError:  # the subscriber was erased meanwhile
            return ""


# A hit with nothing recent beside it, stored with its request's verdict in one statement.
_QUIET = Sql(
    """
INSERT INTO tracking_hits
    (send_id, subscriber_id, link_id, verdict, reason, first_at, last_at, hits)
SELECT :send, :sub, :link, :verdict, :reason, :at, :at, 1
WHERE NOT EXISTS (SELECT 1 FROM tracking_hits
                  WHERE send_id = :send AND subscriber_id = :sub AND last_at >= :since)
  AND NOT EXISTS (SELECT 1 FROM tracking_optouts WHERE subscriber_id = :sub)
  AND NOT EXISTS (SELECT 1 FROM tracking_totals WHERE send_id = :send)
ON CONFLICT (send_id, subscriber_id, link_id, verdict) DO UPDATE
SET hits = tracking_hits.hits + 1, last_at = excluded.last_at
"""
)


def _judged(conn: Connection, hit: Hit, window: timedelta) -> str:
    state = read_state(conn, hit, window)
    if state is None:
        return ""
    decision = decide(hit.kind, hit.link_id, hit.reason, hit.at, state.recent, window)
    params = hit_params(hit, decision.reason, window)
    convert(conn, params, decision, state)
    store(conn, params)
    return decision.reason
