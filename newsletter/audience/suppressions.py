"""Suppressions: addresses that must not be mailed, matched on the address hash.

Suppression wins. A suppression (list_id 0 = every list) is never lifted by an import or a plain
`add`. An explicit re-consent lifts an unsubscribe, a manual suppression or a bounce (the mailbox
may work again; the next hard bounce suppresses it again); a complaint is never lifted. A
suppression also marks the matching memberships `unsubscribed`, so list counts tell the truth;
the audience query still checks suppressions itself. `forget` erases a person and keeps only
the hash.
"""

from __future__ import annotations

import re

from sqlalchemy import (
    Connection,
    Engine,
    bindparam,
    delete,
    func,
    literal_column,
    or_,
    select,
    update,
)

from newsletter.audience.addresses import require_valid
from newsletter.db import tables
from newsletter.db.clock import utcnow
from newsletter.db.connection import reading
from newsletter.db.dialect import insert_skipping
from newsletter.db.transaction import begin
from newsletter.errors import StoreError

REASONS = ("unsubscribed", "bounced", "complained", "manual")
ERASED = "[erased address]"  # what `forget` leaves where other rows quoted the address
RANK = {"manual": 1, "unsubscribed": 1, "bounced": 2, "complained": 3}


def check_reason(reason: str) -> None:
    if reason not in REASONS:
        raise StoreError(f"suppression reason '{reason}': use one of {', '.join(REASONS)}")


def suppressions(conn: Connection, address_hash: str, list_ids: list[int] | None) -> list[dict]:
    """The suppressions of one address: every one, or those covering these lists."""
    x = tables.suppressions
    q = select(x).where(x.c.address_hash == address_hash).order_by(x.c.list_id)
    if list_ids is not None:
        q = q.where(x.c.list_id.in_([0, *list_ids]))
    return [dict(r) for r in conn.execute(q).mappings()]


def suppressions_of(engine: Engine, email: str) -> list[dict]:
    with reading(engine) as conn:
        return suppressions(conn, require_valid(email).hash, None)


def insert_suppression(
    conn: Connection, h: str, email: str | None, list_id: int, reason: str, source: str
) -> bool:
    """Add the suppression unless that address and scope already have one; True if added."""
    stmt = insert_skipping(conn, tables.suppressions, ("address_hash", "list_id"), ("id",))
    values = {
        "address_hash": h,
        "email": email,
        "list_id": list_id,
        "reason": reason,
        "source": source,
        "created_at": utcnow(),
    }
    return conn.execute(stmt, values).first() is not None


# Built once: executing a prepared construct skips most of SQLAlchemy's per-call work.
_MEMBERSHIPS_OFF = {
    per_list: update(tables.memberships)
    .where(
        tables.memberships.c.subscriber_id == bindparam("b_sub"),
        tables.memberships.c.status != "unsubscribed",
        *([tables.memberships.c.list_id == bindparam("b_list")] if per_list else []),
    )
    .values(status="unsubscribed", updated_at=bindparam("b_now"))
    for per_list in (False, True)
}
_EVENT = tables.subscriber_events.insert()


