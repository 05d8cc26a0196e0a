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

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from newsletter.audience.addresses import hash_key
from newsletter.audience.suppressions import RANK, record_global_suppressions
from newsletter.db import tables
from newsletter.db.clock import utcnow
from newsletter.db.connection import reading
from newsletter.db.dialect import insert_skipping

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


Key = tuple[int, int, str]  # (send, subscriber, kind)


def _values(item: Returned, now: Any) -> dict[str, Any]:
    return {
        "send_id": item.send_id,
        "subscriber_id": item.subscriber_id,
        "kind": item.kind,
        "category": item.category[:20],
        "status_code": item.status_code[:20],
        "diagnostic": item.diagnostic[:2000],
        "source": item.source[:200],
        "at": now,
    }


def insert_returns(conn: Connection, items: list[Returned]) -> set[Key]:
    """Store the news unless its (send, subscriber, kind) already has some, in one statement;
    returns the keys that were new (a key twice in `items` is stored once)."""
    if not items:
        return set()
    key = ("send_id", "subscriber_id", "kind")
    stmt = insert_skipping(conn, B, key, returning=key)
    now = utcnow()
    rows = conn.execute(stmt, [_values(i, now) for i in items]).all()
    return {(int(r[0]), int(r[1]), str(r[2])) for r in rows}


def soft_sends(conn: Connection, subscriber_ids: Iterable[int], days: int) -> dict[int, int]:
    """How many different sends bounced soft for each subscriber within `days`."""
    ids = sorted(set(subscriber_ids))
    if not ids:
        return {}
    since = utcnow() - timedelta(days=days)
    rows = conn.execute(
        select(B.c.subscriber_id, func.count(func.distinct(B.c.send_id)))
        .where(
            B.c.subscriber_id.in_(ids),
            B.c.kind == "bounce",
            B.c.category == "soft",
            B.c.at >= since,
        )
        .group_by(B.c.subscriber_id)
    )
    return {int(sid): int(n) for sid, n in rows}


def suppressions_due(
    conn: Connection, items: list[Returned], policy: SoftBouncePolicy
) -> dict[int, tuple[str, Returned]]:
    """subscriber id -> (reason, the news that calls for it), for news already stored: hard
    bounces and complaints at once, soft bounces past the limit; the strongest reason wins."""
    soft = soft_sends(
        conn, (i.subscriber_id for i in items if (i.kind, i.category) == ("bounce", "soft")),
        policy.days,
    )  # fmt: skip
    due: dict[int, tuple[str, Returned]] = {}
    for item in items:
        reason = None
        if item.kind == "complaint":
            reason = "complained"
        elif item.kind == "bounce" and (
            item.category == "hard"
            or (item.category == "soft" and soft.get(item.subscriber_id, 0) >= policy.limit)
        ):
            reason = "bounced"
        held = due.get(item.subscriber_id)
        if reason and (held is None or RANK[reason] > RANK[held[0]]):
            due[item.subscriber_id] = (reason, item)
    return due


def suppress_subscribers(conn: Connection, due: dict[int, tuple[str, Returned]]) -> set[int]:
    """Suppress each subscriber's address for every list unless it already is, as strongly
    (a subscriber who was forgotten is gone: their hash already is); returns whom it
    suppressed."""
    if not due:
        return set()
    s, x = tables.subscribers, tables.suppressions
    people = conn.execute(
        select(s.c.id, s.c.email, s.c.email_key).where(s.c.id.in_(sorted(due)))
    ).all()
    hashes = {int(p.id): hash_key(p.email_key) for p in people}
    held = dict(
        conn.execute(
            select(x.c.address_hash, x.c.reason).where(
                x.c.address_hash.in_(list(hashes.values())), x.c.list_id == 0
            )
        ).all()
    )
    done: dict[int, tuple[str, str, int, str, str]] = {}
    for person in people:
        reason, item = due[int(person.id)]
        h = hashes[int(person.id)]
        if h in held and RANK[held[h]] >= RANK[reason]:
            continue
        source = f"{item.source}: {item.label}"[:200]  # no diagnostic: `forget` keeps sources
        done[int(person.id)] = (h, person.email, int(person.id), reason, source)
    record_global_suppressions(conn, list(done.values()))
    return set(done)


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
