"""The per-recipient ledger: sends, their deliveries, claims and results.

One `deliveries` row per (send, subscriber) is the primary key, so nobody can be queued twice.
A batch is claimed (status `claimed`, `claimed_by` = worker id) before it is sent, and each
outcome is recorded as soon as it is confirmed. A worker that dies leaves claimed rows:
`workers.recover` turns those it may have handed to the network into `unknown` (listed by
`status`, resent only on request) and puts those it had only claimed ahead back in the queue.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    delete,
    func,
    select,
    update,
)

from newsletter.db import tables
from newsletter.db.clock import utcnow
from newsletter.db.driver_sql import Sql
from newsletter.models import SendResult
from newsletter.sending import ab_phase
from newsletter.sending.workers import Worker

D = tables.deliveries
S = tables.sends
# `held`: outside a subject-line test's sample until its winner (`ab_phase`): never claimed.
_TRIED = ("sent", "failed", "skipped", "unknown", "bounced", "complained")
STATUSES = ("queued", "claimed", *_TRIED, "held")
# The final statuses of mail that came back after it was sent: one set whichever way the news
# arrived (a DSN or ARF report in the bounce mailbox, or a provider's webhook), so counts agree.
# A complaint outranks a bounce; neither is ever undone by a later "delivered".
RETURNED = {"bounced": 1, "complained": 2}
PROVIDER_PREFIX = "sendgrid: "
PROVIDER_STAGES = {"deferred": 1, "delivered": 2}  # a sent row only moves forward


@dataclass(frozen=True)
class Claimed:
    subscriber_id: int
    email: str


def claim(
    engine: Engine,
    send_id: int,
    worker: Worker,
    size: int,
    at: datetime | None = None,
    variant: int | None = None,
) -> list[Claimed]:
    """Atomically claim up to `size` queued rows (SKIP LOCKED on PostgreSQL; SQLite's
    BEGIN IMMEDIATE makes the single UPDATE exclusive), stamped `at`; of one `variant` of a
    subject-line test when given (a request carries one variant)."""
    q = D.alias("q")
    one = q.c.variant == variant if variant is not None else q.c.send_id == send_id
    pick = (
        select(q.c.subscriber_id)
        .where(q.c.send_id == send_id, q.c.status == "queued", one)
        .order_by(q.c.subscriber_id)
        .limit(size)
        .with_for_update(skip_locked=True)
        .cte("picked")
    )
    stmt = (
        update(D)
        .where(D.c.send_id == send_id, D.c.subscriber_id == pick.c.subscriber_id)
        .values(
            status="claimed",
            claimed_by=worker.id,
            claimed_at=at or utcnow(),
            attempts=D.c.attempts + 1,
            updated_at=utcnow(),
        )
        .returning(D.c.subscriber_id, D.c.email)
    )
    with engine.begin() as conn:
        rows = conn.execute(stmt).all()
    return sorted((Claimed(r.subscriber_id, r.email) for r in rows), key=lambda c: c.subscriber_id)


def claim_again(
    engine: Engine, send_id: int, worker: Worker, size: int, variant: int | None = None
) -> list[Claimed]:
    """`claim`, tried again while the database is away (`worker.patience`). A claim whose
    commit went through but whose answer the outage cut is found again by its stamp, so no
    row stays claimed by a worker that does not know it."""
    at, tried = utcnow(), [False]

    def attempt() -> list[Claimed]:
        if tried[0]:
            with engine.connect() as conn:
                rows = conn.execute(
                    select(D.c.subscriber_id, D.c.email).where(
                        D.c.send_id == send_id,
                        D.c.status == "claimed",
                        D.c.claimed_by == worker.id,
                        D.c.claimed_at == at,
                    )
                ).all()
            if rows:
                return sorted((Claimed(*r) for r in rows), key=lambda c: c.subscriber_id)
        tried[0] = True
        return claim(engine, send_id, worker, size, at, variant)

    return worker.patience.run(attempt)


def _mark(
    conn: Connection,
    send_id: int,
    worker_id: str,
    ids: Sequence[int],
    mine: Sequence[str] = ("claimed",),
    **values: Any,
) -> int:
    """Set `values` on the rows `ids` that `worker_id` claimed and that are still `mine`."""
    n = 0
    for i in range(0, len(ids), 500):
        n += conn.execute(
            update(D)
            .where(
                D.c.send_id == send_id,
                D.c.subscriber_id.in_(ids[i : i + 500]),
                D.c.status.in_(list(mine)),
                D.c.claimed_by == worker_id,
            )
            .values(updated_at=utcnow(), **values)
        ).rowcount
    return n


def skip(engine: Engine, send_id: int, worker: Worker, reasons: dict[int, str]) -> None:
    groups: dict[str, list[int]] = defaultdict(list)
    for sid, reason in reasons.items():
        groups[reason].append(sid)
    with engine.begin() as conn:
        for reason, ids in groups.items():
            _mark(conn, send_id, worker.id, ids, status="skipped", detail=reason)


GROUPED = 20  # rows with one outcome from which one UPDATE ... IN beats an executemany
# A worker's own rows: `claimed`, or `unknown` when recovery took it for dead while the
# database was away (a restart drops its lock): its outcome then settles the doubt.
RECORDABLE = ("claimed", "unknown")
_RECORD_ONE = Sql(
    "UPDATE deliveries SET status = :status, detail = :detail, provider_id = :provider,"
    " updated_at = :now WHERE send_id = :send AND subscriber_id = :sid"
    " AND status IN ('claimed', 'unknown') AND claimed_by = :worker"
)


def record_in(
    conn: Connection, send_id: int, worker: Worker, results: Iterable[SendResult]
) -> None:
    record_for(conn, send_id, worker.id, results)


def record_for(
    conn: Connection, send_id: int, worker_id: str, results: Iterable[SendResult]
) -> None:
    """Store outcomes in the caller's transaction: many rows with the same outcome (a SendGrid
    request's) are updated together, one statement per distinct (status, detail, provider id);
    the few an SMTP commit holds (each message its own queue id) in one executemany on the
    driver, the hot path."""
    groups: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for r in results:
        groups[(r.status, r.detail[:2000], r.provider_id[:200])].append(r.subscriber_id)
    singles = [
        {"sid": sid, "status": status, "detail": detail, "provider": provider_id}
        for (status, detail, provider_id), ids in groups.items()
        if len(ids) < GROUPED
        for sid in ids
    ]
    for (status, detail, provider_id), ids in groups.items():
        if len(ids) >= GROUPED:
            _mark(
                conn,
                send_id,
                worker_id,
                ids,
                RECORDABLE,
                status=status,
                detail=detail,
                provider_id=provider_id,
            )
    if singles:  # an SMTP message's own queue id: one row each, on the driver (hot path)
        now = utcnow()
        for row in singles:
            row.update(send=send_id, worker=worker_id, now=now)
        _RECORD_ONE.run_many(conn, singles)


def owned(engine: Engine, send_id: int, worker: Worker, ids: Sequence[int]) -> set[int]:
    """Which of `ids` `worker` still holds claimed (another may have taken it for dead)."""
    found: set[int] = set()
    with engine.begin() as conn:
        for i in range(0, len(ids), 500):
            found.update(
                conn.execute(
                    select(D.c.subscriber_id).where(
                        D.c.send_id == send_id,
                        D.c.subscriber_id.in_(ids[i : i + 500]),
                        D.c.status == "claimed",
                        D.c.claimed_by == worker.id,
                    )
                ).scalars()
            )
    return found


def release(engine: Engine, send_id: int, worker: Worker, ids: Sequence[int]) -> None:
    """Put a claimed batch back (nothing of it was handed to the backend)."""
    with engine.begin() as conn:
        _mark(
            conn,
            send_id,
            worker.id,
            list(ids),
            status="queued",
            claimed_by=None,
            claimed_at=None,
            attempts=D.c.attempts - 1,
        )


def requeue(conn: Connection, send_id: int, statuses: Sequence[str]) -> int:
    return conn.execute(
        update(D)
        .where(D.c.send_id == send_id, D.c.status.in_(list(statuses)))
        .values(status="queued", claimed_by=None, claimed_at=None, updated_at=utcnow())
    ).rowcount


def counts(conn: Connection, send_id: int) -> dict[str, int]:
    out = dict.fromkeys(STATUSES, 0)
    rows = conn.execute(
        select(D.c.status, func.count()).where(D.c.send_id == send_id).group_by(D.c.status)
    )
    for status, n in rows:
        out[status] = int(n)
    return out


def problems(conn: Connection, send_id: int, limit: int = 200) -> list[tuple[str, str, str]]:
    """(email, status, detail) of failed, unknown, bounced and complained rows, for
    `status ISSUE`."""
    rows = conn.execute(
        select(D.c.email, D.c.status, D.c.detail)
        .where(D.c.send_id == send_id, D.c.status.in_(["failed", "unknown", *RETURNED]))
        .order_by(D.c.status, D.c.subscriber_id)
        .limit(limit)
    )
    return [(r.email, r.status, r.detail) for r in rows]


def finish_if_complete(engine: Engine, send_id: int) -> bool:
    """Mark the send `done` once nothing is queued or claimed (`waiting` instead when a
    subject-line test's test phase is what was sent; never a sequence step's: its id has a /)."""
    with engine.begin() as conn:
        pending = conn.execute(
            select(func.count())
            .select_from(D)
            .where(and_(D.c.send_id == send_id, D.c.status.in_(["queued", "claimed"])))
        ).scalar_one()
        if pending or ab_phase.test_phase_sent(conn, send_id):
            return False
        conn.execute(
            update(S)
            .where(S.c.id == send_id, S.c.status == "running", S.c.issue_id.notlike("%/%"))
            .values(status="done", finished_at=utcnow())
        )
    return True


def discard_if_untouched(engine: Engine, send_id: int) -> bool:
    """Delete a send nothing was attempted for (a fatal error on the first batch), so the
    same command can simply be run again once the cause is fixed."""
    with engine.begin() as conn:
        touched = conn.execute(
            select(func.count())
            .select_from(D)
            .where(D.c.send_id == send_id, D.c.status.notin_(["queued", "skipped"]))
        ).scalar_one()
        if touched:
            return False
        conn.execute(delete(D).where(D.c.send_id == send_id))
        conn.execute(delete(tables.locks).where(tables.locks.c.name.startswith(f"send:{send_id}:")))
        conn.execute(delete(S).where(S.c.id == send_id))
    return True
