"""Lists, subscribers and their memberships (the store's front door).

One subscriber per normalised address (see `addresses`). The suppression side (unsubscribe,
re-consent, erasure) lives in `suppressions`, the audience query in `audience`; both are
re-exported here so callers need only this module.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, and_, delete, func, select

from newsletter import db
from newsletter.audience import audience_ids, suppressed_subset
from newsletter.errors import StoreError
from newsletter.store import (
    address,
    begin,
    connect_to,
    event,
    get_subscriber,
    membership_status,
    set_membership,
    suppressions,
    upsert_subscriber,
)
from newsletter.suppressions import (
    REASONS,
    confirm,
    forget,
    lift,
    resubscribe,
    suppress_address,
    suppressions_of,
    unsubscribe,
)

__all__ = [
    "REASONS",
    "audience_ids",
    "confirm",
    "forget",
    "get_subscriber",
    "resubscribe",
    "suppress_address",
    "suppressed_subset",
    "suppressions_of",
    "unsubscribe",
]

STATUSES = ("subscribed", "unconfirmed", "unsubscribed")


def create_list(
    engine: Engine,
    slug: str,
    name: str,
    description: str = "",
    from_name: str = "",
    from_address: str = "",
    reply_to: str = "",
) -> dict:
    if not slug or not slug.replace("-", "").replace("_", "").isalnum() or slug != slug.lower():
        raise StoreError(f"list slug '{slug}': use lower-case letters, digits, '-' or '_'")
    if from_address:
        address(from_address)
    with begin(engine) as conn:
        if conn.execute(select(db.lists.c.id).where(db.lists.c.slug == slug)).first():
            raise StoreError(f"list '{slug}' already exists (see `newsletter lists`)")
        conn.execute(
            db.lists.insert().values(
                slug=slug,
                name=name or slug,
                description=description,
                from_name=from_name,
                from_address=from_address,
                reply_to=reply_to,
                created_at=db.now(),
            )
        )
    return get_list(engine, slug)


def get_list(engine: Engine | Connection, slug: str) -> dict:
    with connect_to(engine) as conn:
        row = conn.execute(select(db.lists).where(db.lists.c.slug == slug)).mappings().first()
        if row is None:
            known = ", ".join(conn.execute(select(db.lists.c.slug).order_by("slug")).scalars())
            raise StoreError(
                f"unknown list '{slug}' (known: {known or 'none'}; "
                f"create it with `newsletter lists create {slug} --name ...`)"
            )
        return dict(row)


def get_list_by_id(engine: Engine | Connection, list_id: int) -> dict | None:
    with connect_to(engine) as conn:
        row = conn.execute(select(db.lists).where(db.lists.c.id == list_id)).mappings().first()
        return dict(row) if row else None


def list_counts(engine: Engine) -> list[dict]:
    """Every list with its member count per status."""
    m = db.memberships
    with db.reading(engine) as conn:
        out = {
            r.id: {"slug": r.slug, "name": r.name, "id": r.id, **dict.fromkeys(STATUSES, 0)}
            for r in conn.execute(select(db.lists).order_by(db.lists.c.slug))
        }
        q = select(m.c.list_id, m.c.status, func.count()).group_by(m.c.list_id, m.c.status)
        for list_id, status, n in conn.execute(q):
            out[list_id][status] = n
    return list(out.values())


def add_subscriber(
    engine: Engine,
    email: str,
    list_slug: str,
    *,
    name: str = "",
    status: str = "subscribed",
    source: str = "cli",
    resubscribe_reason: str | None = None,
) -> dict:
    """Add `email` to a list (creating the subscriber if new). Refuses a suppressed or
    unsubscribed address unless `resubscribe_reason` records their new consent (see module)."""
    if status not in ("subscribed", "unconfirmed"):
        raise StoreError(f"status '{status}': use subscribed or unconfirmed")
    addr = address(email)
    with begin(engine) as conn:
        lst = get_list(conn, list_slug)
        sub_id = upsert_subscriber(conn, addr, name)
        current = membership_status(conn, sub_id, lst["id"])
        blocks = suppressions(conn, addr.hash, [lst["id"]])
        if blocks or current == "unsubscribed":
            why = blocks[0]["reason"] if blocks else "unsubscribed"
            if resubscribe_reason is None:
                raise StoreError(
                    f"{addr.email} is suppressed for '{list_slug}' ({why}); only their new "
                    "consent can lift it: add again with --resubscribe 'how they asked'"
                )
            lift(conn, sub_id, addr.hash, lst["id"], allow_global=True)
            event(conn, sub_id, lst["id"], "resubscribed", f"{source}: {resubscribe_reason}")
        if current in (None, "unsubscribed") or (current, status) == ("unconfirmed", "subscribed"):
            set_membership(conn, sub_id, lst["id"], status, source)
            event(conn, sub_id, lst["id"], status, source)
    return {**get_subscriber(engine, sub_id), "list": list_slug, "status": status}  # type: ignore[dict-item]


def remove_subscriber(engine: Engine, email: str, list_slug: str | None = None) -> bool:
    """Delete a membership (or the whole subscriber without a list). Not a suppression: an
    operator's clean-up, so a later import may add the address again. Use unsubscribe for that."""
    sub = require(engine, email)
    with begin(engine) as conn:
        if list_slug is None:
            return (
                conn.execute(
                    delete(db.subscribers).where(db.subscribers.c.id == sub["id"])
                ).rowcount
                > 0
            )
        lst = get_list(conn, list_slug)
        m = db.memberships
        gone = conn.execute(
            delete(m).where(and_(m.c.subscriber_id == sub["id"], m.c.list_id == lst["id"]))
        ).rowcount
        if gone:
            event(conn, sub["id"], lst["id"], "removed", "")
        return gone > 0


def memberships_of(engine: Engine | Connection, subscriber_id: int) -> list[dict]:
    m, lst = db.memberships, db.lists
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


def set_membership_status(
    engine: Engine,
    subscriber_id: int,
    list_id: int,
    status: str,
    *,
    source: str = "",
    reason: str = "preferences",
) -> None:
    """For the preferences page: subscribe (= resubscribe rules) or unsubscribe one list."""
    if status == "unsubscribed":
        unsubscribe(engine, subscriber_id, list_id, source=source)
    elif status == "subscribed":
        resubscribe(engine, subscriber_id, list_id, source=source, reason=reason)
    else:
        raise StoreError(f"status '{status}': use subscribed or unsubscribed")


def history(engine: Engine, subscriber_id: int) -> list[dict]:
    e = db.subscriber_events
    with db.reading(engine) as conn:
        q = select(e).where(e.c.subscriber_id == subscriber_id).order_by(e.c.id)
        return [dict(r) for r in conn.execute(q).mappings()]


def require(engine: Engine, email: str) -> dict:
    sub = get_subscriber(engine, email)
    if sub is None:
        raise StoreError(f"no subscriber with address {email} (see `newsletter subscribers show`)")
    return sub
