"""Subscribers: one per normalised address (see `addresses`), added to lists and removed.

Suppression wins: `add_subscriber` refuses a suppressed or unsubscribed address unless the
person's new consent is recorded (`resubscribe_reason`); the suppression side itself lives in
`suppressions` and `unsubscribe`.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, and_, delete, select, update

from newsletter.audience.addresses import Address, require_valid
from newsletter.audience.history import record_event
from newsletter.audience.lists import get_list, get_list_by_id
from newsletter.audience.memberships import membership_status, set_membership
from newsletter.audience.names import clean_name
from newsletter.audience.suppressions import lift, suppressions
from newsletter.db import tables
from newsletter.db.clock import utcnow
from newsletter.db.dialect import insert_skipping
from newsletter.db.transaction import begin, connect_to
from newsletter.errors import StoreError


def get_subscriber(engine: Engine | Connection, email_or_id: str | int) -> dict | None:
    """By id, or by address in any case; None if unknown (StoreError if malformed)."""
    s = tables.subscribers
    if isinstance(email_or_id, int):
        where = s.c.id == email_or_id
    else:
        where = s.c.email_key == require_valid(email_or_id).key
    with connect_to(engine) as conn:
        row = conn.execute(select(s).where(where)).mappings().first()
        return dict(row) if row else None


def subscriber_and_list(
    engine: Engine, subscriber_id: int, list_id: int
) -> tuple[dict | None, dict | None]:
    """A subscriber and a list (None for list id 0 = every list), read in one transaction."""
    with connect_to(engine) as conn:
        subscriber = get_subscriber(conn, subscriber_id)
        the_list = get_list_by_id(conn, list_id) if list_id else None
    return subscriber, the_list


def require(engine: Engine, email: str) -> dict:
    sub = get_subscriber(engine, email)
    if sub is None:
        raise StoreError(f"no subscriber with address {email} (see `newsletter subscribers show`)")
    return sub


def insert_subscriber(conn: Connection, addr: Address, name: str) -> int:
    """Create the subscriber if the address is new; the id either way. Never changes a known
    subscriber (unlike `upsert_subscriber`)."""
    s, now = tables.subscribers, utcnow()
    values = {
        "email": addr.email,
        "email_key": addr.key,
        "name": clean_name(name),
        "attributes": {},
        "created_at": now,
        "updated_at": now,
    }
    conn.execute(insert_skipping(conn, s, ("email_key",)), values)
    return int(conn.execute(select(s.c.id).where(s.c.email_key == addr.key)).scalar_one())


def rename(engine: Engine, subscriber_id: int, name: str, *, source: str) -> bool:
    """The person's own new name (the preferences page); True if it changed."""
    s, name = tables.subscribers, clean_name(name)
    with begin(engine) as conn:
        changed = conn.execute(
            update(s)
            .where(s.c.id == subscriber_id, s.c.name != name)
            .values(name=name, updated_at=utcnow())
        ).rowcount
        if changed:
            record_event(conn, subscriber_id, None, "renamed", source)
    return bool(changed)


def upsert_subscriber(conn: Connection, addr: Address, name: str) -> int:
    """For the operator (`subscribers add`, imports): create, or update the name if given."""
    name = clean_name(name)
    s, now = tables.subscribers, utcnow()
    values = {
        "email": addr.email,
        "email_key": addr.key,
        "name": name,
        "attributes": {},
        "created_at": now,
        "updated_at": now,
    }
    conn.execute(insert_skipping(conn, s, ("email_key",)), values)
    row = conn.execute(select(s.c.id, s.c.name).where(s.c.email_key == addr.key)).one()
    if name and row.name != name:
        conn.execute(update(s).where(s.c.id == row.id).values(name=name, updated_at=now))
    return int(row.id)


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
    unsubscribed address unless `resubscribe_reason` records their new consent."""
    if status not in ("subscribed", "unconfirmed"):
        raise StoreError(f"status '{status}': use subscribed or unconfirmed")
    addr = require_valid(email)
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
            lift(conn, addr.hash, lst["id"], allow_global=True)
            record_event(conn, sub_id, lst["id"], "resubscribed", f"{source}: {resubscribe_reason}")
        if current in (None, "unsubscribed") or (current, status) == ("unconfirmed", "subscribed"):
            set_membership(conn, sub_id, lst["id"], status, source)
            record_event(conn, sub_id, lst["id"], status, source)
    added = get_subscriber(engine, sub_id)
    assert added is not None
    return {**added, "list": list_slug, "status": status}


def remove_subscriber(engine: Engine, email: str, list_slug: str | None = None) -> bool:
    """Delete a membership (or the whole subscriber without a list). Not a suppression: an
    operator's clean-up, so a later import may add the address again. Use unsubscribe for that."""
    sub = require(engine, email)
    with begin(engine) as conn:
        if list_slug is None:
            s = tables.subscribers
            return conn.execute(delete(s).where(s.c.id == sub["id"])).rowcount > 0
        lst = get_list(conn, list_slug)
        m = tables.memberships
        gone = conn.execute(
            delete(m).where(and_(m.c.subscriber_id == sub["id"], m.c.list_id == lst["id"]))
        ).rowcount
        if gone:
            record_event(conn, sub["id"], lst["id"], "removed", "")
        return gone > 0
