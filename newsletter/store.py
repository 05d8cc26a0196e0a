"""Primitives shared by the store modules (`subscribers`, `suppressions`): transactions with
SQLAlchemy errors translated, dialect-aware upserts, memberships, suppressions and history rows.
Not called from outside the store."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, and_, select, update
from sqlalchemy.exc import SQLAlchemyError

from newsletter import db
from newsletter.addresses import Address, InvalidAddress, parse
from newsletter.audience import insert_for
from newsletter.errors import StoreError


def address(email: str) -> Address:
    try:
        return parse(email)
    except InvalidAddress as exc:
        raise StoreError(f"'{email}' is not a valid email address: {exc}") from None


def get_subscriber(engine: Engine | Connection, email_or_id: str | int) -> dict | None:
    """By id, or by address in any case; None if unknown (StoreError if malformed)."""
    s = db.subscribers
    if isinstance(email_or_id, int):
        where = s.c.id == email_or_id
    else:
        where = s.c.email_key == address(email_or_id).key
    with connect_to(engine) as conn:
        row = conn.execute(select(s).where(where)).mappings().first()
        return dict(row) if row else None


def upsert_subscriber(conn: Connection, addr: Address, name: str) -> int:
    s, now = db.subscribers, db.now()
    conn.execute(
        insert_for(conn, s)
        .values(
            email=addr.email,
            email_key=addr.key,
            name=name,
            attributes={},
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["email_key"])
    )
    row = conn.execute(select(s.c.id, s.c.name).where(s.c.email_key == addr.key)).one()
    if name and row.name != name:
        conn.execute(update(s).where(s.c.id == row.id).values(name=name, updated_at=now))
    return row.id


def membership_status(conn: Connection, sub_id: int, list_id: int) -> str | None:
    m = db.memberships
    return conn.execute(
        select(m.c.status).where(and_(m.c.subscriber_id == sub_id, m.c.list_id == list_id))
    ).scalar()


def set_membership(conn: Connection, sub_id: int, list_id: int, status: str, source: str) -> None:
    m, now = db.memberships, db.now()
    stmt = insert_for(conn, m).values(
        subscriber_id=sub_id,
        list_id=list_id,
        status=status,
        source=source,
        created_at=now,
        updated_at=now,
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["subscriber_id", "list_id"],
            set_={"status": status, "source": source, "updated_at": now},
        )
    )


def suppressions(conn: Connection, address_hash: str, list_ids: list[int] | None) -> list[dict]:
    x = db.suppressions
    q = select(x).where(x.c.address_hash == address_hash).order_by(x.c.list_id)
    if list_ids is not None:
        q = q.where(x.c.list_id.in_([0, *list_ids]))
    return [dict(r) for r in conn.execute(q).mappings()]


_INSERT_SUPPRESSION: dict[str, Any] = {}  # dialect name -> INSERT .. ON CONFLICT DO NOTHING


def insert_suppression(
    conn: Connection, h: str, email: str | None, list_id: int, reason: str, source: str
) -> bool:
    """Add the suppression unless that address and scope already have one; True if added.
    The statement is built once per dialect (this is on the one-click unsubscribe path)."""
    stmt = _INSERT_SUPPRESSION.get(conn.dialect.name)
    if stmt is None:
        stmt = _INSERT_SUPPRESSION[conn.dialect.name] = insert_for(
            conn, db.suppressions
        ).on_conflict_do_nothing(index_elements=["address_hash", "list_id"])
    values = {"address_hash": h, "email": email, "list_id": list_id, "reason": reason,
              "source": source, "created_at": db.now()}
    return conn.execute(stmt, values).rowcount > 0


def event(conn: Connection, sub_id: int, list_id: int | None, kind: str, detail: str) -> None:
    conn.execute(
        db.subscriber_events.insert().values(
            subscriber_id=sub_id, list_id=list_id, kind=kind, detail=detail, at=db.now()
        )
    )


class connect_to:
    """Use a given Connection as is, or open one on an Engine."""

    def __init__(self, bind: Engine | Connection):
        self.bind, self.conn = bind, None

    def __enter__(self) -> Connection:
        if isinstance(self.bind, Connection):
            return self.bind
        self.conn = db.reading(self.bind)  # used for reads only
        return self.conn

    def __exit__(self, *exc: Any) -> None:
        if self.conn is not None:
            self.conn.close()


class begin:
    """engine.begin() with SQLAlchemy errors translated at the boundary."""

    def __init__(self, engine: Engine):
        self.cm = engine.begin()

    def __enter__(self) -> Connection:
        try:
            return self.cm.__enter__()
        except SQLAlchemyError as exc:
            raise StoreError(f"database unavailable: {exc.__class__.__name__}: {exc}") from None

    def __exit__(self, *exc: Any) -> bool | None:
        try:
            return self.cm.__exit__(*exc)
        except SQLAlchemyError as e:
            raise StoreError(f"database write failed: {e.__class__.__name__}: {e}") from None
