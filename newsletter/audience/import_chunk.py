"""One chunk of a CSV import, written with set-based statements in one transaction: what the
store already holds about the chunk's addresses, the plan (new subscribers, updates, new
members, suppressed rows), and its writes, through `db.bulk` (the statements' fast form per
database, in plain SQL on the driver)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlalchemy import Connection

from newsletter.db.bulk import BulkStatements
from newsletter.db.clock import utcnow


@dataclass(frozen=True)
class ImportRow:
    line: int
    email: str  # as given
    key: str  # normalised (addresses.parse)
    hash: str  # sha256 of key
    name: str
    attrs: dict[str, str]
    left: str | None = None  # the file's status column says they left: why (csv_columns)


def _merge(r: ImportRow, sub: tuple, changes: list[tuple]) -> bool:
    """Queue an update when the row brings a new name or attribute values; empty cells never
    erase what is stored."""
    sub_id, _, old_name, old = sub
    if not r.attrs and r.name in ("", old_name):
        return False
    old_attrs = old if isinstance(old, dict) else json.loads(old or "{}")
    name, attrs = r.name or old_name, {**old_attrs, **r.attrs}
    if name == old_name and attrs == old_attrs:
        return False
    changes.append((sub_id, name, json.dumps(attrs)))
    return True


@dataclass(frozen=True)
class _Known:
    """What the store already holds about a chunk's addresses."""

    blocked: set[str]  # address hashes suppressed on this list or every list
    subs: dict[str, tuple]  # email_key -> (id, email_key, name, attributes)
    member: dict[int, str]  # subscriber id -> status of its membership of this list


@dataclass
class _Plan:
    """The writes a chunk needs."""

    new: list[tuple] = field(default_factory=list)  # (email, key, name, attributes JSON)
    changes: list[tuple] = field(default_factory=list)  # (subscriber id, name, attributes JSON)
    join: list[str] = field(default_factory=list)  # keys of addresses to make members
    rows: list[ImportRow] = field(default_factory=list)  # those written (their attribute names)


def apply_chunk(
    conn: Connection,
    list_id: int,
    rows: list[ImportRow],
    source: str,
    status: str,
    dry_run: bool,
    no_sequences: bool = False,
) -> dict[str, int]:
    """Import `rows` (already valid and unique) into a list. Suppression wins. Returns counts
    added / updated / unchanged / suppressed."""
    d = BulkStatements(conn)
    d.prepare()
    counts = dict.fromkeys(("added", "updated", "unchanged", "suppressed"), 0)
    plan = _plan(rows, _known(d, list_id, rows), counts)
    if dry_run:
        counts["added"] += len(plan.join)
        return counts
    _write(d, plan, list_id, source, (status, no_sequences), counts)
    return counts


def _known(d: BulkStatements, list_id: int, rows: list[ImportRow]) -> _Known:
    """Suppressions, subscribers and memberships of this list for the chunk's addresses."""
    blocked = {
        h
        for (h,) in d.lookup(
            "address_hash",
            "suppressions",
            "address_hash",
            [r.hash for r in rows],
            "list_id IN (0, {p})",
            list_id,
        )
    }
    subs = {
        row[1]: row
        for row in d.lookup(
            "id, email_key, name, attributes", "subscribers", "email_key", [r.key for r in rows]
        )
    }
    member: dict[int, str] = {}
    if subs:
        member = dict(
            d.lookup(
                "subscriber_id, status",
                "memberships",
                "subscriber_id",
                [row[0] for row in subs.values()],
                "list_id = {p}",
                list_id,
            )
        )
    return _Known(blocked, subs, member)


def _plan(rows: list[ImportRow], known: _Known, counts: dict[str, int]) -> _Plan:
    """Sort each row into new subscriber, new member, update or nothing to do; count the rows
    that need no membership (suppressed, updated, unchanged) on the way."""
    plan = _Plan()
    for r in rows:
        sub = known.subs.get(r.key)
        if r.hash in known.blocked or (sub and known.member.get(sub[0]) == "unsubscribed"):
            counts["suppressed"] += 1
            continue
        plan.rows.append(r)
        if sub is None:
            plan.new.append((r.email, r.key, r.name, json.dumps(r.attrs)))
            plan.join.append(r.key)
            continue
        changed = _merge(r, sub, plan.changes)
        if sub[0] not in known.member:
            plan.join.append(r.key)
        else:
            counts["updated" if changed else "unchanged"] += 1
    return plan


def _write(
    d: BulkStatements,
    plan: _Plan,
    list_id: int,
    source: str,
    status: tuple[str, bool],  # (status, no_sequences)
    counts: dict[str, int],
) -> None:
    """Insert the new subscribers, update the changed ones, add the memberships; count them."""
    now = d.ts(utcnow())
    names = {name for r in plan.rows for name in r.attrs}
    if names:
        d.record_names(names, now)
    if plan.new:
        plan.new.sort(key=lambda v: v[1])  # one lock order for imports running at once
        d.insert_subscribers(plan.new, now)
    if plan.changes:
        d.update_subscribers(plan.changes, now)
    if plan.join:
        ids = sorted(i for (i,) in d.lookup("id", "subscribers", "email_key", plan.join))
        added = d.insert_memberships(ids, list_id, status[0], source, now, no_sequences=status[1])
        counts["added"] += added
        counts["unchanged"] += len(plan.join) - added  # another import got there first
