"""A person's own choices: asking to subscribe (the public form), confirming by the mailed link,
re-subscribing, and the preferences page.

The rules, because anyone can type any address into a form:
- A form post may create a new, `unconfirmed` subscriber with the name typed. It never changes a
  known subscriber, not even after the confirmation click (the owner never saw what was typed).
- No confirmation mail to an address that bounced, complained or was blocked by an operator or an
  erasure; one that unsubscribed may come back, with at most one confirmation mail a day.
- A confirmation link is consent given when it was mailed: it never undoes an opt-out,
  suppression or erasure that came later, and a second click changes nothing.
Every decision here runs in one transaction, with the subscriber's row locked on PostgreSQL
(SQLite's write lock already serialises them), so the limits hold across server processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Connection, Engine, and_, delete, exists, func, or_, select

from newsletter.audience.addresses import Address, hash_key, require_valid
from newsletter.audience.history import record_event
from newsletter.audience.link_rule import OPT_OUTS, LinkUse, check_link
from newsletter.audience.lists import get_list_by_id
from newsletter.audience.memberships import membership_status, set_membership
from newsletter.audience.subscribers import get_subscriber, insert_subscriber
from newsletter.audience.suppressions import lift, suppressions
from newsletter.audience.unsubscribe import unsubscribe
from newsletter.db import tables
from newsletter.db.clock import as_utc, utcnow
from newsletter.db.connection import reading
from newsletter.db.transaction import begin
from newsletter.errors import StoreError

CONFIRMATION_SENT = "confirmation-sent"  # history event kind
BLOCKING = ("bounced", "complained", "manual")  # suppressions only an operator lifts
# Confirmation mails per address: (count, window). Someone who left gets the strictest one.
LIMITS = ((3, timedelta(hours=1)), (5, timedelta(days=1)))
LIMITS_AFTER_LEAVING = ((1, timedelta(days=1)),)

# What a confirmation click did (the page says which).
CONFIRMED, ALREADY, WITHDRAWN, BLOCKED, GONE = (
    "confirmed",
    "already",
    "withdrawn",
    "blocked",
    "gone",
)


@dataclass(frozen=True)
class Mailing:
    """A confirmation mail to send: to whom (the stored address, never what was typed)."""

    subscriber_id: int
    email: str


def request_subscription(engine: Engine, email: str, list_id: int, name: str) -> Mailing | None:
    """The public form's whole decision for a valid `email`: who gets a confirmation mail, or
    None (already subscribed, blocked, or over the limit). The confirmation mail is counted
    here, before it goes out: a crash never means a flood."""
    addr = require_valid(email)
    with begin(engine) as conn:
        blocks = suppressions(conn, addr.hash, [list_id])
        if any(s["reason"] in BLOCKING for s in blocks):
            return None
        sub_id = _locked_subscriber_id(conn, addr)
        if sub_id is None:  # a new address: the only case where the form writes a subscriber
            sub_id = insert_subscriber(conn, addr, name)
            set_membership(conn, sub_id, list_id, "unconfirmed", "web:subscribe")
            record_event(conn, sub_id, list_id, "unconfirmed", "web:subscribe")
        status = membership_status(conn, sub_id, list_id)
        if status == "subscribed" and not blocks:
            return None  # nothing to confirm
        left = status == "unsubscribed" or bool(blocks)
        for limit, window in LIMITS_AFTER_LEAVING if left else LIMITS:
            if _confirmations_since(conn, sub_id, utcnow() - window) >= limit:
                return None
        record_event(conn, sub_id, list_id, CONFIRMATION_SENT, "web:subscribe")
        stored = conn.execute(select(tables.subscribers.c.email).where(_id_is(sub_id))).scalar()
    return Mailing(sub_id, str(stored))


def unconfirmed_members(engine: Engine, list_id: int) -> list[int]:
    """The ids of the list's unconfirmed members (`subscribers confirm-request`)."""
    m = tables.memberships
    with reading(engine) as conn:
        q = select(m.c.subscriber_id).where(m.c.list_id == list_id, m.c.status == "unconfirmed")
        return [int(i) for i in conn.execute(q.order_by(m.c.subscriber_id)).scalars()]


