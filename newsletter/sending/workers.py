"""Who is sending: worker identities, their registration on a send, and liveness.

On PostgreSQL each worker holds a session advisory lock that dies with its connection, so a
SIGKILLed worker is seen dead at once from any machine; on SQLite (one host) the pid is checked.
Before a worker puts a message or request on the network it notes, durably, the span of
subscriber ids it is handing out (`HandedMark`), and it drops the note with the outcome. When
the worker dies, its claimed rows inside a note become `unknown` (maybe delivered, so never
resent silently); rows it had claimed ahead but never handed out go back to `queued`.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from datetime import timedelta

from sqlalchemy import (
    Connection,
    Engine,
    delete,
    func,
    select,
    update,
)

from newsletter.db import tables
from newsletter.db.clock import as_utc, utcnow
from newsletter.db.connection import reading
from newsletter.db.dialect import (
    hold_session_lock,
    lock_still_held,
    server_started_at,
    session_lock_held,
)
from newsletter.db.errors import gone
from newsletter.sending.handed import Span, covered, handed_spans
from newsletter.sending.patience import Patience

D = tables.deliveries
HOST = socket.gethostname()


class Worker:
    """This process as a worker. Keep it open while sending; `close` when done. `grace`: the
    seconds it waits out its database gone (`db_outage_timeout`), and so how long others wait,
    after a restart dropped its lock, before they take it for dead."""

    def __init__(self, engine: Engine, grace: float = 120.0):
        self.engine, self.grace = engine, timedelta(seconds=grace)
        self.id = f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._conn = hold_session_lock(engine, self.id)  # None on SQLite: the pid tells
        self.patience = Patience(engine, grace, self.relock)

    def relock(self) -> None:
        """The database is back after an outage: take the lock again, and say when."""
        if self._conn is None or lock_still_held(self._conn):
            return  # SQLite; or only other connections broke, and the lock's session lives
        with contextlib.suppress(Exception):  # the session died with the outage: never pooled
            self._conn.invalidate()
        self._conn = hold_session_lock(self.engine, self.id, wait=False)
        now = utcnow()
        with self.engine.begin() as conn:
            conn.execute(
                update(tables.locks)
                .where(tables.locks.c.owner == self.id, tables.locks.c.name.like("send:%:worker:%"))
                .values(acquired_at=now, expires_at=now + self.grace)
            )

    def close(self) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(delete(tables.locks).where(tables.locks.c.owner == self.id))
                conn.execute(
                    delete(tables.send_pacing).where(tables.send_pacing.c.worker == self.id)
                )
        except Exception as exc:
            if not gone(exc, self.engine.dialect.name):
                raise  # else: the database is away; recovery clears these rows later
        if self._conn is not None:
            with contextlib.suppress(Exception):  # it may have died with an outage
                self._conn.close()  # ends the session: the advisory lock goes with it
            self._conn = None


def is_alive(engine: Engine, worker_id: str) -> bool:
    held = session_lock_held(engine, worker_id)
    if held:
        return True
    host, _, rest = worker_id.partition(":")
    pid = rest.partition(":")[0]
    if host != HOST or not pid.isdigit():  # SQLite is a one-host database
        return held is None or _restarted_under(engine, worker_id)
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


def _restarted_under(engine: Engine, worker_id: str) -> bool:
    """Whether the server restarted after `worker_id` took its lock, less than the worker's
    grace ago: the restart dropped the lock, and the worker may be waiting to take it again."""
    with engine.connect() as conn:
        started = server_started_at(conn)
        rows = conn.execute(
            select(tables.locks.c.acquired_at, tables.locks.c.expires_at).where(
                tables.locks.c.owner == worker_id, tables.locks.c.name.like("send:%:worker:%")
            )
        ).all()
    if started is None:
        return False
    since, now = started
    for row in rows:
        taken, until = as_utc(row.acquired_at), as_utc(row.expires_at)
        if taken and until and taken < since < now < since + (until - taken):
            return True
    return False


def join(conn: Connection, send_id: int, worker: Worker) -> None:
    """Register `worker` on the send, so others can tell whether the send has live workers;
    the row also says when its lock was taken, and its grace (`_restarted_under`)."""
    name = f"send:{send_id}:worker:{worker.id}"
    if conn.execute(select(tables.locks.c.name).where(tables.locks.c.name == name)).first() is None:
        now = utcnow()
        conn.execute(
            tables.locks.insert().values(
                name=name, owner=worker.id, acquired_at=now, expires_at=now + worker.grace
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
        spans = {w: handed_spans(conn, send_id, w) for w in dead}
        rows = conn.execute(
            select(D.c.email, D.c.claimed_by, D.c.subscriber_id)
            .where(D.c.send_id == send_id, D.c.status == "claimed", D.c.claimed_by.in_(dead))
            .order_by(D.c.subscriber_id)
            .limit(limit)
        ).all()
    return [(r.email, _why(r.claimed_by, _in(r.subscriber_id, spans[r.claimed_by]))) for r in rows]


def _in(subscriber_id: int, spans: list[Span] | None) -> bool:
    return spans is None or any(low <= subscriber_id <= high for low, high in spans)


def _why(worker_id: str, handed: bool) -> str:
    if not handed:
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
            spans = handed_spans(conn, send_id, w)
            count += conn.execute(
                update(D)
                .where(*mine, covered(spans))
                .values(status="unknown", updated_at=utcnow(), detail=_why(w, True))
            ).rowcount
            conn.execute(
                update(D)
                .where(*mine)
                .values(
                    status="queued",
                    claimed_by=None,
                    claimed_at=None,
                    attempts=D.c.attempts - 1,
                    updated_at=utcnow(),
                )
            )
            conn.execute(delete(tables.locks).where(tables.locks.c.owner == w))
            conn.execute(delete(tables.send_pacing).where(tables.send_pacing.c.worker == w))
    return count
