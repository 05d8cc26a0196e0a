"""A subscriber's membership of a list: `subscribed`, `unconfirmed` or `unsubscribed`."""

from __future__ import annotations

from sqlalchemy import Connection, Engine, and_, case, false, literal, select

from newsletter.db import tables
from newsletter.db.clock import utcnow
from newsletter.db.dialect import insert_for
from newsletter.db.transaction import connect_to

STATUSES = ("subscribed", "unconfirmed", "unsubscribed")


def membership_status(conn: Connection, sub_id: int, list_id: int) -> str | None:
    m = tables.memberships
    return conn.execute(
        select(m.c.status).where(and_(m.c.subscriber_id == sub_id, m.c.list_id == list_id))
    ).scalar()


def set_membership(conn: Connection, sub_id: int, list_id: int, status: str, source: str) -> None:
    """Insert or change the membership. `subscribed_at` moves only on a transition into
    `subscribed` (confirm, resubscribe, an operator's add): staying subscribed keeps it. Such a
    transition clears `no_sequences` (an earlier `import --no-sequences`): this one joins."""
    m, now = tables.memberships, utcnow()
    became = now if status == "subscribed" else None
    stmt = insert_for(conn, m).values(
        subscriber_id=sub_id,
        list_id=list_id,
        status=status,
        source=source,
        created_at=now,
        updated_at=now,
        subscribed_at=became,
    )
    since = (
        m.c.subscribed_at
        if became is None
        else case(
            (m.c.status == "subscribed", m.c.subscribed_at),
            else_=literal(now, m.c.subscribed_at.type),
        )
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["subscriber_id", "list_id"],
            set_={
                "status": status,
                "source": source,
                "updated_at": now,
                "subscribed_at": since,
                "no_sequences": m.c.no_sequences
                if became is None
                else case((m.c.status == "subscribed", m.c.no_sequences), else_=false()),
            },
        )
    )


def memberships_of(engine: Engine | Connection, subscriber_id: int) -> list[dict]:
    m, lst = tables.memberships, tables.lists
    q = (
        select(
            lst.c.id.label("list_id"),
            lst.c.slug,
            lst.c.name,
            lst.c.description,
            m.c.status,
            m.c.source,
            m.c.created_at,
            m.c.updated_at,
        )
        .join(lst, lst.c.id == m.c.list_id)
        .where(m.c.subscriber_id == subscriber_id)
        .order_by(lst.c.slug)
    )
    with connect_to(engine) as conn:
        return [dict(r) for r in conn.execute(q).mappings()]
