"""The rule for what a link may undo (README, Security). An opt-out made through a link keeps
the link's mark in the history (`link_mark`: a hash, never the token). A resubscribe through
an unsubscribe link undoes only the unsubscribe that the same link made, while no newer opt-out
of that membership came; one through a preferences link may also undo an opt-out older than
the link itself (the person was mailed the link after it). A link never undoes a newer opt-out
made another way: the preferences page, the operator, a bounce, a complaint, another link.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, or_, select

from newsletter.db import tables
from newsletter.db.clock import as_utc
from newsletter.errors import StoreError

# History kinds that opt out (a later confirmation must not undo them either: `consent`).
OPT_OUTS = ("unsubscribed", "bounced", "complained", "manual")


@dataclass(frozen=True)
class LinkUse:
    """A resubscribe through a link: its mark (`link_mark`), and when it was mailed (None: an
    unsubscribe link, which may undo only what it did itself)."""

    mark: str
    issued_at: datetime | None = None


class LinkCannotUndo(StoreError):
    """A link asked to undo an opt-out it did not make, or one newer than itself."""


def link_mark(token: str) -> str:
    """What the history keeps of the link an opt-out came through: never the token itself."""
    return "link " + hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()[:16]


def check_link(conn: Connection, subscriber_id: int, list_id: int, link: LinkUse) -> None:
    """The rule (README, Security): a link undoes only the opt-out it made itself, while none
    newer came; a preferences link also what came before it was mailed."""
    e = tables.subscriber_events
    newest = conn.execute(
        select(e.c.detail, e.c.at)
        .where(
            e.c.subscriber_id == subscriber_id,
            e.c.kind.in_(OPT_OUTS),
            or_(e.c.list_id.is_(None), e.c.list_id == list_id),
        )
        .order_by(e.c.id.desc())
        .limit(1)
    ).first()
    if newest is None:  # none recorded (an import, a database of release 0.1.0)
        if link.issued_at is None:
            raise LinkCannotUndo("this link can only undo the unsubscribe it made itself")
        return
    if (newest.detail or "").startswith(f"[{link.mark}]"):
        return
    if link.issued_at is not None and as_utc(newest.at) < link.issued_at:
        return
    if link.issued_at is None:
        raise LinkCannotUndo("this link can only undo the unsubscribe it made itself")
    raise LinkCannotUndo("an opt-out made after this link was mailed stands")
