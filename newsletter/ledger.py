"""The per-recipient ledger: sends, their deliveries, claims and results.

One `deliveries` row per (send, subscriber) is the primary key, so nobody can be queued twice.
A batch is claimed (status `claimed`, `claimed_by` = worker id) before it is sent and recorded
after. A worker that dies leaves claimed rows: `recover` (in workers.py, re-exported here)
turns them into `unknown` (listed by `status`, resent only on request), never into `queued`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, and_, delete, exists, func, literal, select, text, update

from newsletter import db
from newsletter.models import SendResult
from newsletter.workers import (  # noqa: F401 (re-exported: the ledger's public face)
    Worker,
    _advisory_key,
    is_alive,
    join,
    live_workers,
    recover,
    workers,
)

D = db.deliveries
S = db.sends
STATUSES = ("queued", "claimed", "sent", "failed", "skipped", "unknown")


@dataclass(frozen=True)
class SendRow:
    id: int
    issue_id: str
    list_slugs: tuple[str, ...]
    status: str
    backend: str
    subject: str
    html: str
    text: str
    source_hash: str
    options: dict


@dataclass(frozen=True)
class Claimed:
    subscriber_id: int
    email: str


def _row(r) -> SendRow:  # type: ignore[no-untyped-def]
    return SendRow(
        r.id,
        r.issue_id,
        tuple(r.list_slugs),
        r.status,
        r.backend,
        r.subject,
        r.html,
        r.text,
        r.source_hash,
        dict(r.options or {}),
    )


def lock_issue(conn: Connection, issue_id: str) -> None:
    """Serialise create-or-join for one issue (SQLite: BEGIN IMMEDIATE already does)."""
    if conn.dialect.name != "sqlite":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _advisory_key(issue_id)})


def find_send(conn: Connection, issue_id: str, list_slugs: Sequence[str] | None = None):
    """The latest send of this issue (to these lists), or None. A cancelled send is returned
    too: starting afresh would mail again those it already reached."""
    rows = conn.execute(select(S).where(S.c.issue_id == issue_id).order_by(S.c.id.desc())).all()
    for r in rows:
        if list_slugs is None or sorted(r.list_slugs) == sorted(list_slugs):
            return _row(r)
    return None


def get_send(conn: Connection, send_id: int) -> SendRow | None:
    r = conn.execute(select(S).where(S.c.id == send_id)).first()
    return _row(r) if r else None


def create_send(
    conn: Connection,
    *,
    issue_id: str,
    list_slugs: Sequence[str],
    list_ids: Sequence[int],
    backend: str,
    subject: str,
    html: str,
    text_body: str,
    source_hash: str,
    options: dict,
) -> int:
    """Insert the send and snapshot its audience in one statement (INSERT ... SELECT), so a
    million subscribers never pass through Python."""
    now = db.now()
    send_id = conn.execute(
        S.insert()
        .values(
            issue_id=issue_id,
            list_slugs=list(list_slugs),
            status="running",
            backend=backend,
            subject=subject,
            html=html,
            text=text_body,
            source_hash=source_hash,
            options=options,
            created_at=now,
            started_at=now,
        )
        .returning(S.c.id)
    ).scalar_one()
    m, sub = db.memberships, db.subscribers
    member = exists().where(
        m.c.subscriber_id == sub.c.id, m.c.list_id.in_(list(list_ids)), m.c.status == "subscribed"
    )
    audience = select(
        literal(send_id),
        sub.c.id,
        sub.c.email,
        literal("queued"),
        literal(0),
        literal(""),
        literal(""),
        literal(now, type_=D.c.updated_at.type),
    ).where(member)
    cols = [
        "send_id",
        "subscriber_id",
        "email",
        "status",
        "attempts",
        "detail",
        "provider_id",
        "updated_at",
    ]
    conn.execute(D.insert().from_select(cols, audience))
    return int(send_id)


def update_content(
    conn: Connection, send_id: int, *, subject: str, html: str, text_body: str, source_hash: str
) -> None:
    conn.execute(
        update(S)
        .where(S.c.id == send_id)
        .values(subject=subject, html=html, text=text_body, source_hash=source_hash)
    )


def set_status(conn: Connection, send_id: int, status: str) -> None:
    values: dict = {"status": status}
    if status in ("done", "cancelled"):
        values["finished_at"] = db.now()
    if status == "running":
        values["finished_at"] = None
    conn.execute(update(S).where(S.c.id == send_id).values(**values))


def claim(engine: Engine, send_id: int, worker: Worker, size: int) -> list[Claimed]:
    """Atomically claim up to `size` queued rows (SKIP LOCKED on PostgreSQL; SQLite's
    BEGIN IMMEDIATE makes the single UPDATE exclusive)."""
    q = D.alias("q")
    pick = (
        select(q.c.subscriber_id)
        .where(q.c.send_id == send_id, q.c.status == "queued")
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
            claimed_at=db.now(),
            attempts=D.c.attempts + 1,
            updated_at=db.now(),
        )
        .returning(D.c.subscriber_id, D.c.email)
    )
    with engine.begin() as conn:
        rows = conn.execute(stmt).all()
    return sorted((Claimed(r.subscriber_id, r.email) for r in rows), key=lambda c: c.subscriber_id)


def _mark(conn: Connection, send_id: int, worker_id: str, ids: Sequence[int], **values) -> int:
    n = 0
    for i in range(0, len(ids), 500):
        n += conn.execute(
            update(D)
            .where(
                D.c.send_id == send_id,
                D.c.subscriber_id.in_(ids[i : i + 500]),
                D.c.status == "claimed",
                D.c.claimed_by == worker_id,
            )
            .values(updated_at=db.now(), **values)
        ).rowcount
    return n


def skip(engine: Engine, send_id: int, worker: Worker, reasons: dict[int, str]) -> None:
    groups: dict[str, list[int]] = defaultdict(list)
    for sid, reason in reasons.items():
        groups[reason].append(sid)
    with engine.begin() as conn:
        for reason, ids in groups.items():
            _mark(conn, send_id, worker.id, ids, status="skipped", detail=reason)


def record(engine: Engine, send_id: int, worker: Worker, results: Iterable[SendResult]) -> None:
    """Store outcomes; rows with the same outcome are updated together (one statement per
    distinct (status, detail, provider id), usually one per batch)."""
    groups: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for r in results:
        groups[(r.status, r.detail[:2000], r.provider_id[:200])].append(r.subscriber_id)
    with engine.begin() as conn:
        for (status, detail, provider_id), ids in groups.items():
            _mark(
                conn, send_id, worker.id, ids, status=status, detail=detail, provider_id=provider_id
            )


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
        .values(status="queued", claimed_by=None, claimed_at=None, updated_at=db.now())
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
    """(email, status, detail) of failed and unknown rows, for `status ISSUE`."""
    rows = conn.execute(
        select(D.c.email, D.c.status, D.c.detail)
        .where(D.c.send_id == send_id, D.c.status.in_(["failed", "unknown"]))
        .order_by(D.c.status, D.c.subscriber_id)
        .limit(limit)
    )
    return [(r.email, r.status, r.detail) for r in rows]


def running_sends(conn: Connection) -> list[SendRow]:
    return [
        _row(r) for r in conn.execute(select(S).where(S.c.status == "running").order_by(S.c.id))
    ]


def all_sends(conn: Connection, issue_id: str | None = None) -> list:
    q = select(
        S.c.id,
        S.c.issue_id,
        S.c.list_slugs,
        S.c.status,
        S.c.backend,
        S.c.created_at,
        S.c.started_at,
        S.c.finished_at,
    ).order_by(S.c.id)
    if issue_id:
        q = q.where(S.c.issue_id == issue_id)
    return list(conn.execute(q))


def finish_if_complete(engine: Engine, send_id: int) -> bool:
    """Mark the send `done` once nothing is queued or claimed."""
    with engine.begin() as conn:
        pending = conn.execute(
            select(func.count())
            .select_from(D)
            .where(and_(D.c.send_id == send_id, D.c.status.in_(["queued", "claimed"])))
        ).scalar_one()
        if pending:
            return False
        conn.execute(
            update(S)
            .where(S.c.id == send_id, S.c.status == "running")
            .values(status="done", finished_at=db.now())
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
        conn.execute(delete(db.locks).where(db.locks.c.name.startswith(f"send:{send_id}:")))
        conn.execute(delete(S).where(S.c.id == send_id))
    return True