def record_suppression(
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
    now = utcnow()
    x = tables.suppressions
    changed = insert_suppression(conn, h, email, list_id, reason, source)
    weaker = [r for r in REASONS if RANK[r] < RANK[reason]]
    if not changed and weaker:  # a complaint outranks an earlier bounce or unsubscribe
        changed = (
            conn.execute(
                update(x)
                .where(x.c.address_hash == h, x.c.list_id == list_id, x.c.reason.in_(weaker))
                .values(reason=reason, source=source)
            ).rowcount
            > 0
        )
    if sub_id is None:
        return
    off = conn.execute(
        _MEMBERSHIPS_OFF[bool(list_id)], {"b_sub": sub_id, "b_list": list_id, "b_now": now}
    )
    if off.rowcount or changed:
        conn.execute(
            _EVENT,
            {
                "subscriber_id": sub_id,
                "list_id": list_id or None,
                "kind": reason,
                "detail": source,
                "at": now,
            },
        )


def record_global_suppressions(
    conn: Connection, rows: list[tuple[str, str, int, str, str]]
) -> None:
    """`record_suppression` for many addresses at once, for every list, in a few statements:
    rows of (address hash, email, subscriber id, reason, source). For callers that pass only
    addresses whose suppression is missing or weaker (so each row is a change, with its event)."""
    if not rows:
        return
    now = utcnow()
    x = tables.suppressions
    conn.execute(
        insert_skipping(conn, x, ("address_hash", "list_id")),
        [
            {"address_hash": h, "email": e, "list_id": 0, "reason": r, "source": src,
             "created_at": now}
            for h, e, _, r, src in rows
        ],
    )  # fmt: skip
    for reason in REASONS:
        params = [{"b_h": h, "b_source": src} for h, _, _, r, src in rows if r == reason]
        weaker = [w for w in REASONS if RANK[w] < RANK[reason]]
        if params and weaker:  # constants spelled out: an expanding IN cannot run as executemany
            conn.execute(
                update(x)
                .where(
                    x.c.address_hash == bindparam("b_h"),
                    x.c.list_id == 0,
                    or_(*(x.c.reason == literal_column(f"'{w}'") for w in weaker)),
                )
                .values(reason=reason, source=bindparam("b_source")),
                params,
            )
    m = tables.memberships
    conn.execute(
        update(m)
        .where(
            m.c.subscriber_id.in_([sid for _, _, sid, _, _ in rows]), m.c.status != "unsubscribed"
        )
        .values(status="unsubscribed", updated_at=now)
    )
    conn.execute(
        _EVENT,
        [
            {"subscriber_id": sid, "list_id": None, "kind": r, "detail": src, "at": now}
            for _, _, sid, r, src in rows
        ],
    )


def suppress_address(
    engine: Engine, email: str, reason: str, *, list_id: int = 0, source: str = ""
) -> None:
    """Suppress an address (webhooks: bounced / complained / unsubscribed), known or not."""
    check_reason(reason)
    addr = require_valid(email)
    s = tables.subscribers
    with begin(engine) as conn:
        sub_id = conn.execute(select(s.c.id).where(s.c.email_key == addr.key)).scalar()
        record_suppression(conn, addr.hash, addr.email, sub_id, list_id, reason, source)


def lift(conn: Connection, h: str, list_id: int, *, allow_global: bool) -> None:
    """Remove the suppressions that keep this address from this list (re-consent). A complaint
    is never lifted; a global suppression only when `allow_global` (an operator)."""
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
        conn.execute(delete(tables.suppressions).where(tables.suppressions.c.id.in_(ids)))


def forget(engine: Engine, email: str) -> bool:
    """Erasure request: delete the subscriber (name, attributes, memberships, history), blank the
    address and the diagnostics in the send ledger and bounce records and the address in
    suppressions, and keep only the address hash as a global
    suppression (existing reason kept, else `manual`) so they are never mailed again.
    Returns whether a subscriber existed."""
    addr = require_valid(email)
    x = tables.suppressions
    try:
        with begin(engine) as conn:
            if not any(sup["list_id"] == 0 for sup in suppressions(conn, addr.hash, None)):
                insert_suppression(conn, addr.hash, None, 0, "manual", "forget")
            conn.execute(update(x).where(x.c.address_hash == addr.hash).values(email=None))
            _scrub_quotes(conn, {addr.email, addr.key})
            return _erase_subscriber(conn, addr.key)
    finally:
        flush_old_copies(engine)


def _scrub_quotes(conn: Connection, spellings: set[str]) -> None:
    """The address, in any case, taken out of every ledger detail and bounce diagnostic that
    quotes it (a forwarded bounce about someone else may): `status` prints those."""
    pattern = re.compile("|".join(re.escape(a) for a in spellings), re.IGNORECASE)
    d, b = tables.deliveries, tables.bounces
    for spelling in spellings:
        quoted = func.lower(d.c.detail).contains(spelling.lower(), autoescape=True)
        for row in conn.execute(select(d.c.send_id, d.c.subscriber_id, d.c.detail).where(quoted)):
            conn.execute(
                update(d)
                .where(d.c.send_id == row.send_id, d.c.subscriber_id == row.subscriber_id)
                .values(detail=pattern.sub(ERASED, row.detail))
            )
        quoted = func.lower(b.c.diagnostic).contains(spelling.lower(), autoescape=True)
        for row in conn.execute(select(b.c.id, b.c.diagnostic).where(quoted)):
            scrubbed = pattern.sub(ERASED, row.diagnostic)
            conn.execute(update(b).where(b.c.id == row.id).values(diagnostic=scrubbed))


def flush_old_copies(engine: Engine) -> None:
    """SQLite: fold the WAL (which holds the old pages) into the file and truncate it; the
    file's freed space is already zeroed (`secure_delete`, set on every connection)."""
    if engine.dialect.name != "sqlite":
        return
    raw = engine.raw_connection()  # outside any transaction: a checkpoint cannot run in one
    try:
        raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    finally:
        raw.close()


def _erase_subscriber(conn: Connection, key: str) -> bool:
    s = tables.subscribers
    sub_id = conn.execute(select(s.c.id).where(s.c.email_key == key)).scalar()
    if sub_id is None:
        return False
    d, b = tables.deliveries, tables.bounces
    # The remote servers' diagnostics in the ledger and the bounce records often quote the
    # address: erased too (the statuses and counts stay).
    conn.execute(update(d).where(d.c.subscriber_id == sub_id).values(email="", detail=""))
    conn.execute(update(b).where(b.c.subscriber_id == sub_id).values(diagnostic=""))
    for table in (tables.subscriber_events, tables.memberships, tables.sequence_members):
        conn.execute(delete(table).where(table.c.subscriber_id == sub_id))
    # Their tracking rows (hits, opt-out, judging state) go with them: ON DELETE CASCADE.
    conn.execute(delete(s).where(s.c.id == sub_id))
    return True
