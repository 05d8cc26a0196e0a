"""The hot paths' statements (a tracked click or open, a one-click unsubscribe), run as plain
SQL on the driver's own cursor.

Compiling, typing and wrapping a statement costs SQLAlchemy more than the database's own work
for a hit (measured: a recorded hit took about twice the CPU through prebuilt Core `text()`
statements on SQLite, and a PostgreSQL one-click unsubscribe a quarter more), and these paths
pay it on every request. Here a statement is written once with `:name` parameters (converted to
the driver's style per dialect) and run on the connection's DBAPI cursor, inside whatever
SQLAlchemy began (BEGIN IMMEDIATE on SQLite) or in autocommit. Driver errors become
SQLAlchemy's (IntegrityError, ...) as if SQLAlchemy had run it, and datetimes go through
SQLAlchemy's own DateTime processors, so the stored form is exactly the one the rest of the
code reads and writes.
"""

from __future__ import annotations

import re
from collections import namedtuple
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError

from newsletter.db.errors import disk_full

_NAME = re.compile(r"(?<![:\w]):(\w+)")
_DATETIME = DateTime(timezone=True)


class Result:
    """What the callers need of a cursor: its row count and its rows (fields by name)."""

    def __init__(self, rowcount: int, rows: list[Any]):
        self.rowcount = rowcount
        self._rows = rows

    def all(self) -> list[Any]:
        return self._rows

    def first(self) -> Any:
        return self._rows[0] if self._rows else None


class Sql:
    """One statement with `:name` parameters, its driver-style text kept per dialect."""

    def __init__(self, text: str):
        self.text = text
        self.names = tuple(dict.fromkeys(_NAME.findall(text)))  # the parameters it takes
        self._per_dialect: dict[str, str] = {}
        self._row_types: dict[tuple[str, ...], Any] = {}

    def _for(self, dialect: Dialect) -> str:
        sql = self._per_dialect.get(dialect.name)
        if sql is None:
            if dialect.name == "sqlite":  # the sqlite3 module takes :name with a dict
                sql = self.text
            elif dialect.paramstyle == "pyformat":  # psycopg
                sql = _NAME.sub(r"%(\1)s", self.text.replace("%", "%%"))
            else:  # pragma: no cover - the two drivers we support are above
                raise ValueError(f"unsupported parameter style {dialect.paramstyle}")
            self._per_dialect[dialect.name] = sql
        return sql

    def run_many(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        """Execute once per row of parameters (executemany: one call into the driver)."""
        if not rows:
            return
        dialect = conn.dialect
        bind = _processors(dialect)[0]
        names = self.names
        params = [{k: row[k] for k in names} for row in rows]
        if bind is not None:
            params = [
                {k: bind(v) if isinstance(v, datetime) else v for k, v in p.items()} for p in params
            ]
        sql = self._for(dialect)
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(sql, params)
        except dialect.loaded_dbapi.Error as exc:
            raise _translated(conn, sql, params, exc) from exc
        finally:
            cursor.close()

    def run(self, conn: Connection, **given: Any) -> Result:
        """Execute with the parameters it names, taken from `given` (callers pass one set for
        several statements); datetimes are stored as SQLAlchemy would store them."""
        dialect = conn.dialect
        bind = _processors(dialect)[0]
        params = {k: given[k] for k in self.names}
        if bind is not None:
            params = {k: bind(v) if isinstance(v, datetime) else v for k, v in params.items()}
        sql = self._for(dialect)
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql, params)
            rows = list(cursor.fetchall()) if cursor.description else []
            names = tuple(d[0] for d in cursor.description or ())
            rowcount = cursor.rowcount
        except dialect.loaded_dbapi.Error as exc:
            raise _translated(conn, sql, params, exc) from exc
        finally:
            cursor.close()
        if rows:
            kind = self._row_types.get(names) or self._row_types.setdefault(
                names,
                namedtuple("Row", names, rename=True),  # "?column?" becomes _0
            )
            rows = [kind(*r) for r in rows]
        return Result(rowcount, rows)


def _translated(conn: Connection, sql: str, params: Any, exc: Exception) -> Exception:
    """The driver's error as SQLAlchemy would raise it: `DiskFull` (naming the SQLite file)
    for a full disk, else SQLAlchemy's own class for it (IntegrityError, ...)."""
    return disk_full(exc, conn.engine.url.database) or DBAPIError.instance(
        sql, params, exc, conn.dialect.loaded_dbapi.Error
    )


_CACHE: dict[str, tuple[Any, Any]] = {}


def _processors(dialect: Dialect) -> tuple[Any, Any]:
    """SQLAlchemy's DateTime (bind, result) processors for the dialect (None: the driver's own)."""
    found = _CACHE.get(dialect.name)
    if found is None:
        impl = _DATETIME.dialect_impl(dialect)
        found = _CACHE[dialect.name] = (
            impl.bind_processor(dialect),
            impl.result_processor(dialect, None),
        )
    return found


def stored_datetime(dialect: Dialect, value: datetime) -> Any:
    """`value` as a driver-level statement must pass it (SQLite: SQLAlchemy's text form)."""
    bind = _processors(dialect)[0]
    return bind(value) if bind is not None else value


def read_datetime(dialect: Dialect, value: Any) -> datetime:
    """A datetime column of a driver-level row, as the typed code would have read it."""
    result = _processors(dialect)[1]
    out = result(value) if result is not None else value
    assert isinstance(out, datetime)
    return out
