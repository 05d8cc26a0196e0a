"""Recording a hit, judged with the recipient's recent hits read from the database: one short
write before the redirect or the pixel is answered, so a hit that was answered is stored.

Judging must see every hit of the recipient, whichever server process took it. SQLite has one
writer at a time: the read and the write share a BEGIN IMMEDIATE transaction. PostgreSQL judges
optimistically: the write bumps the recipient's version only if it is still the one read with
the hits (else it reads again), so two processes never judge a burst from stale reads. The
usual case (nothing to re-judge) is ONE autocommitted statement there, like the one-click
unsubscribe.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    DateTime,
    Engine,
    Integer,
    String,
    and_,
    bindparam,
    case,
    delete,
    exists,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from newsletter.db import tables
from newsletter.db.clock import as_utc
from newsletter.db.dialect import insert_for
from newsletter.errors import StoreError
from newsletter.tracking.judge import BURST_WINDOW, LINK, OPEN, Decision, Seen, decide, verdict_of

log = logging.getLogger(__name__)
H, R, OPT, T = (
    tables.tracking_hits,
    tables.tracking_recipients,
    tables.tracking_optouts,
    tables.tracking_totals,
)
S, L = tables.subscribers, tables.tracked_links
MAX_TRIES = 20  # optimistic rounds on PostgreSQL before recording without the version check


@dataclass(frozen=True)
class Hit:
    send_id: int
    subscriber_id: int
    link_id: int  # 0: the open pixel
    kind: str  # open | link | trap
    reason: str  # what the request alone said (judge.judge_request)
    at: datetime


@dataclass(frozen=True)
class _State:
    version: int
    recent: list[Seen]
    counts: dict[tuple[int, str], int]  # (link id, verdict) -> hits, of the recent rows


# The recipient, whether they may be recorded, their judging version and their recent hits.
_READ = (
    select(
        exists().where(OPT.c.subscriber_id == S.c.id).label("opted_out"),
        exists().where(T.c.send_id == bindparam("b_send")).label("folded"),
        R.c.version,
        H.c.link_id,
        H.c.verdict,
        H.c.first_at,
        H.c.last_at,
        H.c.hits,
        L.c.kind,
    )
    .select_from(
        S.outerjoin(R, and_(R.c.subscriber_id == S.c.id, R.c.send_id == bindparam("b_send")))
        .outerjoin(
            H,
            and_(
                H.c.send_id == bindparam("b_send"),
                H.c.subscriber_id == S.c.id,
                H.c.last_at >= bindparam("b_since"),
            ),
        )
        .outerjoin(L, L.c.id == H.c.link_id)
    )
    .where(S.c.id == bindparam("b_sub"))
)


def _read(conn: Connection, hit: Hit, window: timedelta) -> _State | None:
    """The recipient's state, or None when nothing may be recorded (gone, opted out, or the
    send's hits already folded into totals)."""
    since = hit.at - max(window, BURST_WINDOW)
    rows = conn.execute(
        _READ, {"b_send": hit.send_id, "b_sub": hit.subscriber_id, "b_since": since}
    ).all()
    if not rows or rows[0].opted_out or rows[0].folded:
        return None
    recent, counts = [], {}
    for r in rows:
        if r.link_id is None:
            continue
        kind = OPEN if r.link_id == 0 else (r.kind or LINK)
        first, last = as_utc(r.first_at), as_utc(r.last_at)
        assert first is not None and last is not None
        recent.append(Seen(r.link_id, kind, r.verdict, first, last))
        counts[(r.link_id, r.verdict)] = r.hits
    return _State(rows[0].version or 0, recent, counts)


_UPSERT: dict[str, Any] = {}  # dialect -> INSERT .. ON CONFLICT DO UPDATE (merges counts)


def _upsert(conn: Connection) -> Any:
    stmt = _UPSERT.get(conn.dialect.name)
    if stmt is None:
        ins = insert_for(conn, H)
        new = ins.excluded
        stmt = _UPSERT[conn.dialect.name] = ins.on_conflict_do_update(
            index_elements=["send_id", "subscriber_id", "link_id", "verdict"],
            set_={
                "hits": H.c.hits + new.hits,
                "first_at": case((new.first_at < H.c.first_at, new.first_at), else_=H.c.first_at),
                "last_at": case((new.last_at > H.c.last_at, new.last_at), else_=H.c.last_at),
            },
        )
    return stmt


def _row(hit: Hit, reason: str) -> dict[str, Any]:
    return {
        "send_id": hit.send_id,
        "subscriber_id": hit.subscriber_id,
        "link_id": hit.link_id,
        "verdict": verdict_of(reason),
        "reason": reason,
        "first_at": hit.at,
        "last_at": hit.at,
        "hits": 1,
    }


