"""Sends: one row per send of an issue, with the rendered content stored so that a resumed send
or a worker on another machine sends exactly the same bytes; creating one snapshots its audience
into the ledger."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, exists, literal, select, update

from newsletter.db import tables
from newsletter.db.clock import utcnow
from newsletter.db.connection import reading
from newsletter.db.dialect import lock_for_transaction
from newsletter.models import RenderedIssue

D = tables.deliveries
S = tables.sends
# The columns a ledger row is inserted with, in the order an INSERT ... SELECT gives them.
LEDGER_COLUMNS = [
    "send_id",
    "subscriber_id",
    "email",
    "status",
    "attempts",
    "detail",
    "provider_id",
    "updated_at",
]


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
    options: dict[str, Any]
    list_ids: tuple[int, ...] = ()


def _row(r: Any) -> SendRow:
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
        tuple(int(i) for i in r.list_ids or ()),
    )


def lock_issue(conn: Connection, issue_id: str) -> None:
    """Serialise create-or-join for one issue (SQLite: BEGIN IMMEDIATE already does)."""
    lock_for_transaction(conn, issue_id)


def find_send(
    conn: Connection,
    issue_id: str,
    list_ids: Sequence[int] | None = None,
    *,
    followup: tuple[str, str] | None = None,
) -> SendRow | None:
    """The latest send of this issue (to these lists), or None: the issue's own send, or with
    `followup` = (normalised segment, subject) that follow-up (`send --again`). A cancelled
    send is returned too: starting afresh would mail again those it already reached. Lists are
    matched by id, never by slug: a renamed list is the same list (`lists rename`)."""
    rows = conn.execute(select(S).where(S.c.issue_id == issue_id).order_by(S.c.id.desc())).all()
    for r in rows:
        if followup_of(dict(r.options or {})) != followup:
            continue
        if list_ids is None or same_lists(r.list_ids, list_ids):
            return _row(r)
    return None


def same_lists(stored: Sequence[int] | None, wanted: Sequence[int]) -> bool:
    """Whether a send went to exactly these lists (by id, in any order)."""
    return sorted(int(i) for i in stored or ()) == sorted(int(i) for i in wanted)


def followup_of(options: dict[str, Any]) -> tuple[str, str] | None:
    """A follow-up's identity beside its issue and lists: (normalised segment, subject)."""
    if options.get("kind") != "followup":
        return None
    return (str(options.get("segment", "")), str(options.get("subject", "")))


def latest_send(conn: Connection, issue_id: str, send_id: int | None = None) -> SendRow | None:
    """The issue's newest send of any kind (its own or a follow-up), or its send `send_id`."""
    q = select(S).where(S.c.issue_id == issue_id)
    if send_id is not None:
        q = q.where(S.c.id == send_id)
    r = conn.execute(q.order_by(S.c.id.desc()).limit(1)).first()
    return _row(r) if r else None


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
    options: dict[str, Any],
    web_html: str | None = None,
    segment: Any = None,
    held: bool = False,
) -> int:
    """Insert the send and snapshot its audience in one statement (INSERT ... SELECT), so a
    million subscribers never pass through Python. `segment`: the compiled segment's condition
    on (subscriber, membership), or None for the whole lists. `held`: every row waits (a
    subject-line test queues its sample afterwards, `ab_sample`)."""
    now = utcnow()
    send_id = conn.execute(
        S.insert()
        .values(
            issue_id=issue_id,
            list_slugs=list(list_slugs),
            list_ids=[int(i) for i in list_ids],
            status="running",
            backend=backend,
            subject=subject,
            html=html,
            text=text_body,
            source_hash=source_hash,
            options=options,
            web_html=web_html,
            created_at=now,
            started_at=now,
        )
        .returning(S.c.id)
    ).scalar_one()
    _snapshot_audience(conn, int(send_id), list_ids, now, segment, "held" if held else "queued")
    return int(send_id)


def _snapshot_audience(
    conn: Connection,
    send_id: int,
    list_ids: Sequence[int],
    now: Any,
    segment: Any,
    status: str = "queued",
) -> None:
    """One `status` ledger row per subscribed member of the lists for whom the segment holds
    on that membership (INSERT ... SELECT)."""
    m, sub = tables.memberships, tables.subscribers
    member = exists().where(
        m.c.subscriber_id == sub.c.id,
        m.c.list_id.in_(list(list_ids)),
        m.c.status == "subscribed",
        *([] if segment is None else [segment]),
    )
    audience = select(
        literal(send_id),
        sub.c.id,
        sub.c.email,
        literal(status),
        literal(0),
        literal(""),
        literal(""),
        literal(now, type_=D.c.updated_at.type),
    ).where(member)
    conn.execute(D.insert().from_select(LEDGER_COLUMNS, audience))


def update_content(
    conn: Connection, send_id: int, rendered: RenderedIssue, source_hash: str
) -> None:
    """Store a new rendering of the send (`--rerender`, an edited sequence step)."""
    conn.execute(
        update(S)
        .where(S.c.id == send_id)
        .values(
            subject=rendered.subject,
            html=rendered.html,
            text=rendered.text,
            source_hash=source_hash,
            web_html=rendered.web_html,
        )
    )


def set_status(conn: Connection, send_id: int, status: str) -> None:
    values: dict[str, Any] = {"status": status}
    if status in ("done", "cancelled"):
        values["finished_at"] = utcnow()
    if status == "running":
        values["finished_at"] = None
    conn.execute(update(S).where(S.c.id == send_id).values(**values))


def running_sends(conn: Connection) -> list[SendRow]:
    return [
        _row(r) for r in conn.execute(select(S).where(S.c.status == "running").order_by(S.c.id))
    ]


def all_sends(conn: Connection, issue_id: str | None = None) -> list[Any]:
    q = select(
        S.c.id,
        S.c.issue_id,
        S.c.list_slugs,
        S.c.status,
        S.c.backend,
        S.c.created_at,
        S.c.started_at,
        S.c.finished_at,
        S.c.options,
    ).order_by(S.c.id)
    if issue_id:
        q = q.where(S.c.issue_id == issue_id)
    return list(conn.execute(q))


def send_language(engine: Engine, send_id: int) -> str:
    """The language a send was rendered in ('' for a send from before languages, or none)."""
    with reading(engine) as conn:
        options = conn.execute(
            select(tables.sends.c.options).where(tables.sends.c.id == send_id)
        ).scalar()
    return str((options or {}).get("language") or "") if isinstance(options, dict) else ""