def request_confirmation(
    engine: Engine, subscriber_id: int, list_id: int, source: str
) -> tuple[str, Mailing | None]:
    """An operator's request that an unconfirmed member confirm: ("send", the Mailing), counted
    now as the form counts its mail, or why not: "asked" (a request from `source` went to them
    already: once per address), "limited" (the form's limits), "blocked", "not unconfirmed"."""
    s = tables.subscribers
    with begin(engine) as conn:
        row = conn.execute(
            select(s.c.email, s.c.email_key).where(_id_is(subscriber_id)).with_for_update()
        ).first()
        if row is None or membership_status(conn, subscriber_id, list_id) != "unconfirmed":
            return "not unconfirmed", None
        if suppressions(conn, hash_key(row.email_key), [list_id]):
            return "blocked", None
        e = tables.subscriber_events
        asked = select(e.c.id).where(
            e.c.subscriber_id == subscriber_id,
            e.c.list_id == list_id,
            e.c.kind == CONFIRMATION_SENT,
            e.c.detail == source,
        )
        if conn.execute(asked.limit(1)).first() is not None:
            return "asked", None
        for limit, window in LIMITS:
            if _confirmations_since(conn, subscriber_id, utcnow() - window) >= limit:
                return "limited", None
        record_event(conn, subscriber_id, list_id, CONFIRMATION_SENT, source)
    return "send", Mailing(subscriber_id, str(row.email))


def link_outcome(engine: Engine, subscriber_id: int, list_id: int, issued_at: datetime) -> str:
    """What a click on this confirmation link would do, changing nothing (the page a GET
    shows): CONFIRMED means it would subscribe them."""
    with reading(engine) as conn:
        return _outcome(conn, subscriber_id, list_id, issued_at)[0]


def confirm_from_link(engine: Engine, subscriber_id: int, list_id: int, issued_at: datetime) -> str:
    """A click on a confirmation link issued at `issued_at`: CONFIRMED, ALREADY (nothing
    changed), WITHDRAWN (an opt-out came after the link), BLOCKED (bounced, complained or
    blocked by an operator) or GONE (the subscriber or the list no longer exists)."""
    with begin(engine) as conn:
        outcome, status, blocks = _outcome(conn, subscriber_id, list_id, issued_at, lock=True)
        if outcome != CONFIRMED:
            return outcome
        if blocks:  # unsubscribes from before the link: this click is the newer consent
            ids = [s["id"] for s in blocks]
            conn.execute(delete(tables.suppressions).where(tables.suppressions.c.id.in_(ids)))
        set_membership(conn, subscriber_id, list_id, "subscribed", "web:confirm")
        kind = "resubscribed" if status == "unsubscribed" or blocks else "confirmed"
        record_event(conn, subscriber_id, list_id, kind, "web:confirm: clicked the mailed link")
    return CONFIRMED


def _outcome(
    conn: Connection, sub_id: int, list_id: int, issued_at: datetime, *, lock: bool = False
) -> tuple[str, str | None, list[dict]]:
    """(outcome, membership status, suppressions covering the list) for a click now."""
    query = select(tables.subscribers.c.email_key).where(_id_is(sub_id))
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None or get_list_by_id(conn, list_id) is None:
        return GONE, None, []
    status = membership_status(conn, sub_id, list_id)
    blocks = suppressions(conn, hash_key(row.email_key), [list_id])
    if status == "subscribed" and not blocks:
        return ALREADY, status, blocks
    if any(s["reason"] in BLOCKING for s in blocks):
        return BLOCKED, status, blocks
    if _opted_out_since(conn, sub_id, list_id, issued_at, blocks):
        return WITHDRAWN, status, blocks
    return CONFIRMED, status, blocks


def _opted_out_since(
    conn: Connection, sub_id: int, list_id: int, since: datetime, blocks: list[dict]
) -> bool:
    """Did this person leave this list (or everything) at or after `since`?"""
    if any((as_utc(s["created_at"]) or since) >= since for s in blocks):
        return True
    e = tables.subscriber_events
    later = conn.execute(
        select(func.count())
        .select_from(e)
        .where(
            e.c.subscriber_id == sub_id,
            e.c.kind.in_(OPT_OUTS),
            or_(e.c.list_id.is_(None), e.c.list_id == list_id),
            e.c.at >= since,
        )
    ).scalar_one()
    return bool(later)


