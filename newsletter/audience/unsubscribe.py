"""Unsubscribe: the one-click hot path (a mail provider POSTs it for every "Unsubscribe").

For a reason that outranks nothing (`unsubscribed`, `manual`) it does exactly what the general
path (`suppressions.record_suppression`) does: insert the suppression unless that scope already
has one, mark the matching memberships unsubscribed, and record an event only if either
changed. It does so in plain SQL on the driver (`db.driver_sql`: SQLAlchemy's per-statement
work cost more than the database's own here). On SQLite: one short BEGIN IMMEDIATE transaction
of three or four statements. On PostgreSQL: ONE autocommitted statement of data-modifying CTEs,
atomic on its own, one round trip instead of six (BEGIN, four statements, COMMIT); the server
computes the address hash with the same rule as `addresses.hash_key` (sha256 of the UTF-8 key,
lower-case hex). A subscriber or a list that no longer exists is `UnknownTarget` and writes
nothing (a signed link outlives what it names). Both paths run the same tests.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, bindparam, select

from newsletter.audience.addresses import hash_key
from newsletter.audience.suppressions import RANK, check_reason, record_suppression
from newsletter.db import tables
from newsletter.db.clock import utcnow
from newsletter.db.dialect import is_sqlite
from newsletter.db.driver_sql import Sql
from newsletter.db.errors import translated
from newsletter.db.transaction import autocommit, begin
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
    link: str = "",
) -> None:
    """Unsubscribe from one list, or from every list with a global suppression. Idempotent:
    history records only an actual change. UnknownTarget if the subscriber or list is gone.
    `link`: the mark of the link it came through (`consent.link_mark`), kept in the history
    so that the same link, and only it, may undo it (`consent.resubscribe`)."""
    check_reason(reason)
    if RANK[reason] > 1:  # it may replace a weaker suppression: the general path
        _unsubscribe_outranking(engine, subscriber_id, list_id or 0, reason, source)
        return
    params = {
        "sub_id": subscriber_id,
        "list_id": list_id or 0,
        "reason": reason,
        "source": source,
        "detail": f"[{link}] {source}" if link else source,
        "now": utcnow(),
    }
    with translated("database write failed"):
        if is_sqlite(engine):
            _unsubscribe_sqlite(engine, params)
            return
        with autocommit(engine) as conn:
            found = _UNSUBSCRIBE_PG.run(conn, **params).first()[0]
    if not found:
        raise UnknownTarget(f"no subscriber with id {subscriber_id} or no list with id {list_id}")


_TARGET = Sql(
    "SELECT email, email_key, (:list_id = 0 OR EXISTS (SELECT 1 FROM lists WHERE id = :list_id))"
    " AS list_found FROM subscribers WHERE id = :sub_id"
)
_SUPPRESS = Sql(
    "INSERT INTO suppressions (address_hash, email, list_id, reason, source, created_at) "
    "VALUES (:h, :email, :list_id, :reason, :source, :now) "
    "ON CONFLICT (address_hash, list_id) DO NOTHING"
)
_MEMBERSHIPS_OFF = Sql(
    "UPDATE memberships SET status = 'unsubscribed', updated_at = :now "
    "WHERE subscriber_id = :sub_id AND status <> 'unsubscribed' "
    "AND (:list_id = 0 OR list_id = :list_id)"
)
_EVENT = Sql(
    "INSERT INTO subscriber_events (subscriber_id, list_id, kind, detail, at) "
    "VALUES (:sub_id, NULLIF(:list_id, 0), :reason, :detail, :now)"
)


def _unsubscribe_sqlite(engine: Engine, params: dict[str, Any]) -> None:
    with engine.begin() as conn:  # BEGIN IMMEDIATE: the write lock
        target = _TARGET.run(conn, **params).first()
        if target is None:
            raise UnknownTarget(f"no subscriber with id {params['sub_id']}")
        if not target.list_found:
            raise UnknownTarget(f"no list with id {params['list_id']}")
        mine = {**params, "h": hash_key(target.email_key), "email": target.email}
        added = _SUPPRESS.run(conn, **mine).rowcount
        if _MEMBERSHIPS_OFF.run(conn, **mine).rowcount or added:
            _EVENT.run(conn, **mine)


_UNSUBSCRIBE_PG = Sql(
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
    SELECT id, NULLIF(:list_id, 0), :reason, :detail, :now FROM sub
    WHERE EXISTS (SELECT FROM sup) OR EXISTS (SELECT FROM mem)
)
SELECT count(*) FROM sub
"""
)

_SUBSCRIBER_BY_ID = select(tables.subscribers.c.email, tables.subscribers.c.email_key).where(
    tables.subscribers.c.id == bindparam("b_id")
)
_LIST_BY_ID = select(tables.lists.c.id).where(tables.lists.c.id == bindparam("b_id"))


def _unsubscribe_outranking(
    engine: Engine, subscriber_id: int, list_id: int, reason: str, source: str
) -> None:
    """A bounce or a complaint through `unsubscribe`: `record_suppression`, which may replace
    a weaker suppression of the same scope."""
    with begin(engine) as conn:
        row = conn.execute(_SUBSCRIBER_BY_ID, {"b_id": subscriber_id}).first()
        if row is None:
            raise UnknownTarget(f"no subscriber with id {subscriber_id}")
        if list_id and conn.execute(_LIST_BY_ID, {"b_id": list_id}).first() is None:
            raise UnknownTarget(f"no list with id {list_id}")
        record_suppression(
            conn, hash_key(row.email_key), row.email, subscriber_id, list_id, reason, source
        )
