"""What a worker has handed to the network and not yet recorded, per send: durable notes,
one `locks` row per unit in flight, by subscriber-id span (`HandedMark`), read back by
recovery (`handed_spans`, `covered`): only rows inside a dead worker's notes can be in doubt."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, delete, false, or_, select, true

from newsletter.db import tables
from newsletter.db.clock import utcnow
from newsletter.db.driver_sql import Sql

if TYPE_CHECKING:
    from newsletter.sending.workers import Worker

D = tables.deliveries


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


def covered(spans: list[Span] | None) -> Any:
    """SQL: the row's subscriber id lies in one of `spans` (None: every row does)."""
    if spans is None:
        return true()
    return or_(false(), *(D.c.subscriber_id.between(low, high) for low, high in spans))
