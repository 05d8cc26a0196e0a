"""Who is sending: worker identities, their registration on a send, and liveness.

On PostgreSQL each worker holds a session advisory lock that dies with its connection, so a
SIGKILLed worker is seen dead at once from any machine; on SQLite (one host) the pid is checked.
Before a worker puts a message or request on the network it notes, durably, the highest
subscriber id it may have handed out (`mark_handed`; a worker hands its claimed rows out in
subscriber-id order). When the worker dies, its claimed rows at or below that mark become
`unknown` (maybe delivered, so never resent silently); rows it had claimed ahead but never
handed out go back to `queued`.
"""

from __future__ import annotations

import os
import socket
import uuid

from sqlalchemy import Connection, Engine, delete, func, insert, select, text, update

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


def _handed_prefix(send_id: int, worker_id: str) -> str:
    return f"send:{send_id}:handed:{worker_id}:"


class HandedMark:
    """This worker's handed mark on one send: a `locks` row whose name ends in the highest
    subscriber id handed to the network (one row, renamed as it moves; dropped with the
    worker's other rows by `Worker.close` and `recover`)."""

    def __init__(self, engine: Engine, send_id: int, worker: Worker):
        self.engine, self.worker = engine, worker
        self.prefix = _handed_prefix(send_id, worker.id)
        self.high = -1
        self._name = ""
        self.advance(0)  # "nothing handed yet" (subscriber ids start at 1)

    def advance(self, high: int, conn: Connection | None = None) -> None:
        """Move the mark up to `high` (in `conn`'s transaction when given: the caller sets
        `high` once that commits)."""
        if high <= self.high:
            return
        if conn is None:
            with self.engine.begin() as own:
                self.advance(high, own)
            self.high = high
            return
        name, now = f"{self.prefix}{high}", utcnow()
        if self._name:
            conn.execute(delete(tables.locks).where(tables.locks.c.name == self._name))
        conn.execute(
            insert(tables.locks).values(
                name=name, owner=self.worker.id, acquired_at=now, expires_at=now
            )
        )
        self._name = name


def handed_high(conn: Connection, send_id: int, worker_id: str) -> int | None:
    """The highest subscriber id `worker_id` may have handed out for the send; None when it
    left no mark (a worker of an older version: treat all its claims as handed)."""
    prefix = _handed_prefix(send_id, worker_id)
    names = conn.execute(
        select(tables.locks.c.name).where(
            tables.locks.c.name.startswith(prefix, autoescape=True),
            tables.locks.c.owner == worker_id,
        )
    ).scalars()
    marks = [int(n[len(prefix) :]) for n in names if n[len(prefix) :].isdigit()]
    return max(marks) if marks else None


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
        highs = {w: handed_high(conn, send_id, w) for w in dead}
        rows = conn.execute(
            select(D.c.email, D.c.claimed_by, D.c.subscriber_id)
            .where(D.c.send_id == send_id, D.c.status == "claimed", D.c.claimed_by.in_(dead))
            .order_by(D.c.subscriber_id)
            .limit(limit)
        ).all()
    return [(r.email, _why(r.claimed_by, r.subscriber_id, highs[r.claimed_by])) for r in rows]


def _why(worker_id: str, subscriber_id: int, high: int | None) -> str:
    if high is not None and subscriber_id > high:
        return f"worker {worker_id} stopped before sending this one: it goes back to the queue"
    return f"worker {worker_id} stopped while this batch was in flight"


def recover(engine: Engine, send_id: int) -> int:
    """Rows claimed by dead workers: those they may have handed to the network become
    `unknown`, those they had only claimed ahead go back to `queued`. Returns how many became
    unknown."""
    dead = dead_workers(engine, send_id)
    count = 0
    for w in dead:
        mine = (D.c.send_id == send_id, D.c.status == "claimed", D.c.claimed_by == w)
        with engine.begin() as conn:
            high = handed_high(conn, send_id, w)
            handed = () if high is None else (D.c.subscriber_id <= high,)
            count += conn.execute(
                update(D)
                .where(*mine, *handed)
                .values(status="unknown", updated_at=utcnow(), detail=_why(w, 0, high))
            ).rowcount
            if high is not None:
                conn.execute(
                    update(D)
                    .where(*mine, D.c.subscriber_id > high)
                    .values(
                        status="queued",
                        claimed_by=None,
                        claimed_at=None,
                        attempts=D.c.attempts - 1,
                        updated_at=utcnow(),
                    )
                )
            conn.execute(delete(tables.locks).where(tables.locks.c.owner == w))
    return count
