"""The turn from a subject-line test's wait to its winner phase: is the winner due (`check`,
before anything is written), then the decision (the verdict on people only, or the operator's
`--winner`) stored with its figures, in the transaction that queues the held rows with the
winner's variant (`begin_winner_phase`). A crash either side of that commit is harmless: before
it nothing changed; after it the winner phase is an ordinary send to resume."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Engine, func, select

from newsletter.authoring.ab_front import letter
from newsletter.db import tables
from newsletter.db.clock import utcnow
from newsletter.db.connection import reading
from newsletter.errors import SendError
from newsletter.sending import ab_phase
from newsletter.tracking.ab_figures import variant_figures
from newsletter.tracking.ab_verdict import decide, rate

D = tables.deliveries


def due_text(when: datetime | None) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC") if when else "after the test phase"


def check(engine: Engine, send_id: int, winner: int | None, now: datetime | None) -> int:
    """The number of held readers the winner phase will send to; SendError when the winner
    cannot be decided now (`winner`: the operator's choice, 0 = A)."""
    with reading(engine) as conn:
        state = ab_phase.state_of(conn, send_id)
        _refuse(state, send_id, winner, now or utcnow())
        assert state is not None
        return _held(conn, send_id)


def _held(conn: Connection, send_id: int) -> int:
    return int(
        conn.execute(
            select(func.count()).where(D.c.send_id == send_id, D.c.status == "held")
        ).scalar_one()
    )


def _refuse(
    state: ab_phase.AbState | None, send_id: int, winner: int | None, now: datetime
) -> None:
    if state is None:
        raise SendError(f"send #{send_id} has no subject-line test: --winner does not apply")
    if winner is not None and winner >= state.variants:
        raise SendError(
            f"send #{send_id} tests {state.variants} subjects (A to "
            f"{letter(state.variants - 1)}): --winner {letter(winner)} is not one of them"
        )
    if state.winner is not None:
        raise SendError(
            f"send #{send_id}: the winner ({letter(state.winner)}) was already decided and its "
            "phase started; continue it with --resume"
        )
    if state.tested_at is None:
        raise SendError(
            f"send #{send_id} is still sending its test phase; the winner can be chosen once "
            "it is fully sent (continue it with --resume)"
        )
    if winner is None and state.winner_due_at is not None and now < state.winner_due_at:
        raise SendError(
            f"send #{send_id}: test phase sent; winner due at {due_text(state.winner_due_at)} "
            "(or choose it now with --winner A|B...)"
        )


def begin_winner_phase(
    conn: Connection, send_id: int, winner: int | None, now: datetime | None
) -> int:
    """Decide and queue the held rows with the winner's variant; returns the winner."""
    state = ab_phase.state_of(conn, send_id)
    _refuse(state, send_id, winner, now or utcnow())
    assert state is not None
    figures = variant_figures(conn, send_id, state.variants)
    for f in figures:
        f["rate"] = {key: rate(f[key]["human"], f["reached"]) for key in ("opens", "clicks")}
    counts = [(f[state.metric]["human"], f["reached"]) for f in figures]
    verdict = decide(counts, state.tie)
    chosen = verdict.winner if winner is None else winner
    ab_phase.start_winner(
        conn,
        send_id,
        chosen,
        decided_by="verdict" if winner is None else "hand",
        figures=figures,
        p_value=verdict.p_value,
        conclusive=verdict.conclusive,
    )
    return chosen


def phase_line(state: ab_phase.AbState, send_status: str) -> str:
    """Where a send's test stands, for `status`: testing, waiting for the winner, or sending
    (or done sending) the winner."""
    if state.winner is None:
        if state.tested_at is None:
            return f"testing: {state.sample:,} readers get one of {state.variants} subjects"
        return f"test phase sent; winner due at {due_text(state.winner_due_at)}"
    how = "chosen by hand" if state.decided_by == "hand" else f"on people's {state.metric}"
    doing = "sent" if send_status == "done" else "sending"
    return f"{doing} the winner {letter(state.winner)} ({how}) to the rest"
