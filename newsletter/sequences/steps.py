"""A step's one `sends` row for ever, and its ledger rows added as readers fall due.

The send is created the first time the step is needed, rendered once per version of its file
(as `send --rerender` does, links stored again for tracking): readers get the version current
when their row is claimed, and `deliveries.version` records it. It is never in the archive and
never `done` (`ledger.finish_if_complete`). Rows are added by one INSERT ... SELECT from the
index of due readers (ON CONFLICT DO NOTHING: nobody is queued twice, even after
`subscribers add --restart-sequence`), and the readers who have their row move on to the next
step in the same transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, exists, literal, select, update

from newsletter.authoring.render import render_issue
from newsletter.config import Settings
from newsletter.db import tables
from newsletter.db.clock import utcnow
from newsletter.db.connection import reading
from newsletter.db.dialect import insert_for, lock_for_transaction
from newsletter.sending import sends
from newsletter.sending.plan import language_of
from newsletter.sequences.enrol import MEMBERS, due_members, leave_due
from newsletter.sequences.model import Step
from newsletter.sequences.registry import STEPS, Registered, StepRow
from newsletter.tracking.links import track_send

D, S = tables.deliveries, tables.sends


def ensure_send(
    engine: Engine, settings: Settings, seq: Registered, step: Step, lists: list[dict[str, Any]]
) -> int:
    """The step's send, rendered from the file as it is now (once per version)."""
    version = step.issue.source_hash
    with reading(engine) as conn:
        send_id = _send_id(conn, seq.name, step.key)
        stored = sends.get_send(conn, send_id) if send_id is not None else None
    if stored is not None and stored.source_hash == version:
        return stored.id
    name = lists[0].get("name", "") if lists else ""
    language = language_of(step.issue, lists, settings)  # the step's `language:`, else its lists'
    rendered = render_issue(step.issue, settings, list_name=name, published=True, language=language)
    with engine.begin() as conn:
        lock_for_transaction(conn, step.step_id)
        send_id = _send_id(conn, seq.name, step.key)  # a racing run may have made it
        if send_id is None:
            send_id = _create(conn, settings, step, lists, rendered, language)
        else:
            current = sends.get_send(conn, send_id)
            if current is not None and current.source_hash == version:
                return send_id
            sends.update_content(conn, send_id, rendered, version)
            conn.execute(  # what waits gets the new version
                update(D)
                .where(D.c.send_id == send_id, D.c.status == "queued")
                .values(version=version)
            )
        track_send(conn, settings, step.issue, send_id, rendered.html)
    return send_id


def _send_id(conn: Connection, name: str, key: str) -> int | None:
    return conn.execute(
        select(STEPS.c.send_id).where(STEPS.c.sequence == name, STEPS.c.key == key)
    ).scalar()


def _create(
    conn: Connection,
    settings: Settings,
    step: Step,
    lists: list[dict[str, Any]],
    rendered: Any,
    language: str,
) -> int:
    now = utcnow()
    slugs = [lst["slug"] for lst in lists]
    options = {
        "sequence": step.sequence,
        "step": step.key,
        "lists": slugs,
        "archive": False,  # steps are never in the archive
        "public": False,
        "language": language,  # the token pages of its readers speak it (`web.language`)
    }
    send_id = conn.execute(
        S.insert()
        .values(
            issue_id=step.step_id,
            list_slugs=slugs,
            list_ids=[int(lst["id"]) for lst in lists],
            status="running",
            backend=settings.backend,
            subject=rendered.subject,
            html=rendered.html,
            text=rendered.text,
            source_hash=step.issue.source_hash,
            options=options,
            web_html=rendered.web_html,
            created_at=now,
            started_at=now,
        )
        .returning(S.c.id)
    ).scalar_one()
    conn.execute(
        update(STEPS)
        .where(STEPS.c.sequence == step.sequence, STEPS.c.key == step.key)
        .values(send_id=send_id)
    )
    return int(send_id)


_COLUMNS = [*sends.LEDGER_COLUMNS, "version"]


def enqueue(
    conn: Connection, seq: Registered, row: StepRow, send_id: int, version: str, now: datetime
) -> int:
    """Queue the step for the readers due now: due at max(joined_at + after, first seen).
    Readers who left the lists leave the sequence instead. Returns the rows added."""
    if row.first_seen_at > now:
        return 0
    cutoff = now - timedelta(seconds=row.after_s)
    leave_due(conn, seq, row.key, cutoff, now)
    sm, sub = MEMBERS, tables.subscribers
    due = (
        select(
            literal(send_id),
            sm.c.subscriber_id,
            sub.c.email,
            literal("queued"),
            literal(0),
            literal(""),
            literal(""),
            literal(now, D.c.updated_at.type),
            literal(version),
        )
        .select_from(sm.join(sub, sub.c.id == sm.c.subscriber_id))
        .where(*due_members(seq, row.key, cutoff))
    )
    stmt = insert_for(conn, D).from_select(_COLUMNS, due)
    added = conn.execute(
        stmt.on_conflict_do_nothing(index_elements=["send_id", "subscriber_id"])
    ).rowcount
    has_row = exists().where(D.c.send_id == send_id, D.c.subscriber_id == sm.c.subscriber_id)
    conn.execute(
        update(sm)
        .where(*due_members(seq, row.key, cutoff), has_row)
        .values(next_key=seq.after(row.key))
    )
    return max(added, 0)


def pending(engine: Engine, send_id: int) -> bool:
    """Whether the step's send has rows to send (or claimed by a worker that may be gone)."""
    with reading(engine) as conn:
        for status in ("queued", "claimed"):
            found = conn.execute(
                select(D.c.subscriber_id)
                .where(D.c.send_id == send_id, D.c.status == status)
                .limit(1)
            ).first()
            if found is not None:
                return True
    return False
