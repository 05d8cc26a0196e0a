"""Issue 26, point 5: what `send-due` runs for a sequence never visits every member. On SQLite,
enrolment reads memberships through the index on (list_id, subscribed_at), and the readers due
for a step are one range of the index on (sequence, next_key, joined_at): each statement's
query plan says so."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event

from newsletter.audience.lists import create_list
from newsletter.db.clock import utcnow
from newsletter.db.engine import make_engine
from newsletter.sequences.enrol import enrol
from newsletter.sequences.registry import Registered, StepRow
from newsletter.sequences.steps import enqueue


def _plans(tmp_path: Path) -> dict[str, str]:
    engine = make_engine(f"sqlite:///{tmp_path / 'plan.db'}")
    create_list(engine, "weekly", "Weekly")
    now = utcnow()
    step = StepRow("01-welcome", 1, 0, now - timedelta(days=1), None)
    reg = Registered("welcome", (1,), "new", True, False, now, now, (step,))
    seen: list[tuple[str, Any]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def capture(_conn, _cursor, statement, params, _context, _many):  # type: ignore[no-untyped-def]
        seen.append((statement, params))

    with engine.begin() as conn:
        enrol(conn, reg, now)
        enqueue(conn, reg, step, 1, "v", now)
    plans = {}
    raw = engine.raw_connection()
    try:
        for statement, params in seen:
            if statement.lstrip().startswith(("INSERT INTO sequence_members", "INSERT INTO del")):
                rows = raw.cursor().execute("EXPLAIN QUERY PLAN " + statement, params).fetchall()
                plans[statement.split()[2]] = " | ".join(str(r[-1]) for r in rows)
    finally:
        raw.close()
    engine.dispose()
    return plans


def test_enrolment_and_the_due_readers_are_index_ranges(tmp_path: Path) -> None:
    plans = _plans(tmp_path)
    assert (
        "USING INDEX ix_memberships_list_subscribed (list_id=? AND subscribed_at>?"
        in (plans["sequence_members"])
    )
    assert "SCAN" not in plans["sequence_members"]
    assert (
        "USING INDEX ix_sequence_members_due (sequence=? AND next_key=? AND joined_at<?)"
        in (plans["deliveries"])
    )
    assert "SCAN" not in plans["deliveries"]
