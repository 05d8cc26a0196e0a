"""Who is sending: worker identities, their registration on a send, and liveness.

On PostgreSQL each worker holds a session advisory lock that dies with its connection, so a
SIGKILLed worker is seen dead at once from any machine; on SQLite (one host) the pid is checked.
Claimed rows of a dead worker become `unknown`: maybe delivered, so never resent silently.
"""

from __future__ import annotations

import os
import socket
import uuid

from sqlalchemy import Connection, Engine, delete, func, select, text, update

from newsletter.db import tables
from newsletter.db.clock import utcnow
from newsletter.db.connection import reading
from newsletter.db.dialect import advisory_key, is_sqlite

D = tables.deliveries
HOST = socket.gethostname()


class Worker:
    """This process as a worker. Keep it open while sending; `close` when done."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.id = f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._conn: Connection | None = None
        if not is_sqlite(engine):
            self._conn = engine.connect()
            self._conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": advisory_key(self.id)})
            self._conn.commit()

    def close(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(tables.locks).where(tables.locks.c.owner == self.id))
        if self._conn is not None:
            self._conn.close()  # ends the session: the advisory lock goes with it
            self._conn = None


def is_alive(engine: Engine, worker_id: str) -> bool:
    if not is_sqlite(engine):
        key = advisory_key(worker_id)
        with engine.connect() as conn:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
            if got:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()
        return not got
    host, _, rest = worker_id.partition(":")
    pid = rest.partition(":")[0]
    if host != HOST or not pid.isdigit():
        return True  # SQLite is a one-host database; be safe with a foreign id
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"  # zombie = dead
    except OSError:
        pass
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def join(conn: Connection, send_id: int, worker: Worker) -> None:
    """Register `worker` on the send, so others can tell whether the send has live workers."""
    name = f"send:{send_id}:worker:{worker.id}"
    if conn.execute(select(tables.locks.c.name).where(tables.locks.c.name == name)).first() is None:
        now = utcnow()
        conn.execute(
            tables.locks.insert().values(
                name=name, owner=worker.id, acquired_at=now, expires_at=now
            )
        )


def workers(conn: Connection, send_id: int) -> list[str]:
    prefix = f"send:{send_id}:worker:"
    rows = conn.execute(select(tables.locks.c.owner).where(tables.locks.c.name.startswith(prefix)))
    return [r.owner for r in rows]


def live_workers(engine: Engine, send_id: int) -> list[str]:
    with engine.connect() as conn:
        ids = workers(conn, send_id)
    return [w for w in ids if is_alive(engine, w)]


def dead_workers(engine: Engine, send_id: int) -> list[str]:
    """Workers registered on the send, or holding claimed rows of it, that are gone."""
    with reading(engine) as conn:
        owners = set(workers(conn, send_id)) | set(
            conn.execute(
                select(D.c.claimed_by)
                .where(D.c.send_id == send_id, D.c.status == "claimed")
                .distinct()
            ).scalars()
        )
    return [w for w in owners if w and not is_alive(engine, w)]


def in_doubt(engine: Engine, send_id: int) -> int:
    """Rows claimed by dead workers: maybe delivered. Only reads (`recover` marks them)."""
    dead = dead_workers(engine, send_id)
    if not dead:
        return 0
    with reading(engine) as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(D)
                .where(D.c.send_id == send_id, D.c.status == "claimed", D.c.claimed_by.in_(dead))
            ).scalar_one()
        )


def in_doubt_rows(engine: Engine, send_id: int, limit: int = 200) -> list[tuple[str, str]]:
    """(email, why) of rows claimed by dead workers, for `status ISSUE`. Only reads."""
    dead = dead_workers(engine, send_id)
    if not dead:
        return []
    with reading(engine) as conn:
        rows = conn.execute(
            select(D.c.email, D.c.claimed_by)
            .where(D.c.send_id == send_id, D.c.status == "claimed", D.c.claimed_by.in_(dead))
            .order_by(D.c.subscriber_id)
            .limit(limit)
        ).all()
    return [
        (r.email, f"worker {r.claimed_by} stopped while this batch was in flight") for r in rows
    ]


def recover(engine: Engine, send_id: int) -> int:
    """Turn rows claimed by dead workers into `unknown`; returns how many."""
    dead = dead_workers(engine, send_id)
    count = 0
    for w in dead:
        with engine.begin() as conn:
            count += conn.execute(
                update(D)
                .where(D.c.send_id == send_id, D.c.status == "claimed", D.c.claimed_by == w)
                .values(
                    status="unknown",
                    updated_at=utcnow(),
                    detail=f"worker {w} stopped while this batch was in flight",
                )
            ).rowcount
            conn.execute(delete(tables.locks).where(tables.locks.c.owner == w))
    return count
