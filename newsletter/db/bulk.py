"""The set-based statements of a CSV import chunk (`audience.import_chunk`), whose fast form
differs between the databases: SQLite gets IN lists and executemany, PostgreSQL one array
parameter per column (`unnest`), passed in binary (psycopg's text array dumper alone cost ~1 us
an element), i.e. one round trip per statement. Both use INSERT ... ON CONFLICT, so imports
running at once never create an address twice.

Plain SQL through the driver (`exec_driver_sql`), not SQLAlchemy's compiled statements: per-row
parameter processing in Core cost ~13 us a row per statement, which alone broke the budget of a
million-row import.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from newsletter.db.derived import key_domain, key_hash
from newsletter.db.dialect import is_sqlite
from newsletter.db.driver_sql import stored_datetime


class BulkStatements:
    """The import's statements on one connection, in the fast form of its database."""

    def __init__(self, conn: Connection):
        self.run = conn.exec_driver_sql
        self.dialect = conn.dialect
        self.sqlite = is_sqlite(conn)

    def prepare(self) -> None:
        """SQLite: a bigger page cache (the default 2 MB thrashes once the indexes pass a few
        100k rows). Nothing to do on PostgreSQL."""
        if self.sqlite:
            self.run("PRAGMA cache_size = -65536")

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
        """Rows of (email, key, name, attributes JSON), with the columns derived from the key
        (`derived`) computed here: plain SQL gets no column defaults."""
        cols = "email, email_key, name, attributes, created_at, updated_at, address_hash, domain"
        end = "ON CONFLICT (email_key) DO NOTHING"
        derived = [(key_hash(row[1]), key_domain(row[1])) for row in new]
        if self.sqlite:
            self.run(
                f"INSERT INTO subscribers ({cols}) VALUES (?,?,?,?,?,?,?,?) {end}",
                [(*row, now, now, *more) for row, more in zip(new, derived, strict=True)],
            )
            return
        arrays = [list(col) for col in zip(*new, strict=True)]
        arrays += [list(col) for col in zip(*derived, strict=True)]
        self.run(
            f"INSERT INTO subscribers ({cols}) SELECT e, k, n, a::jsonb, %s, %s, h, d FROM "
            "unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[]) "
            f"AS t(e, k, n, a, h, d) ORDER BY k {end}",
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
            "UPDATE subscribers AS s SET name = t.n, attributes = t.a::jsonb, updated_at = %s "
            "FROM unnest(%b::bigint[], %b::text[], %b::text[]) AS t(i, n, a) "
            "WHERE s.id = t.i",
            (now, ids, names, attrs),
        )

    def insert_memberships(
        self,
        ids: list[int],
        list_id: int,
        status: str,
        source: str,
        now: object,
        *,
        no_sequences: bool = False,
    ) -> int:
        """New memberships; `no_sequences` (`import --no-sequences`) on the subscribed ones."""
        cols = "subscriber_id, list_id, status, source, created_at, updated_at, subscribed_at"
        cols += ", no_sequences"
        end = "ON CONFLICT (subscriber_id, list_id) DO NOTHING"
        since = now if status == "subscribed" else None  # a new member is subscribed from now
        none = no_sequences and status == "subscribed"
        if self.sqlite:
            result = self.run(
                f"INSERT INTO memberships ({cols}) VALUES (?,?,?,?,?,?,?,?) {end}",
                [(i, list_id, status, source, now, now, since, none) for i in ids],
            )
        else:
            result = self.run(
                f"INSERT INTO memberships ({cols}) SELECT i, %s, %s, %s, %s, %s, %s, %s "
                f"FROM unnest(%b::bigint[]) AS t(i) ORDER BY i {end}",
                (list_id, status, source, now, now, since, none, ids),
            )
        return max(result.rowcount, 0)

    def record_names(self, names: set[str], now: object) -> None:
        """The attribute names this chunk writes, kept once each (`tables.attribute_names`)."""
        mark = "?" if self.sqlite else "%s"
        self.run(
            f"INSERT INTO attribute_names (name, created_at) VALUES ({mark}, {mark}) "
            "ON CONFLICT (name) DO NOTHING",
            [(name, now) for name in sorted(names)],
        )
