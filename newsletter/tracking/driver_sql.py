"""The hot path's statements, run as plain SQL through the driver (`exec_driver_sql`).

Compiling and typing a statement costs SQLAlchemy about 70 us on this machine, as much as the
database's own work for a hit: the click redirect pays it on every request. Here a statement is
written once with `:name` parameters (converted to the driver's style per dialect), and
datetimes pass through SQLAlchemy's own DateTime bind and result processors, so the stored form
is exactly the one the rest of the code reads and writes.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, CursorResult, DateTime
from sqlalchemy.engine import Dialect

_NAME = re.compile(r"(?<![:\w]):(\w+)")
_DATETIME = DateTime(timezone=True)


class Sql:
    def __init__(self, text: str):
        self.text = text
        self._per_dialect: dict[str, str] = {}

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

    def run(self, conn: Connection, **params: Any) -> CursorResult[Any]:
        dialect = conn.dialect
        bind = _processors(dialect)[0]
        if bind is not None:
            params = {k: bind(v) if isinstance(v, datetime) else v for k, v in params.items()}
        return conn.exec_driver_sql(self._for(dialect), params)


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


def read_datetime(dialect: Dialect, value: Any) -> datetime:
    """A datetime column of a driver-level row, as the typed code would have read it."""
    result = _processors(dialect)[1]
    out = result(value) if result is not None else value
    assert isinstance(out, datetime)
    return out
