"""Who gets a send: subscribed members of the lists, minus suppressions, matched in SQL on the
indexed `subscribers.address_hash` (an anti-join: `segments.members`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from sqlalchemy import Connection, and_, select

from newsletter.audience.segments import audience_rows, scope_for
from newsletter.db import tables
from newsletter.db.clock import utcnow


def audience_ids(conn: Connection, list_ids: Iterable[int]) -> Iterator[tuple[int, str, str]]:
    """(subscriber_id, email, name) in id order, each subscriber once: subscribed on at least
    one of the lists and suppressed neither globally nor for every such list. Streams."""
    ids = list(list_ids)
    if ids:
        yield from audience_rows(scope_for(conn, ids, utcnow()), None)


def live_memberships(
    conn: Connection, list_ids: Iterable[int], subscriber_ids: Iterable[int]
) -> list[tuple[int, str, str, int]]:
    """(id, name, email_key, list_id) of each `subscribed` membership these subscribers hold in
    these lists: what the sender re-reads for every batch."""
    ids, wanted = list(list_ids), set(subscriber_ids)
    if not wanted:
        return []
    s, m = tables.subscribers, tables.memberships
    # A dense batch (the sender's usual case) is read as an id range: one indexed range scan
    # instead of binding a thousand parameters; rows outside `wanted` are dropped below. The
    # range is put on memberships.subscriber_id too, so the (list_id, status, subscriber_id)
    # index is range-scanned whatever the planner believes (right after a bulk load,
    # PostgreSQL's statistics may claim the list is nearly empty, and it would then walk the
    # whole list for every batch: 430 ms instead of 2 ms at a million members).
    low, high = min(wanted), max(wanted)
    dense = high - low < 4 * len(wanted)
    q = (
        select(s.c.id, s.c.name, s.c.email_key, m.c.list_id)
        .join(m, m.c.subscriber_id == s.c.id)
        .where(
            s.c.id.between(low, high) if dense else s.c.id.in_(wanted),
            m.c.subscriber_id.between(low, high) if dense else m.c.subscriber_id.in_(wanted),
            m.c.list_id.in_(ids),
            m.c.status == "subscribed",
        )
    )
    return [(i, name or "", key, lid) for i, name, key, lid in conn.execute(q) if i in wanted]


def blocked(
    conn: Connection, list_ids: Iterable[int], rows: Iterable[tuple[int, str, str, int]]
) -> set[int]:
    """Subscribers among `rows` (from `live_memberships`) that a suppression now keeps from
    every one of these lists (joined on the indexed address hash)."""
    ids = list(list_ids)
    live: dict[int, list[int]] = {}
    for sub_id, _name, _key, list_id in rows:
        live.setdefault(sub_id, []).append(list_id)
    if not live:
        return set()
    s, x = tables.subscribers, tables.suppressions
    found: dict[int, set[int]] = {}
    for sub_id, list_id in conn.execute(
        select(s.c.id, x.c.list_id)
        .join(x, x.c.address_hash == s.c.address_hash)
        .where(and_(s.c.id.in_(list(live)), x.c.list_id.in_([0, *ids])))
    ):
        found.setdefault(int(sub_id), set()).add(int(list_id))
    return {
        sub_id
        for sub_id, lists in live.items()
        if 0 in found.get(sub_id, ()) or all(lid in found.get(sub_id, ()) for lid in lists)
    }


def attributes_of(
    conn: Connection, subscriber_ids: Iterable[int], fields: Iterable[str]
) -> dict[int, dict[str, object]]:
    """{subscriber id: those of `fields` they have} among their attributes: read only for a
    send whose reader placeholders use one (a batch otherwise never loads the JSON)."""
    ids, wanted = list(subscriber_ids), set(fields)
    if not ids or not wanted:
        return {}
    s = tables.subscribers
    rows = conn.execute(select(s.c.id, s.c.attributes).where(s.c.id.in_(ids)))
    return {
        i: {k: v for k, v in (attrs or {}).items() if k in wanted}
        for i, attrs in rows
        if isinstance(attrs, dict)
    }