def resubscribe(
    engine: Engine,
    subscriber_id: int,
    list_id: int,
    *,
    source: str,
    reason: str,
    link: LinkUse | None = None,
) -> None:
    """The person's own new consent for one list: lifts a per-list unsubscribe, never a
    global suppression or a complaint. Through a `link`, only under `link_rule.check_link`'s
    rule (LinkCannotUndo)."""
    sub = get_subscriber(engine, subscriber_id)
    if sub is None:
        raise StoreError(f"no subscriber with id {subscriber_id}")
    addr = require_valid(sub["email"])
    with begin(engine) as conn:
        if link is not None and membership_status(conn, subscriber_id, list_id) != "subscribed":
            check_link(conn, subscriber_id, list_id, link)
        lift(conn, addr.hash, list_id, allow_global=False)
        if membership_status(conn, subscriber_id, list_id) != "subscribed":
            set_membership(conn, subscriber_id, list_id, "subscribed", source)
            record_event(conn, subscriber_id, list_id, "resubscribed", f"{source}: {reason}")


def set_membership_status(
    engine: Engine,
    subscriber_id: int,
    list_id: int,
    status: str,
    *,
    source: str = "",
    reason: str = "preferences",
    link: LinkUse | None = None,
) -> None:
    """For the preferences page: subscribe (= resubscribe rules) or unsubscribe one list."""
    if status == "unsubscribed":
        unsubscribe(engine, subscriber_id, list_id, source=source, link=link.mark if link else "")
    elif status == "subscribed":
        resubscribe(engine, subscriber_id, list_id, source=source, reason=reason, link=link)
    else:
        raise StoreError(f"status '{status}': use subscribed or unsubscribed")


def _confirmations_since(conn: Connection, sub_id: int, since: datetime) -> int:
    e = tables.subscriber_events
    return int(
        conn.execute(
            select(func.count())
            .select_from(e)
            .where(e.c.subscriber_id == sub_id, e.c.kind == CONFIRMATION_SENT, e.c.at >= since)
        ).scalar_one()
    )


def prune_unconfirmed(engine: Engine, older_than: timedelta, *, dry_run: bool = False) -> int:
    """Erase the subscribers who never confirmed (addresses typed by anyone): every membership
    still `unconfirmed`, and nothing asked, mailed or changed for `older_than`. No suppression
    is kept: they never opted in, so there is nothing to honour. Returns how many (would) go;
    safe to run at any time, and twice at once (chunks of 500, each its own transaction)."""
    stale = _never_confirmed_since(utcnow() - older_than)
    s = tables.subscribers
    if dry_run:
        with reading(engine) as conn:
            return int(conn.execute(select(func.count()).select_from(s).where(stale)).scalar_one())
    erased = 0
    while True:
        with begin(engine) as conn:
            ids = list(conn.execute(select(s.c.id).where(stale).limit(500)).scalars())
            for child in (tables.subscriber_events, tables.memberships):
                conn.execute(delete(child).where(child.c.subscriber_id.in_(ids)))
            conn.execute(delete(s).where(s.c.id.in_(ids)))
        erased += len(ids)
        if len(ids) < 500:
            return erased


def _never_confirmed_since(cutoff: datetime) -> ColumnElement[bool]:
    s, m, e = tables.subscribers, tables.memberships, tables.subscriber_events
    return and_(
        s.c.created_at < cutoff,
        exists().where(m.c.subscriber_id == s.c.id),
        ~exists().where(
            m.c.subscriber_id == s.c.id,
            or_(m.c.status != "unconfirmed", m.c.updated_at >= cutoff),
        ),
        ~exists().where(
            e.c.subscriber_id == s.c.id, e.c.kind == CONFIRMATION_SENT, e.c.at >= cutoff
        ),
    )


def _locked_subscriber_id(conn: Connection, addr: Address) -> int | None:
    s = tables.subscribers
    found = conn.execute(select(s.c.id).where(s.c.email_key == addr.key).with_for_update())
    value = found.scalar()
    return None if value is None else int(value)


def _id_is(subscriber_id: int) -> ColumnElement[bool]:
    return tables.subscribers.c.id == subscriber_id
