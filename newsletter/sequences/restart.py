"""`subscribers add --restart-sequence NAME`: an operator's word that a reader starts a sequence
again. The reader's clock starts now, at step 1; but a step goes to a reader at most once (its
ledger row is the proof), so the steps they already had are passed over as they fall due, and
they get only the steps they never had, each `after:` from now."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, select

from newsletter.db import tables
from newsletter.db.connection import reading
from newsletter.db.dialect import insert_for, lock_for_transaction
from newsletter.errors import NewsletterError
from newsletter.sequences.enrol import MEMBERS
from newsletter.sequences.registry import registered

M = tables.memberships


def require_registered(engine: Engine, name: str) -> None:
    """Refuse, before anything is written, a sequence `send-due` has not registered."""
    with reading(engine) as conn:
        registered(conn, name)


def restart(engine: Engine, subscriber_id: int, name: str, now: datetime) -> None:
    """Put the reader back at the start of sequence `name` (registered by `send-due`)."""
    with engine.begin() as conn:
        lock_for_transaction(conn, f"sequence:{name}")
        seq = registered(conn, name)
        list_id = conn.execute(
            select(M.c.list_id)
            .where(
                M.c.subscriber_id == subscriber_id,
                M.c.list_id.in_(list(seq.list_ids)),
                M.c.status == "subscribed",
            )
            .order_by(M.c.list_id)
            .limit(1)
        ).scalar()
        if list_id is None:
            raise NewsletterError(
                f"--restart-sequence {name}: the reader is not subscribed to any list of that "
                "sequence (confirmed members only)"
            )
        values = {
            "joined_at": now,
            "left_at": None,
            "left_reason": "",
            "next_key": seq.first_key,
            "list_id": list_id,
        }
        stmt = insert_for(conn, MEMBERS).values(
            sequence=name, subscriber_id=subscriber_id, **values
        )
        conn.execute(
            stmt.on_conflict_do_update(index_elements=["sequence", "subscriber_id"], set_=values)
        )
