"""What differs between SQLite and PostgreSQL, in one place: which one a connection speaks,
upserts (and the prebuilt INSERT .. ON CONFLICT DO NOTHING statements, one per dialect and
shape), named locks held for one transaction, and locks held for a session (a worker's
liveness).

Code outside `db/` asks `is_sqlite` rather than comparing dialect names itself.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import Connection, Engine, Table, text
from sqlalchemy.dialects import postgresql, sqlite

from newsletter.errors import DatabaseUnavailable


class LockNotAvailable(DatabaseUnavailable):
    """A session lock is held by another session for now."""


def is_sqlite(bind: Engine | Connection) -> bool:
    return bind.dialect.name == "sqlite"


def insert_for(conn: Connection, table: Table) -> Any:
    """INSERT with ON CONFLICT support for the connection's dialect."""
    dialect = sqlite if is_sqlite(conn) else postgresql
    return dialect.insert(table)


_SKIPPING: dict[tuple[str, str, tuple[str, ...], tuple[str, ...]], Any] = {}


def insert_skipping(
    conn: Connection, table: Table, keys: tuple[str, ...], returning: tuple[str, ...] = ()
) -> Any:
    """INSERT INTO `table` .. ON CONFLICT (`keys`) DO NOTHING [RETURNING `returning`], built
    once per dialect and shape: executing a prebuilt construct skips most of SQLAlchemy's
    per-call work (the one-click unsubscribe runs one). RETURNING tells what was inserted where
    a row count cannot (PostgreSQL's is -1 for some forms; executemany)."""
    key = (conn.dialect.name, table.name, keys, returning)
    stmt = _SKIPPING.get(key)
    if stmt is None:
        stmt = insert_for(conn, table).on_conflict_do_nothing(index_elements=list(keys))
        if returning:
            stmt = stmt.returning(*(table.c[name] for name in returning))
        _SKIPPING[key] = stmt
    return stmt


def advisory_key(name: str) -> int:
    """A PostgreSQL advisory-lock key (signed 64 bits) for a lock name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


_XACT_LOCK = text("SELECT pg_advisory_xact_lock(:k)")


def lock_for_transaction(conn: Connection, name: str) -> None:
    """Hold the lock `name` until the transaction ends, waiting for whoever holds it.
    PostgreSQL: an advisory transaction lock. SQLite: nothing to do, its transactions already
    hold the database's only write lock (BEGIN IMMEDIATE, `connection.py`)."""
    if not is_sqlite(conn):
        conn.execute(_XACT_LOCK, {"k": advisory_key(name)})


def hold_session_lock(engine: Engine, name: str, wait: bool = True) -> Connection | None:
    """A connection holding the lock `name` for as long as it stays open: on PostgreSQL a
    session advisory lock, which the server drops with the session (so a process killed, on any
    machine, is seen gone at once). SQLite, one host's database, has none: None. Without
    `wait`, LockNotAvailable when a session (an old one of ours the server has not yet seen
    gone) still holds it."""
    if is_sqlite(engine):
        return None
    conn = engine.connect()
    if wait:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": advisory_key(name)})
    elif not conn.execute(
        text("SELECT pg_try_advisory_lock(:k)"), {"k": advisory_key(name)}
    ).scalar():
        conn.close()
        raise LockNotAvailable(f"the lock {name} is still held by an earlier session")
    conn.commit()
    return conn


def lock_still_held(conn: Connection) -> bool:
    """Whether `conn` (a `hold_session_lock` connection) still works, so still holds its lock."""
    try:
        conn.execute(text("SELECT 1")).scalar()
        conn.commit()
    except Exception:
        return False
    return True


def session_lock_held(engine: Engine, name: str) -> bool | None:
    """Whether some session holds the lock `name` (None on SQLite: no such locks there)."""
    if is_sqlite(engine):
        return None
    key = advisory_key(name)
    with engine.connect() as conn:
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
        if got:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        conn.commit()
    return not got


def server_started_at(conn: Connection) -> tuple[Any, Any] | None:
    """(when the server started, its clock now) on PostgreSQL, both aware datetimes: a restart
    drops every session lock, so a lock taken before it says nothing of its holder. None on
    SQLite."""
    if is_sqlite(conn):
        return None
    row = conn.execute(text("SELECT pg_postmaster_start_time(), now()")).one()
    return row[0], row[1]
