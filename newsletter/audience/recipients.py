"""Who gets a send: subscribed members of the lists, minus suppressions.

Suppressions are matched on the sha256 of the normalised address, which SQLite cannot compute,
so the hash is taken here in Python while rows stream past (about 1 us a row); only the
suppressions of the lists concerned are held in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import groupby

from sqlalchemy import Connection, and_, select

from newsletter.audience.addresses import hash_key
from newsletter.db import tables


def _suppression_sets(
    conn: Connection, list_ids: list[int]
) -> tuple[set[str], set[tuple[str, int]]]:
    x = tables.suppressions
    glob: set[str] = set()
    per_list: set[tuple[str, int]] = set()
    q = select(x.c.address_hash, x.c.list_id).where(x.c.list_id.in_([0, *list_ids]))
    for h, list_id in conn.execute(q):
        if list_id == 0:
            glob.add(h)
        else:
            per_list.add((h, list_id))
    return glob, per_list


def audience_ids(conn: Connection, list_ids: Iterable[int]) -> Iterator[tuple[int, str, str]]:
    """(subscriber_id, email, name) in id order, each subscriber once: subscribed on at least
    one of the lists and suppressed neither globally nor for every such list. Streams."""
    ids = list(list_ids)
    if not ids:
        return
    glob, per_list = _suppression_sets(conn, ids)
    s, m = tables.subscribers, tables.memberships
    q = (
        select(s.c.id, s.c.email, s.c.name, s.c.email_key, m.c.list_id)
        .join(m, m.c.subscriber_id == s.c.id)
        .where(and_(m.c.list_id.in_(ids), m.c.status == "subscribed"))
        .order_by(s.c.id, m.c.list_id)
        .execution_options(yield_per=5000)
    )
    for sub_id, rows in groupby(conn.execute(q), key=lambda r: r.id):
        rows = list(rows)
        h = hash_key(rows[0].email_key)
        if h in glob:
            continue
        if any((h, r.list_id) not in per_list for r in rows):
            yield sub_id, rows[0].email, rows[0].name


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
    every one of these lists."""
    ids = list(list_ids)
    live: dict[int, tuple[str, list[int]]] = {}
    for sub_id, _name, key, list_id in rows:
        live.setdefault(sub_id, (hash_key(key), []))[1].append(list_id)
    if not live:
        return set()
    x = tables.suppressions
    hashes = {h for h, _ in live.values()}
    found = {
        (h, list_id)
        for h, list_id in conn.execute(
            select(x.c.address_hash, x.c.list_id).where(
                and_(x.c.address_hash.in_(hashes), x.c.list_id.in_([0, *ids]))
            )
        )
    }
    return {
        sub_id
        for sub_id, (h, lists) in live.items()
        if (h, 0) in found or all((h, lid) in found for lid in lists)
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
