"""One chunk of a CSV import, written with set-based statements in one transaction.

Plain SQL through the driver (`exec_driver_sql`), not SQLAlchemy's compiled statements: per-row
parameter processing in Core cost ~13 us a row per statement, which alone broke the budget of a
million-row import. Both databases use INSERT ... ON CONFLICT, so imports running at once never
create an address twice; SQLite gets IN lists and executemany, PostgreSQL one array parameter per
column (`= ANY`, `unnest`), passed in binary (psycopg's text array dumper alone cost ~1 us an
element), i.e. one round trip per statement.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection

from newsletter.db.clock import utcnow
from newsletter.db.dialect import is_sqlite
from newsletter.db.driver_sql import stored_datetime


@dataclass(frozen=True)
class ImportRow:
    line: int
    email: str  # as given
    key: str  # normalised (addresses.parse)
    hash: str  # sha256 of key
    name: str
    attrs: dict[str, str]


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


class _Dialect:
    """The few statements whose fast form differs: SQLite gets IN lists and executemany;
    PostgreSQL gets one array parameter (`= ANY`, `unnest`) per column, one round trip each."""

    def __init__(self, conn: Connection):
        self.run = conn.exec_driver_sql
        self.dialect = conn.dialect
        self.sqlite = is_sqlite(conn)

    def ts(self, value: datetime) -> object:
        """A timestamp as SQLAlchemy stores it (SQLite: its text form)."""
        return stored_datetime(self.dialect, value)

    def lookup(
        self, cols: str, table: str, column: str, values: list, where: str = "TRUE", *params: object
    ) -> list:
        """SELECT `cols` FROM `table` rows whose `column` is in `values` (and `where`, whose
        `{p}` placeholders take `params`). On PostgreSQL a join with the unnested array: an
        `= ANY(array)` filter can be planned as an index range scan that tests each row
        against the whole array (seconds per chunk at a million members)."""
        if self.sqlite:
            marks = ",".join("?" * len(values))
            sql = (
                f"SELECT {cols} FROM {table} WHERE {where.format(p='?')} AND {column} IN ({marks})"
            )
            return self.run(sql, (*params, *values)).all()
        kind = "bigint[]" if values and isinstance(values[0], int) else "text[]"
        sql = (
            f"SELECT {cols} FROM unnest(%b::{kind}) AS v(lookup_value) JOIN {table} "
            f"ON {table}.{column} = v.lookup_value WHERE {where.format(p='%s')}"
        )
        return self.run(sql, (values, *params)).all()

    def insert_subscribers(self, new: list[tuple], now: object) -> None:
        cols = "email, email_key, name, attributes, created_at, updated_at"
        end = "ON CONFLICT (email_key) DO NOTHING"
        if self.sqlite:
            self.run(
                f"INSERT INTO subscribers ({cols}) VALUES (?,?,?,?,?,?) {end}",
                [(*row, now, now) for row in new],
            )
            return
        arrays = [list(col) for col in zip(*new, strict=True)]
        self.run(
            f"INSERT INTO subscribers ({cols}) SELECT e, k, n, a::json, %s, %s FROM "
            "unnest(%b::text[], %b::text[], %b::text[], %b::text[]) AS t(e, k, n, a) "
            f"ORDER BY k {end}",
            (now, now, *arrays),
        )

    def update_subscribers(self, changes: list[tuple], now: object) -> None:
        if self.sqlite:
            self.run(
                "UPDATE subscribers SET name = ?, attributes = ?, updated_at = ? WHERE id = ?",
                [(n, a, now, i) for i, n, a in changes],
            )
            return
        ids, names, attrs = (list(col) for col in zip(*changes, strict=True))
        self.run(
            "UPDATE subscribers AS s SET name = t.n, attributes = t.a::json, updated_at = %s "
            "FROM unnest(%b::bigint[], %b::text[], %b::text[]) AS t(i, n, a) "
            "WHERE s.id = t.i",
            (now, ids, names, attrs),
        )

    def insert_memberships(
        self, ids: list[int], list_id: int, status: str, source: str, now: object
    ) -> int:
        cols = "subscriber_id, list_id, status, source, created_at, updated_at"
        end = "ON CONFLICT (subscriber_id, list_id) DO NOTHING"
        if self.sqlite:
            result = self.run(
                f"INSERT INTO memberships ({cols}) VALUES (?,?,?,?,?,?) {end}",
                [(i, list_id, status, source, now, now) for i in ids],
            )
        else:
            result = self.run(
                f"INSERT INTO memberships ({cols}) SELECT i, %s, %s, %s, %s, %s "
                f"FROM unnest(%b::bigint[]) AS t(i) ORDER BY i {end}",
                (list_id, status, source, now, now, ids),
            )
        return max(result.rowcount, 0)


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


def apply_chunk(
    conn: Connection,
    list_id: int,
    rows: list[ImportRow],
    source: str,
    status: str,
    dry_run: bool,
) -> dict[str, int]:
    """Import `rows` (already valid and unique) into a list. Suppression wins. Returns counts
    added / updated / unchanged / suppressed."""
    d = _Dialect(conn)
    if d.sqlite:  # the default 2 MB page cache thrashes once the indexes pass a few 100k rows
        d.run("PRAGMA cache_size = -65536")
    counts = dict.fromkeys(("added", "updated", "unchanged", "suppressed"), 0)
    plan = _plan(rows, _known(d, list_id, rows), counts)
    if dry_run:
        counts["added"] += len(plan.join)
        return counts
    _write(d, plan, list_id, source, status, counts)
    return counts


def _known(d: _Dialect, list_id: int, rows: list[ImportRow]) -> _Known:
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
    d: _Dialect, plan: _Plan, list_id: int, source: str, status: str, counts: dict[str, int]
) -> None:
    """Insert the new subscribers, update the changed ones, add the memberships; count them."""
    now = d.ts(utcnow())
    if plan.new:
        plan.new.sort(key=lambda v: v[1])  # one lock order for imports running at once
        d.insert_subscribers(plan.new, now)
    if plan.changes:
        d.update_subscribers(plan.changes, now)
    if plan.join:
        ids = sorted(i for (i,) in d.lookup("id", "subscribers", "email_key", plan.join))
        added = d.insert_memberships(ids, list_id, status, source, now)
        counts["added"] += added
        counts["unchanged"] += len(plan.join) - added  # another import got there first
