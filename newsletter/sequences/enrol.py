"""Who is in a sequence, read by `send-due` from `memberships.subscribed_at` (the web app and
the importers never read `sequences/`).

Enrolment is incremental: each run reads only the memberships that became `subscribed` since the
last run (less `LOOKBACK`, for a transaction that committed late), through the index on
(list_id, subscribed_at), and inserts them with ON CONFLICT DO NOTHING, so a reader is enrolled
once, whatever the runs overlap. `join = "new"`: memberships subscribed after the sequence was
first seen; `"everyone"`: current members too, their clock starting then. Memberships written by
`import --no-sequences` never join. A reader who left never restarts by rejoining a list
(`restart` does that, on an operator's word).

Leaving is checked when a reader's next step falls due (`leave_due`), so a run never visits
readers with nothing due: without any subscribed membership of the sequence's lists a reader has
left; with `stop_on_unsubscribe`, unsubscribing from any one of them after joining is leaving
(an unsubscribe from before they joined is not).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    Connection,
    DateTime,
    and_,
    case,
    exists,
    func,
    literal,
    not_,
    select,
    update,
)

from newsletter.db import tables
from newsletter.db.dialect import insert_for
from newsletter.sequences.registry import SEQ, Registered

LOOKBACK = timedelta(minutes=15)
M, MEMBERS = tables.memberships, tables.sequence_members
_WHEN = DateTime(timezone=True)


def enrol(conn: Connection, seq: Registered, now: datetime) -> None:
    """Add the readers whose membership became `subscribed` since the last run."""
    since = M.c.subscribed_at
    where = [
        M.c.list_id.in_(list(seq.list_ids)),
        M.c.status == "subscribed",
        not_(M.c.no_sequences),
        since <= literal(now, _WHEN),
    ]
    if seq.enrolled_to is not None:
        where.append(since > literal(seq.enrolled_to - LOOKBACK, _WHEN))
    if seq.join != "everyone":
        where.append(since > literal(seq.first_seen_at, _WHEN))
    first = func.min(since)
    start = literal(seq.first_seen_at, _WHEN)
    joined = first if seq.join != "everyone" else case((first > start, first), else_=start)
    rows = (
        select(
            literal(seq.name),
            M.c.subscriber_id,
            func.min(M.c.list_id),
            joined,
            literal(""),
            literal(seq.first_key),
        )
        .where(*where)
        .group_by(M.c.subscriber_id)
    )
    cols = ["sequence", "subscriber_id", "list_id", "joined_at", "left_reason", "next_key"]
    stmt = insert_for(conn, MEMBERS).from_select(cols, rows)
    conn.execute(stmt.on_conflict_do_nothing(index_elements=["sequence", "subscriber_id"]))
    conn.execute(update(SEQ).where(SEQ.c.name == seq.name).values(enrolled_to=now))


def due_members(seq: Registered, key: str, cutoff: datetime) -> list[ColumnElement[bool]]:
    """The conditions of the readers due for step `key`: waiting for it, joined by `cutoff`,
    still in the sequence (one range of the index (sequence, next_key, joined_at))."""
    return [
        MEMBERS.c.sequence == seq.name,
        MEMBERS.c.next_key == key,
        MEMBERS.c.joined_at <= literal(cutoff, _WHEN),
        MEMBERS.c.left_at.is_(None),
    ]


def has_left(list_ids: Sequence[int], stop_on_unsubscribe: bool) -> ColumnElement[bool]:
    """A member (`sequence_members`) has left the sequence's lists: no subscribed membership
    of them, or with `stop_on_unsubscribe`, an unsubscribe from one after joining."""
    mine = and_(M.c.subscriber_id == MEMBERS.c.subscriber_id, M.c.list_id.in_(list(list_ids)))
    gone = ~exists().where(mine, M.c.status == "subscribed")
    if stop_on_unsubscribe:
        left_since = M.c.updated_at > MEMBERS.c.joined_at  # not an old unsubscribe
        gone = gone | exists().where(mine, M.c.status == "unsubscribed", left_since)
    return gone


def leave_due(conn: Connection, seq: Registered, key: str, cutoff: datetime, now: datetime) -> int:
    """Readers due for `key` who left the sequence's lists leave the sequence (left_at)."""
    gone = has_left(seq.list_ids, seq.stop_on_unsubscribe)
    return conn.execute(
        update(MEMBERS)
        .where(*due_members(seq, key, cutoff), gone)
        .values(left_at=now, left_reason="unsubscribed", next_key=None)
    ).rowcount
