"""Mail that came back about a subscriber: bounces, complaints and delay notices, and the
suppressions they lead to.

One row per (send, subscriber, kind), so a report read twice (a rerun after a crash, a provider
repeating an event) counts once. What suppresses an address:

- a hard bounce (the address is bad): `bounced`, at once;
- soft bounces (full mailbox, a server that gave up): `bounced` once `limit` different sends
  bounced soft within `days`;
- a complaint (the person marked a mail as spam): `complained`, for good;
- a blocked bounce (policy, reputation, content) never does: one blocklisting would otherwise
  empty a whole provider. It is counted and shown. A delay notice is information only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from newsletter.audience.addresses import hash_key
from newsletter.audience.suppressions import record_suppression
from newsletter.db import tables
from newsletter.db.clock import utcnow
from newsletter.db.connection import reading
from newsletter.db.dialect import insert_for

B = tables.bounces
KINDS = ("bounce", "complaint", "delayed")
CATEGORIES = ("hard", "soft", "blocked")


@dataclass(frozen=True)
class Returned:
    """One piece of news about one delivery, from a report in the mailbox or a webhook."""

    send_id: int  # 0: a confirmation mail (outside any send)
    subscriber_id: int
    kind: str  # bounce | complaint | delayed
    category: str = ""  # hard | soft | blocked (bounces); the feedback type (complaints)
    status_code: str = ""  # e.g. 5.1.1
    diagnostic: str = ""  # the remote server's words (may name the address)
    source: str = ""  # mailbox | imap | sendgrid

    @property
    def label(self) -> str:
        """`hard bounce 5.1.1`, `complaint abuse`: what happened, never naming the address."""
        if self.kind == "bounce":
            return " ".join(p for p in (self.category, "bounce", self.status_code) if p)
        return " ".join(p for p in (self.kind, self.category, self.status_code) if p)

    @property
    def summary(self) -> str:
        """`hard 5.1.1: <diagnostic>`: what the ledger row and `subscribers show` print."""
        head = " ".join(p for p in (self.category or self.kind, self.status_code) if p)
        return f"{head}: {self.diagnostic}" if self.diagnostic else head


@dataclass(frozen=True)
class SoftBouncePolicy:
    limit: int = 3  # soft bounces from different sends ...
    days: int = 30  # ... within this many days suppress the address


_INSERT: dict[str, Any] = {}  # dialect name -> INSERT .. ON CONFLICT DO NOTHING


def insert_return(conn: Connection, item: Returned) -> bool:
    """Store the news unless this (send, subscriber, kind) already has some; True if new."""
    stmt = _INSERT.get(conn.dialect.name)
    if stmt is None:
        stmt = _INSERT[conn.dialect.name] = (
            insert_for(conn, B)
            .on_conflict_do_nothing(index_elements=["send_id", "subscriber_id", "kind"])
            .returning(B.c.id)
        )  # rowcount is -1 on PostgreSQL once RETURNING is implied
    values = {
        "send_id": item.send_id,
        "subscriber_id": item.subscriber_id,
        "kind": item.kind,
        "category": item.category[:20],
        "status_code": item.status_code[:20],
        "diagnostic": item.diagnostic[:2000],
        "source": item.source[:200],
        "at": utcnow(),
    }
    return conn.execute(stmt, values).first() is not None


def _soft_sends(conn: Connection, subscriber_id: int, days: int) -> int:
    since = utcnow() - timedelta(days=days)
    return int(
        conn.execute(
            select(func.count(func.distinct(B.c.send_id))).where(
                B.c.subscriber_id == subscriber_id,
                B.c.kind == "bounce",
                B.c.category == "soft",
                B.c.at >= since,
            )
        ).scalar_one()
    )


def suppression_due(conn: Connection, item: Returned, policy: SoftBouncePolicy) -> str | None:
    """The suppression reason this news calls for (after it was stored), else None."""
    if item.kind == "complaint":
        return "complained"
    if item.kind != "bounce":
        return None
    if item.category == "hard":
        return "bounced"
    if item.category == "soft" and _soft_sends(conn, item.subscriber_id, policy.days) >= (
        policy.limit
    ):
        return "bounced"
    return None


def suppress_subscriber(conn: Connection, item: Returned, reason: str) -> bool:
    """Suppress the subscriber's address for every list; False if they no longer exist."""
    s = tables.subscribers
    row = conn.execute(select(s.c.email, s.c.email_key).where(s.c.id == item.subscriber_id)).first()
    if row is None:
        return False
    source = f"{item.source}: {item.label}"[:200]  # no diagnostic: `forget` keeps sources
    record_suppression(
        conn, hash_key(row.email_key), row.email, item.subscriber_id, 0, reason, source
    )
    return True


def returns_of(engine: Engine, subscriber_id: int) -> list[dict]:
    """Every bounce, complaint and delay of a subscriber, oldest first (`subscribers show`)."""
    s = tables.sends
    with reading(engine) as conn:
        q = (
            select(B, s.c.issue_id)
            .select_from(B.outerjoin(s, s.c.id == B.c.send_id))
            .where(B.c.subscriber_id == subscriber_id)
            .order_by(B.c.at, B.c.id)
        )
        return [dict(r) for r in conn.execute(q).mappings()]


def counts_by_category(conn: Connection, send_id: int) -> dict[str, int]:
    """hard, soft, blocked bounces, complaints and delays of one send."""
    out = dict.fromkeys((*CATEGORIES, "complaint", "delayed"), 0)
    rows = conn.execute(
        select(B.c.kind, B.c.category, func.count())
        .where(B.c.send_id == send_id)
        .group_by(B.c.kind, B.c.category)
    )
    for kind, category, n in rows:
        key = category if kind == "bounce" else kind
        out[key] = out.get(key, 0) + int(n)
    return out
