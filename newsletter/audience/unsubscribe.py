"""Unsubscribe: the one-click hot path (a mail provider POSTs it for every "Unsubscribe").

On SQLite it is one short transaction of three or four prepared statements. On PostgreSQL the
same work fits in ONE autocommitted statement of data-modifying CTEs, which is atomic on its own:
one round trip instead of six (BEGIN, four statements, COMMIT). It does exactly what the general
path does for a reason that outranks nothing (`unsubscribed`, `manual`): insert the suppression
unless that scope already has one, mark the matching memberships unsubscribed, and record an
event only if either changed. A subscriber or a list that no longer exists is `UnknownTarget`
and writes nothing (a signed link outlives what it names). The server computes the address
hash with the same rule as `addresses.hash_key` (sha256 of the UTF-8 key, lower-case hex); both
paths run the same tests.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Engine, String, bindparam, select, text
from sqlalchemy.exc import SQLAlchemyError

from newsletter.audience.addresses import hash_key
from newsletter.audience.suppressions import RANK, check_reason, record_suppression
from newsletter.db import tables
from newsletter.db.clock import utcnow
from newsletter.db.transaction import begin
from newsletter.errors import StoreError


class UnknownTarget(StoreError):
    """The subscriber or the list is gone (erased, removed, deleted): nothing was written."""


def unsubscribe(
    engine: Engine,
    subscriber_id: int,
    list_id: int | None = None,
    *,
    reason: str = "unsubscribed",
    source: str = "",
) -> None:
    """Unsubscribe from one list, or from every list with a global suppression. Idempotent:
    history records only an actual change. UnknownTarget if the subscriber or list is gone."""
    check_reason(reason)
    if engine.dialect.name == "postgresql" and RANK[reason] == 1:  # outranks nothing
        _unsubscribe_pg(engine, subscriber_id, list_id or 0, reason, source, utcnow())
        return
    with begin(engine) as conn:
        row = conn.execute(_SUBSCRIBER_BY_ID, {"b_id": subscriber_id}).first()
        if row is None:
            raise UnknownTarget(f"no subscriber with id {subscriber_id}")
        if list_id and conn.execute(_LIST_BY_ID, {"b_id": list_id}).first() is None:
            raise UnknownTarget(f"no list with id {list_id}")
        record_suppression(
            conn, hash_key(row.email_key), row.email, subscriber_id, list_id or 0, reason, source
        )


_SUBSCRIBER_BY_ID = select(tables.subscribers.c.email, tables.subscribers.c.email_key).where(
    tables.subscribers.c.id == bindparam("b_id")
)

_LIST_BY_ID = select(tables.lists.c.id).where(tables.lists.c.id == bindparam("b_id"))

_UNSUBSCRIBE = text(
    """
WITH sub AS (
    SELECT id, email, encode(sha256(convert_to(email_key, 'UTF8')), 'hex') AS h
    FROM subscribers WHERE id = :sub_id
      AND (:list_id = 0 OR EXISTS (SELECT 1 FROM lists WHERE id = :list_id))
), sup AS (
    INSERT INTO suppressions (address_hash, email, list_id, reason, source, created_at)
    SELECT h, email, :list_id, :reason, :source, :now FROM sub
    ON CONFLICT (address_hash, list_id) DO NOTHING
    RETURNING 1
), mem AS (
    UPDATE memberships SET status = 'unsubscribed', updated_at = :now
    WHERE subscriber_id IN (SELECT id FROM sub) AND status <> 'unsubscribed'
      AND (:list_id = 0 OR list_id = :list_id)
    RETURNING 1
), ev AS (
    INSERT INTO subscriber_events (subscriber_id, list_id, kind, detail, at)
    SELECT id, NULLIF(:list_id, 0), :reason, :source, :now FROM sub
    WHERE EXISTS (SELECT FROM sup) OR EXISTS (SELECT FROM mem)
)
SELECT count(*) FROM sub
"""
).bindparams(
    bindparam("sub_id", type_=BigInteger),
    bindparam("list_id", type_=BigInteger),
    bindparam("reason", type_=String),
    bindparam("source", type_=String),
    bindparam("now", type_=DateTime(timezone=True)),
)


def _unsubscribe_pg(
    engine: Engine, subscriber_id: int, list_id: int, reason: str, source: str, now: datetime
) -> None:
    params = {
        "sub_id": subscriber_id,
        "list_id": list_id,
        "reason": reason,
        "source": source,
        "now": now,
    }
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            found = conn.execute(_UNSUBSCRIBE, params).scalar_one()
    except SQLAlchemyError as exc:
        raise StoreError(f"database write failed: {exc.__class__.__name__}: {exc}") from None
    if not found:
        raise UnknownTarget(f"no subscriber with id {subscriber_id} or no list with id {list_id}")
