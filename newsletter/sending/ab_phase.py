"""The phases of a subject-line test, as the database records them.

testing (the sample is queued) -> waiting (the sample is fully sent: `tested_at`, and the
winner is due at `winner_due_at`) -> the winner phase (decided: `winner`; the held rows were
queued with the winner's variant in the transaction that stored the decision). The send's own
status says `waiting` in between, so claiming, workers and `send-due` leave it alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from newsletter.db import tables
from newsletter.db.clock import as_utc, utcnow

A, D, S, V = tables.ab_tests, tables.deliveries, tables.sends, tables.send_variants
TESTING, WAITING, WINNER = "testing", "waiting", "winner"


@dataclass(frozen=True)
class AbState:
    send_id: int
    share: float
    wait_seconds: int
    metric: str
    tie: str
    variants: int
    sample: int
    tested_at: datetime | None
    winner_due_at: datetime | None
    winner: int | None
    decided_at: datetime | None
    decided_by: str | None
    conclusive: bool | None
    p_value: float | None
    figures: list[dict[str, Any]] | None

    @property
    def phase(self) -> str:
        if self.winner is not None:
            return WINNER
        return WAITING if self.tested_at is not None else TESTING


def state_of(conn: Connection, send_id: int) -> AbState | None:
    """The send's test, or None for a send without one."""
    r = conn.execute(select(A).where(A.c.send_id == send_id)).first()
    if r is None:
        return None
    values = dict(r._mapping)
    for key in ("tested_at", "winner_due_at", "decided_at"):
        values[key] = as_utc(values[key])
    return AbState(**values)


def test_phase_sent(conn: Connection, send_id: int) -> bool:
    """Called when nothing of the send is queued or claimed: True (and the send `waiting`, the
    winner due after the wait) while rows are held; False when the send is really done."""
    held = conn.execute(
        select(D.c.subscriber_id).where(D.c.send_id == send_id, D.c.status == "held").limit(1)
    ).first()
    if held is None:
        return False
    now = utcnow()
    wait = conn.execute(
        select(A.c.wait_seconds).where(A.c.send_id == send_id, A.c.tested_at.is_(None))
    ).scalar()
    if wait is not None:  # the wait runs from the moment the test phase finished sending
        conn.execute(
            update(A)
            .where(A.c.send_id == send_id)
            .values(tested_at=now, winner_due_at=now + timedelta(seconds=int(wait)))
        )
    conn.execute(
        update(S).where(S.c.id == send_id, S.c.status == "running").values(status="waiting")
    )
    return True


def shift_clock(engine: Engine, send_id: int, since: datetime, offset: timedelta) -> None:
    """`send-due --now`: a test phase that finished during this run (after `since`) finished
    at the pretended time, so its winner is due against the same clock."""
    with engine.begin() as conn:
        state = state_of(conn, send_id)
        if state is None or state.winner is not None or state.tested_at is None:
            return
        if state.tested_at < since or state.winner_due_at is None:
            return
        conn.execute(
            update(A)
            .where(A.c.send_id == send_id)
            .values(tested_at=state.tested_at + offset, winner_due_at=state.winner_due_at + offset)
        )


def start_winner(
    conn: Connection,
    send_id: int,
    winner: int,
    *,
    decided_by: str,
    figures: list[dict[str, Any]],
    p_value: float,
    conclusive: bool,
) -> int:
    """Store the decision and queue every held row with the winner's variant, in the caller's
    transaction; returns how many rows were queued (0 when another run decided first)."""
    decided = conn.execute(
        update(A)
        .where(A.c.send_id == send_id, A.c.winner.is_(None))
        .values(
            winner=winner,
            decided_at=utcnow(),
            decided_by=decided_by,
            figures=figures,
            p_value=p_value,
            conclusive=conclusive,
        )
    ).rowcount
    if not decided:
        return 0
    queued = conn.execute(
        update(D)
        .where(D.c.send_id == send_id, D.c.status == "held")
        .values(status="queued", variant=winner, updated_at=utcnow())
    ).rowcount
    won = conn.execute(select(V).where(V.c.send_id == send_id, V.c.variant == winner)).one()
    conn.execute(  # the send, and so the archive, is the winner's version from now on
        update(S)
        .where(S.c.id == send_id)
        .values(
            status="running",
            finished_at=None,
            subject=won.subject,
            html=won.html,
            text=won.text,
            web_html=won.web_html,
        )
    )
    return int(queued)
