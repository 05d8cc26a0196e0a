"""Unsubscribes, suppressions, re-consent, double opt-in confirmation and erasure.

Suppression wins. A suppression (matched on the address hash; list_id 0 = every list) is never
lifted by an import or a plain `add`. An explicit re-consent lifts an unsubscribe, a manual
suppression or a bounce (the mailbox may work again; the next hard bounce suppresses it again);
a complaint is never lifted. A suppression also marks the matching memberships `unsubscribed`,
so list counts tell the truth; the audience query still checks suppressions itself.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, and_, delete, select, update

from newsletter import db
from newsletter.addresses import Address
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
    history records only an actual change."""
    sub = get_subscriber(engine, subscriber_id)
    if sub is None:
        raise StoreError(f"no subscriber with id {subscriber_id}")
    with begin(engine) as conn:
        _suppress(conn, address(sub["email"]), list_id or 0, reason, source)


def suppress_address(
    engine: Engine, email: str, reason: str, *, list_id: int = 0, source: str = ""
) -> None:
    """Suppress an address (webhooks: bounced / complained / unsubscribed), known or not."""
    with begin(engine) as conn:
        _suppress(conn, address(email), list_id, reason, source)


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
    with engine.connect() as conn:
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


def _suppress(conn: Connection, addr: Address, list_id: int, reason: str, source: str) -> None:
    if reason not in REASONS:
        raise StoreError(f"suppression reason '{reason}': use one of {', '.join(REASONS)}")
    x = db.suppressions
    existing = suppressions(conn, addr.hash, [])  # global only
    if list_id:
        existing += [s for s in suppressions(conn, addr.hash, [list_id]) if s["list_id"]]
    same = [s for s in existing if s["list_id"] == list_id]
    if not same:
        insert_suppression(conn, addr.hash, addr.email, list_id, reason, source)
    elif _RANK[reason] > _RANK[same[0]["reason"]]:  # a complaint outranks an unsubscribe
        conn.execute(update(x).where(x.c.id == same[0]["id"]).values(reason=reason, source=source))
    sub_id = conn.execute(
        select(db.subscribers.c.id).where(db.subscribers.c.email_key == addr.key)
    ).scalar()
    if sub_id is None:
        return
    m = db.memberships
    where = and_(m.c.subscriber_id == sub_id, m.c.status != "unsubscribed")
    if list_id:
        where = and_(where, m.c.list_id == list_id)
    changed = conn.execute(
        update(m).where(where).values(status="unsubscribed", updated_at=db.now())
    )
    if changed.rowcount or not same:
        event(conn, sub_id, list_id or None, reason, source)


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
