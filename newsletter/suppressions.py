"""Unsubscribes, suppressions, re-consent, double opt-in confirmation and erasure.

Suppression wins. A suppression (matched on the address hash; list_id 0 = every list) is never
lifted by an import or a plain `add`. An explicit re-consent lifts an unsubscribe, a manual
suppression or a bounce (the mailbox may work again; the next hard bounce suppresses it again);
a complaint is never lifted. A suppression also marks the matching memberships `unsubscribed`,
so list counts tell the truth; the audience query still checks suppressions itself.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, bindparam, delete, select, update

from newsletter import db, suppressions_pg
from newsletter.addresses import hash_key
from newsletter.errors import StoreError
from newsletter.store import (
    address,
    begin,
    event,
    get_subscriber,
    insert_suppression,
    membership_status,
    set_membership,
    suppressions,
)

REASONS = ("unsubscribed", "bounced", "complained", "manual")
_RANK = {"manual": 1, "unsubscribed": 1, "bounced": 2, "complained": 3}


def unsubscribe(
    engine: Engine,
    subscriber_id: int,
    list_id: int | None = None,
    *,
    reason: str = "unsubscribed",
    source: str = "",
) -> None:
    """Unsubscribe from one list, or from every list with a global suppression. Idempotent:
    history records only an actual change. One transaction of three or four statements: this
    is the one-click hot path (a mail provider POSTs it for every "Unsubscribe" pressed); on
    PostgreSQL a single statement (`suppressions_pg`)."""
    _check_reason(reason)
    if engine.dialect.name == "postgresql" and _RANK[reason] == 1:  # outranks nothing
        suppressions_pg.unsubscribe(engine, subscriber_id, list_id or 0, reason, source, db.now())
        return
    with begin(engine) as conn:
        row = conn.execute(_SUBSCRIBER_BY_ID, {"b_id": subscriber_id}).first()
        if row is None:
            raise StoreError(f"no subscriber with id {subscriber_id}")
        _suppress(conn, hash_key(row.email_key), row.email, subscriber_id, list_id or 0,
                  reason, source)


def suppress_address(
    engine: Engine, email: str, reason: str, *, list_id: int = 0, source: str = ""
) -> None:
    """Suppress an address (webhooks: bounced / complained / unsubscribed), known or not."""
    _check_reason(reason)
    addr = address(email)
    with begin(engine) as conn:
        sub_id = conn.execute(
            select(db.subscribers.c.id).where(db.subscribers.c.email_key == addr.key)
        ).scalar()
        _suppress(conn, addr.hash, addr.email, sub_id, list_id, reason, source)


def resubscribe(
    engine: Engine, subscriber_id: int, list_id: int, *, source: str, reason: str
) -> None:
    """The person's own new consent for one list: lifts a per-list unsubscribe, never a
    global suppression or a complaint."""
    sub = get_subscriber(engine, subscriber_id)
    if sub is None:
        raise StoreError(f"no subscriber with id {subscriber_id}")
    addr = address(sub["email"])
    with begin(engine) as conn:
        lift(conn, subscriber_id, addr.hash, list_id, allow_global=False)
        if membership_status(conn, subscriber_id, list_id) != "subscribed":
            set_membership(conn, subscriber_id, list_id, "subscribed", source)
            event(conn, subscriber_id, list_id, "resubscribed", f"{source}: {reason}")


def confirm(engine: Engine, subscriber_id: int, list_id: int) -> bool:
    """Double opt-in: unconfirmed -> subscribed. False if nothing to confirm or suppressed."""
    sub = get_subscriber(engine, subscriber_id)
    if sub is None:
        return False
    with begin(engine) as conn:
        if suppressions(conn, address(sub["email"]).hash, [list_id]):
            return False
        if membership_status(conn, subscriber_id, list_id) != "unconfirmed":
            return False
        set_membership(conn, subscriber_id, list_id, "subscribed", "confirmed")
        event(conn, subscriber_id, list_id, "confirmed", "")
    return True


def suppressions_of(engine: Engine, email: str) -> list[dict]:
    with db.reading(engine) as conn:
        return suppressions(conn, address(email).hash, None)


def forget(engine: Engine, email: str) -> bool:
    """Erasure request: delete the subscriber (name, attributes, memberships, history), blank the
    address in the send ledger and in suppressions, and keep only the address hash as a global
    suppression (existing reason kept, else `manual`) so they are never mailed again.
    Returns whether a subscriber existed."""
    addr = address(email)
    with begin(engine) as conn:
        if not any(s["list_id"] == 0 for s in suppressions(conn, addr.hash, None)):
            insert_suppression(conn, addr.hash, None, 0, "manual", "forget")
        conn.execute(
            update(db.suppressions)
            .where(db.suppressions.c.address_hash == addr.hash)
            .values(email=None)
        )
        sub_id = conn.execute(
            select(db.subscribers.c.id).where(db.subscribers.c.email_key == addr.key)
        ).scalar()
        if sub_id is None:
            return False
        conn.execute(
            update(db.deliveries).where(db.deliveries.c.subscriber_id == sub_id).values(email="")
        )
        for table in (db.subscriber_events, db.memberships):
            conn.execute(delete(table).where(table.c.subscriber_id == sub_id))
        conn.execute(delete(db.subscribers).where(db.subscribers.c.id == sub_id))
    return True


def _check_reason(reason: str) -> None:
    if reason not in REASONS:
        raise StoreError(f"suppression reason '{reason}': use one of {', '.join(REASONS)}")


# Built once: executing a prepared construct skips most of SQLAlchemy's per-call work.
_SUBSCRIBER_BY_ID = select(db.subscribers.c.email, db.subscribers.c.email_key).where(
    db.subscribers.c.id == bindparam("b_id")
)
_MEMBERSHIPS_OFF = {
    per_list: update(db.memberships)
    .where(
        db.memberships.c.subscriber_id == bindparam("b_sub"),
        db.memberships.c.status != "unsubscribed",
        *([db.memberships.c.list_id == bindparam("b_list")] if per_list else []),
    )
    .values(status="unsubscribed", updated_at=bindparam("b_now"))
    for per_list in (False, True)
}
_EVENT = db.subscriber_events.insert()


def _suppress(
    conn: Connection,
    h: str,
    email: str,
    sub_id: int | None,
    list_id: int,
    reason: str,
    source: str,
) -> None:
    """Record the suppression (a stronger reason replaces a weaker one for the same scope), mark
    the matching memberships unsubscribed, and log an event if anything changed."""
    now = db.now()
    x = db.suppressions
    changed = insert_suppression(conn, h, email, list_id, reason, source)
    weaker = [r for r in REASONS if _RANK[r] < _RANK[reason]]
    if not changed and weaker:  # a complaint outranks an earlier bounce or unsubscribe
        changed = conn.execute(
            update(x)
            .where(x.c.address_hash == h, x.c.list_id == list_id, x.c.reason.in_(weaker))
            .values(reason=reason, source=source)
        ).rowcount > 0
    if sub_id is None:
        return
    off = conn.execute(
        _MEMBERSHIPS_OFF[bool(list_id)], {"b_sub": sub_id, "b_list": list_id, "b_now": now}
    )
    if off.rowcount or changed:
        conn.execute(
            _EVENT,
            {"subscriber_id": sub_id, "list_id": list_id or None, "kind": reason,
             "detail": source, "at": now},
        )


def lift(conn: Connection, sub_id: int, h: str, list_id: int, *, allow_global: bool) -> None:
    blocks = suppressions(conn, h, [list_id])
    for s in blocks:
        if s["reason"] == "complained":
            raise StoreError(
                "this address complained (marked a mail as spam): it is never "
                "mailed again and cannot be re-subscribed"
            )
        if s["list_id"] == 0 and not allow_global:
            raise StoreError(
                f"this address is suppressed for every list ({s['reason']}); "
                "only an operator can lift that (`subscribers add --resubscribe`)"
            )
    ids = [s["id"] for s in blocks]
    if ids:
        conn.execute(delete(db.suppressions).where(db.suppressions.c.id.in_(ids)))
