"""Named locks held in the database, so they hold across processes and machines.

A lock row names its owner (`host:pid:nonce`) and an expiry. A holder that dies is detected
at once on the same host (its pid is gone) and by the expiry elsewhere; a live holder extends
the expiry with `refresh`.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from newsletter.db import tables
from newsletter.db.clock import as_utc, utcnow

HOST = socket.gethostname()


def new_owner() -> str:
    return f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _owner_is_dead(owner: str) -> bool:
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != HOST or not pid.isdigit():
        return False  # another machine: only the expiry tells
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


TTL = timedelta(minutes=2)


def acquire(engine: Engine, name: str, owner: str, ttl: timedelta = TTL) -> str | None:
    """Take the lock; returns None on success, else the live holder's owner string."""
    now = utcnow()
    with engine.begin() as conn:
        row = conn.execute(
            select(tables.locks.c.owner, tables.locks.c.expires_at).where(
                tables.locks.c.name == name
            )
        ).first()
        if row is not None:
            expires = as_utc(row.expires_at)
            expired = expires is None or expires <= now
            if row.owner != owner and not expired and not _owner_is_dead(row.owner):
                return str(row.owner)
            # Only the dead holder's row: never a row a racing process has just taken.
            conn.execute(
                delete(tables.locks).where(
                    tables.locks.c.name == name, tables.locks.c.owner == row.owner
                )
            )
    try:
        with engine.begin() as conn:
            values = {"name": name, "owner": owner, "acquired_at": now, "expires_at": now + ttl}
            conn.execute(tables.locks.insert().values(**values))
    except IntegrityError:
        with engine.connect() as conn:
            holder = conn.execute(
                select(tables.locks.c.owner).where(tables.locks.c.name == name)
            ).scalar()
        return holder or "another process"
    return None


def refresh(engine: Engine, name: str, owner: str, ttl: timedelta = TTL) -> bool:
    with engine.begin() as conn:
        result = conn.execute(
            update(tables.locks)
            .where(tables.locks.c.name == name, tables.locks.c.owner == owner)
            .values(expires_at=utcnow() + ttl)
        )
    return result.rowcount == 1


def release(engine: Engine, name: str, owner: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            delete(tables.locks).where(tables.locks.c.name == name, tables.locks.c.owner == owner)
        )


def keeper(engine: Engine, name: str, owner: str, ttl: timedelta) -> Callable[[object], None]:
    """A progress callback that refreshes the lock every 20 s while the work runs; a missed
    refresh (the database away) is covered by the ttl."""
    last = [time.monotonic()]

    def keep_lock(_progress: object) -> None:
        if time.monotonic() - last[0] > 20:
            with contextlib.suppress(SQLAlchemyError):
                refresh(engine, name, owner, ttl)
            last[0] = time.monotonic()

    return keep_lock
