"""Who is sending: worker identities, their registration on a send, and liveness.

On PostgreSQL each worker holds a session advisory lock that dies with its connection, so a
SIGKILLed worker is seen dead at once from any machine; on SQLite (one host) the pid is checked.
Before a worker puts a message or request on the network it notes, durably, the span of
subscriber ids it is handing out (`HandedMark`), and it drops the note with the outcome. When
the worker dies, its claimed rows inside a note become `unknown` (maybe delivered, so never
resent silently); rows it had claimed ahead but never handed out go back to `queued`.
"""

from __future__ import annotations

import os
import socket
import uuid
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    delete,
    false,
    func,
    or_,
    select,
    true,
    update,
)

from newsletter.db import tables
from newsletter.db.clock import utcnow
from newsletter.db.connection import reading
from newsletter.db.dialect import hold_session_lock, session_lock_held
from newsletter.db.driver_sql import Sql

D = tables.deliveries
HOST = socket.gethostname()


class Worker:
    """This process as a worker. Keep it open while sending; `close` when done."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.id = f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._conn = hold_session_lock(engine, self.id)  # None on SQLite: the pid tells

    def close(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(tables.locks).where(tables.locks.c.owner == self.id))
            conn.execute(delete(tables.send_pacing).where(tables.send_pacing.c.worker == self.id))
        if self._conn is not None:
            self._conn.close()  # ends the session: the advisory lock goes with it
            self._conn = None


def is_alive(engine: Engine, worker_id: str) -> bool:
    held = session_lock_held(engine, worker_id)
    if held is not None:
        return held
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


Span = tuple[int, int]  # (lowest, highest) subscriber id of one unit handed to the network


_NOTE = Sql(
    "INSERT INTO locks (name, owner, acquired_at, expires_at) VALUES (:name, :owner, :now, :now)"
    " ON CONFLICT (name) DO NOTHING"
)
_UNNOTE = Sql("DELETE FROM locks WHERE name = :name")


class HandedMark:
    """What this worker has handed to the network on one send and not yet recorded: one
    `locks` row per unit in flight, named by its subscriber-id span (`...:handed:W:LOW-HIGH`),
    written before the unit's bytes go out and deleted in the transaction that records its
    outcome. A row `...:handed:W:0` says the worker keeps such rows (a worker of an older
    release kept one high-water mark instead). All go with `Worker.close` and `recover`."""

    def __init__(self, engine: Engine, send_id: int, worker: Worker):
        self.engine, self.worker = engine, worker
        self.prefix = _handed_prefix(send_id, worker.id)
        with engine.begin() as conn:  # a worker may come back to a send it helped before
            conn.execute(delete(tables.locks).where(tables.locks.c.name == f"{self.prefix}0"))
            self._insert(conn, f"{self.prefix}0")

    def _insert(self, conn: Connection, *names: str) -> None:
        """The notes `names`; one already there stays (a unit noted twice: a retry whose
        first note was still on its way). On the driver: a message's note is a hot path."""
        now, owner = utcnow(), self.worker.id
        _NOTE.run_many(conn, [dict(name=n, owner=owner, now=now) for n in names])

    def hand(self, conn: Connection, spans: list[Span]) -> None:
        """Note, in `conn`'s transaction, that the units of `spans` may go out."""
        if spans:
            self._insert(conn, *(f"{self.prefix}{low}-{high}" for low, high in spans))

    def settle(self, conn: Connection, spans: list[Span]) -> None:
        """Drop the notes of units whose outcomes `conn`'s transaction records."""
        _UNNOTE.run_many(conn, [dict(name=f"{self.prefix}{low}-{high}") for low, high in spans])


def handed_spans(conn: Connection, send_id: int, worker_id: str) -> list[Span] | None:
    """The subscriber-id spans `worker_id` may have handed out for the send and not recorded;
    None when it left no note at all (a worker of an older version: treat all its claims as
    handed). A high-water mark left by an older release counts as the span from 1 up to it."""
    prefix = _handed_prefix(send_id, worker_id)
    names = conn.execute(
        select(tables.locks.c.name).where(
            tables.locks.c.name.startswith(prefix, autoescape=True),
            tables.locks.c.owner == worker_id,
        )
    ).scalars()
    spans: list[Span] | None = None
    for name in names:
        low, dash, high = name[len(prefix) :].partition("-")
        if not (low.isdigit() and (not dash or high.isdigit())):
            continue
        spans = spans or []
        if dash:
            spans.append((int(low), int(high)))
        elif int(low) > 0:
            spans.append((1, int(low)))
    return spans


def _covered(spans: list[Span] | None) -> Any:
    """SQL: the row's subscriber id lies in one of `spans` (None: every row does)."""
    if spans is None:
        return true()
    return or_(false(), *(D.c.subscriber_id.between(low, high) for low, high in spans))


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
                .where(*mine, _covered(spans))
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
