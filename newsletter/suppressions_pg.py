"""PostgreSQL: an unsubscribe as ONE autocommitted statement (the one-click hot path).

`suppressions.unsubscribe` otherwise takes BEGIN, four statements and COMMIT: six round trips.
On PostgreSQL the same work fits in one statement of data-modifying CTEs, which is atomic on
its own, so it runs in autocommit mode: one round trip. It does exactly what the general path
does for a reason that outranks nothing (`unsubscribed`, `manual`): insert the suppression
unless that scope already has one, mark the matching memberships unsubscribed, and record an
event only if either changed. The address hash is computed by the server with the same rule as
`addresses.hash_key` (sha256 of the UTF-8 key, lower-case hex); both paths run the same tests.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Engine, String, bindparam, text
from sqlalchemy.exc import SQLAlchemyError

from newsletter.errors import StoreError

_UNSUBSCRIBE = text(
    """
WITH sub AS (
    SELECT id, email, encode(sha256(convert_to(email_key, 'UTF8')), 'hex') AS h
    FROM subscribers WHERE id = :sub_id
), sup AS (
    INSERT INTO suppressions (address_hash, email, list_id, reason, source, created_at)
    SELECT h, email, :list_id, :reason, :source, :now FROM sub
    ON CONFLICT (address_hash, list_id) DO NOTHING
    RETURNING 1
), mem AS (
    UPDATE memberships SET status = 'unsubscribed', updated_at = :now
    WHERE subscriber_id = :sub_id AND status <> 'unsubscribed'
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


def unsubscribe(
    engine: Engine, subscriber_id: int, list_id: int, reason: str, source: str, now: datetime
) -> None:
    params = {"sub_id": subscriber_id, "list_id": list_id, "reason": reason,
              "source": source, "now": now}
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            found = conn.execute(_UNSUBSCRIBE, params).scalar_one()
    except SQLAlchemyError as exc:
        raise StoreError(f"database write failed: {exc.__class__.__name__}: {exc}") from None
    if not found:
        raise StoreError(f"no subscriber with id {subscriber_id}")
