"""A person's own choices: double opt-in confirmation, re-subscribing, the preferences page, and
the record of confirmation mails sent (the per-address limit holds across server processes)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, func, select

from newsletter.audience.addresses import require_valid
from newsletter.audience.history import record_event
from newsletter.audience.memberships import membership_status, set_membership
from newsletter.audience.subscribers import get_subscriber
from newsletter.audience.suppressions import lift, suppressions
from newsletter.audience.unsubscribe import unsubscribe
from newsletter.db import tables
from newsletter.db.clock import utcnow
from newsletter.db.connection import reading
from newsletter.db.transaction import begin
from newsletter.errors import StoreError

CONFIRMATION_SENT = "confirmation-sent"  # history event kind


def resubscribe(
    engine: Engine, subscriber_id: int, list_id: int, *, source: str, reason: str
) -> None:
    """The person's own new consent for one list: lifts a per-list unsubscribe, never a
    global suppression or a complaint."""
    sub = get_subscriber(engine, subscriber_id)
    if sub is None:
        raise StoreError(f"no subscriber with id {subscriber_id}")
    addr = require_valid(sub["email"])
    with begin(engine) as conn:
        lift(conn, addr.hash, list_id, allow_global=False)
        if membership_status(conn, subscriber_id, list_id) != "subscribed":
            set_membership(conn, subscriber_id, list_id, "subscribed", source)
            record_event(conn, subscriber_id, list_id, "resubscribed", f"{source}: {reason}")


def confirm(engine: Engine, subscriber_id: int, list_id: int) -> bool:
    """Double opt-in: unconfirmed -> subscribed. False if nothing to confirm or suppressed."""
    sub = get_subscriber(engine, subscriber_id)
    if sub is None:
        return False
    with begin(engine) as conn:
        if suppressions(conn, require_valid(sub["email"]).hash, [list_id]):
            return False
        if membership_status(conn, subscriber_id, list_id) != "unconfirmed":
            return False
        set_membership(conn, subscriber_id, list_id, "subscribed", "confirmed")
        record_event(conn, subscriber_id, list_id, "confirmed", "")
    return True


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


def confirmations_sent(engine: Engine, subscriber_id: int, within: timedelta) -> int:
    """How many confirmation mails this subscriber was sent in the last `within`."""
    e = tables.subscriber_events
    since = utcnow() - within
    with reading(engine) as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(e)
                .where(
                    e.c.subscriber_id == subscriber_id,
                    e.c.kind == CONFIRMATION_SENT,
                    e.c.at >= since,
                )
            ).scalar_one()
        )


def note_confirmation_sent(engine: Engine, subscriber_id: int, list_id: int, detail: str) -> None:
    """Count a confirmation mail before it goes out: a crash never means a flood."""
    with begin(engine) as conn:
        record_event(conn, subscriber_id, list_id, CONFIRMATION_SENT, detail)
