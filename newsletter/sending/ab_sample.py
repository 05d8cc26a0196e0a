"""The test phase's sample, chosen in the database: the snapshot is ordered by an integer hash
of (subscriber, send), the same on SQLite and PostgreSQL, and its first round(share x N) rows
are dealt to the variants in turn (A first, so A gets the extra one). Every other row waits as
`held`. Two statements per variant; no row passes through Python."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Connection, cast, exists, func, select, update

from newsletter.audience.segments import members, scope_for
from newsletter.db import tables
from newsletter.db.clock import utcnow

D = tables.deliveries
# Knuth's multiplicative hash, modulo a prime below 2^31: integers all the way, so both
# databases order the rows alike (no float, no collation, no random()).
MULTIPLIER = 2654435761
MODULUS = 2147483647


def sample_size(audience: int, share: float) -> int:
    """round(share x audience), halves up (Python's round() would go to even)."""
    return int(audience * share + 0.5)


def hash_order(send_id: int) -> Any:
    """The SQL expression rows of `send_id` are sampled in."""
    return (cast(D.c.subscriber_id, BigInteger) * MULTIPLIER + send_id) % MODULUS


def _mailable(conn: Connection, send_id: int) -> Any:
    """SQL: the row's reader may be mailed now, a subscribed member of one of the send's lists
    that no suppression covers (the audience's own anti-join, `segments.members`)."""
    ids = conn.execute(select(tables.sends.c.list_ids).where(tables.sends.c.id == send_id)).scalar()
    scope = scope_for(conn, [int(i) for i in ids or ()], utcnow())
    S, M = tables.subscribers, tables.memberships
    return exists(
        select(M.c.subscriber_id)
        .select_from(S.join(M, M.c.subscriber_id == S.c.id))
        .where(S.c.id == D.c.subscriber_id, *members(scope, None))
    )


def assign(conn: Connection, send_id: int, share: float, variants: int) -> int:
    """Hold the whole snapshot (a test's is snapshotted `held` already: no row to rewrite),
    then queue the sample with its variants; returns its size. N is the snapshot less the
    suppressed readers: they stay held (and are skipped at send time if ever queued)."""
    mine = (D.c.send_id == send_id, _mailable(conn, send_id))
    audience = conn.execute(select(func.count()).select_from(D).where(*mine)).scalar_one()
    size = sample_size(int(audience), share)
    conn.execute(
        update(D).where(D.c.send_id == send_id, D.c.status == "queued").values(status="held")
    )
    rank = func.row_number().over(order_by=(hash_order(send_id), D.c.subscriber_id))
    ranked = select(D.c.subscriber_id, rank.label("rn")).where(*mine).subquery()
    for variant in range(variants):
        chosen = select(ranked.c.subscriber_id).where(
            ranked.c.rn <= size, (ranked.c.rn - 1) % variants == variant
        )
        conn.execute(
            update(D)
            .where(D.c.send_id == send_id, D.c.subscriber_id.in_(chosen))
            .values(status="queued", variant=variant)
        )
    return size
