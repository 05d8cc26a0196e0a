"""The one translation of SQLAlchemy's errors (and so its drivers') into the project's
`StoreError`: what was being done, the error's kind and the driver's own words, never the SQL
or its parameters (they hold addresses). The original stays the `__context__`, for the web
app's log line (`web.security.describe_failure`).

Two kinds are told apart, because callers act on them: the database out of reach for now
(`DatabaseUnavailable`: the server down or restarting, a dropped connection, a lock held too
long; the web app answers 503 and the request may be retried) and a full disk under a SQLite
file (`DiskFull`, naming the file). SQLite's "database or disk is full" becomes `DiskFull`
wherever it is raised: an engine event (`raise_disk_full`, installed by `connection.create`)
and the driver-level statements (`driver_sql`) both ask `disk_full`.
"""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.exc import (
    DisconnectionError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
    TimeoutError,
)

from newsletter.errors import DatabaseUnavailable, DiskFull, StoreError

SQLITE_FULL = 13  # the primary result code of "database or disk is full"
# Connection-level trouble: the server is away, the connection broke, the pool or a lock timed
# out. Constraint violations and bad values are none of these: they stay plain StoreErrors.
_UNAVAILABLE = (OperationalError, InterfaceError, DisconnectionError, TimeoutError)


def disk_full(exc: BaseException, database: str | None) -> DiskFull | None:
    """`DiskFull` naming `database` when `exc` (a SQLAlchemy error or the driver's own) says
    the disk under a SQLite file is full; None otherwise."""
    cause = getattr(exc, "orig", None) or exc
    if isinstance(cause, sqlite3.Error):
        if (getattr(cause, "sqlite_errorcode", 0) or 0) & 0xFF != SQLITE_FULL:
            return None
    elif not (isinstance(cause, OSError) and cause.errno == errno.ENOSPC):
        return None
    return DiskFull(database or "the SQLite database")


def raise_disk_full(context: Any) -> None:
    """SQLAlchemy `handle_error` listener of a SQLite engine: a full disk is raised as
    `DiskFull` (naming the database file) in place of SQLAlchemy's OperationalError."""
    engine = context.engine
    found = disk_full(context.original_exception, engine.url.database if engine else None)
    if found is not None:
        raise found from context.sqlalchemy_exception


def gone(exc: BaseException, dialect: str) -> bool:
    """Whether `exc` (SQLAlchemy's or the driver's own) says the server is out of reach for
    now (restarting, the connection dropped): a PostgreSQL send waits that out. A SQLite file
    never goes away; its errors (locked, full) are never this."""
    if dialect == "sqlite":
        return False
    if isinstance(exc, DatabaseUnavailable) and not isinstance(exc, DiskFull):
        return True
    if isinstance(exc, _UNAVAILABLE) or getattr(exc, "connection_invalidated", False):
        return True
    names = {k.__name__ for k in type(getattr(exc, "orig", None) or exc).__mro__}
    return bool(names & {"OperationalError", "InterfaceError"})


def store_error(doing: str, exc: Exception) -> StoreError:
    """`doing: ErrorKind: the driver's words` as a StoreError (raise it `from None`);
    `DatabaseUnavailable` for connection-level trouble."""
    cause = getattr(exc, "orig", None) or exc
    kind = DatabaseUnavailable if isinstance(exc, _UNAVAILABLE) else StoreError
    return kind(f"{doing}: {type(exc).__name__}: {cause}")


@contextmanager
def translated(doing: str) -> Iterator[None]:
    """Any SQLAlchemy error inside becomes `store_error(doing, ...)`."""
    try:
        yield
    except SQLAlchemyError as exc:
        raise store_error(doing, exc) from None