def _convert(conn: Connection, hit: Hit, decision: Decision, state: _State) -> None:
    """Turn the recipient's human rows named by the decision into machine rows (merged)."""
    for link_id, reason in decision.convert:
        seen = next(s for s in state.recent if s.link_id == link_id and s.verdict == "human")
        row = {
            **_row(hit, reason),
            "link_id": link_id,
            "first_at": seen.first_at,
            "last_at": seen.last_at,
            "hits": state.counts[(link_id, "human")],
        }
        conn.execute(_upsert(conn), row)
        conn.execute(
            delete(H).where(
                H.c.send_id == hit.send_id,
                H.c.subscriber_id == hit.subscriber_id,
                H.c.link_id == link_id,
                H.c.verdict == "human",
            )
        )


def record(engine: Engine, hit: Hit, window_seconds: int) -> str:
    """Judge and store one hit; returns the stored reason, or '' when nothing was recorded."""
    window = timedelta(seconds=window_seconds)
    try:
        if engine.dialect.name == "postgresql":
            return _record_postgresql(engine, hit, window)
        return _record_serialised(engine, hit, window)
    except IntegrityError:  # the subscriber was erased between the read and the write
        return ""
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot record a hit: {exc.__class__.__name__}: {exc}") from None


def _record_serialised(engine: Engine, hit: Hit, window: timedelta) -> str:
    with engine.begin() as conn:  # SQLite: BEGIN IMMEDIATE, the single writer's lock
        state = _read(conn, hit, window)
        if state is None:
            return ""
        decision = decide(hit.kind, hit.link_id, hit.reason, hit.at, state.recent, window)
        _convert(conn, hit, decision, state)
        conn.execute(_upsert(conn), _row(hit, decision.reason))
    return decision.reason


# PostgreSQL, nothing to re-judge: claim the version read and store the hit in ONE statement.
_PG_RECORD = text(
    """
WITH claim AS (
    INSERT INTO tracking_recipients (subscriber_id, send_id, version)
    VALUES (:sub, :send, 1)
    ON CONFLICT (subscriber_id, send_id) DO UPDATE
    SET version = tracking_recipients.version + 1
    WHERE tracking_recipients.version = :version
    RETURNING 1
)
INSERT INTO tracking_hits
    (send_id, subscriber_id, link_id, verdict, reason, first_at, last_at, hits)
SELECT :send, :sub, :link, :verdict, :reason, :at, :at, 1 FROM claim
WHERE NOT EXISTS (SELECT 1 FROM tracking_optouts WHERE subscriber_id = :sub)
ON CONFLICT (send_id, subscriber_id, link_id, verdict) DO UPDATE
SET hits = tracking_hits.hits + 1,
    first_at = LEAST(tracking_hits.first_at, EXCLUDED.first_at),
    last_at = GREATEST(tracking_hits.last_at, EXCLUDED.last_at)
RETURNING 1
"""
).bindparams(
    bindparam("sub", type_=BigInteger),
    bindparam("send", type_=BigInteger),
    bindparam("link", type_=BigInteger),
    bindparam("version", type_=Integer),
    bindparam("verdict", type_=String),
    bindparam("reason", type_=String),
    bindparam("at", type_=DateTime(timezone=True)),
)

# The same claim on its own, inside a transaction that also rewrites earlier rows.
_PG_CLAIM = text(
    """
INSERT INTO tracking_recipients (subscriber_id, send_id, version) VALUES (:sub, :send, 1)
ON CONFLICT (subscriber_id, send_id) DO UPDATE SET version = tracking_recipients.version + 1
WHERE tracking_recipients.version = :version
RETURNING 1
"""
).bindparams(
    bindparam("sub", type_=BigInteger),
    bindparam("send", type_=BigInteger),
    bindparam("version", type_=Integer),
)


def _record_postgresql(engine: Engine, hit: Hit, window: timedelta) -> str:
    decision = Decision(hit.reason)
    for _ in range(MAX_TRIES):
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            state = _read(conn, hit, window)
            if state is None:
                return ""
            decision = decide(hit.kind, hit.link_id, hit.reason, hit.at, state.recent, window)
            if not decision.convert:
                params = {
                    "sub": hit.subscriber_id,
                    "send": hit.send_id,
                    "link": hit.link_id,
                    "version": state.version,
                    "verdict": verdict_of(decision.reason),
                    "reason": decision.reason,
                    "at": hit.at,
                }
                if conn.execute(_PG_RECORD, params).first() is not None:
                    return decision.reason
                continue  # another hit of this recipient came first: judge again
        with engine.begin() as conn:
            claim = {"sub": hit.subscriber_id, "send": hit.send_id, "version": state.version}
            if conn.execute(_PG_CLAIM, claim).first() is None:
                continue
            _convert(conn, hit, decision, state)
            conn.execute(_upsert(conn), _row(hit, decision.reason))
            return decision.reason
    log.warning("tracking: recipient %s contended; hit recorded unjudged", hit.subscriber_id)
    with engine.begin() as conn:
        conn.execute(_upsert(conn), _row(hit, decision.reason))
    return decision.reason
