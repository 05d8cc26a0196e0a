"""Transactions: `begin` (SQLAlchemy errors translated into StoreError at the boundary), reads
on a given connection or a fresh one (`connect_to`), and the hot paths' `autocommit`
connections with a transaction on that same connection when one is needed (`transaction_on`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine

from newsletter.db.connection import reading
from newsletter.db.errors import translated


class connect_to:
    """Use a given Connection as is, or open a read-only one on an Engine."""

    def __init__(self, bind: Engine | Connection):
        self.bind, self.conn = bind, None

    def __enter__(self) -> Connection:
        if isinstance(self.bind, Connection):
            return self.bind
        self.conn = reading(self.bind)  # used for reads only
        return self.conn

    def __exit__(self, *exc: Any) -> None:
        if self.conn is not None:
            self.conn.close()


class begin:
    """engine.begin() with SQLAlchemy errors translated at the boundary."""

    def __init__(self, engine: Engine):
        self.cm = engine.begin()

    def __enter__(self) -> Connection:
        with translated("database unavailable"):
            return self.cm.__enter__()

    def __exit__(self, *exc: Any) -> bool | None:
        with translated("database write failed"):
            return self.cm.__exit__(*exc)


def autocommit(engine: Engine) -> Connection:
    """A connection whose every statement commits on its own: one round trip for a hot path's
    single-statement write (on PostgreSQL a data-modifying CTE is atomic by itself)."""
    return engine.connect().execution_options(isolation_level="AUTOCOMMIT")


@contextmanager
def transaction_on(conn: Connection) -> Iterator[Connection]:
    """A transaction on an `autocommit` connection, which autocommits again after it. On the
    same pool connection: a request that held one connection while it waited for a second
    would run the pool dry under a burst (each waits for a connection another one holds)."""
    conn.execution_options(isolation_level=conn.default_isolation_level)
    try:
        with conn.begin():
            yield conn
    finally:
        conn.execution_options(isolation_level="AUTOCOMMIT")
