"""The ledger rows of mail that came back after it was sent, whichever way the news came (a
DSN or ARF report in the bounce mailbox, `mark_returned`; a provider's webhook,
`apply_provider_event`): a complaint outranks a bounce, neither is undone by a later
"delivered", and a sent row's provider stage only moves forward."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Engine, bindparam, literal_column, or_, select, update

from newsletter.db import tables
from newsletter.db.clock import utcnow
from newsletter.sending.ledger import PROVIDER_PREFIX, PROVIDER_STAGES, RETURNED

D = tables.deliveries


def mark_returned(conn: Connection, rows: Sequence[tuple[int, int, str, str]]) -> None:
    """Record that sent messages came back: (send, subscriber, `bounced` or `complained`,
    detail with the diagnostic). A complaint outranks a bounce; rows still queued or claimed
    belong to a running worker and failed rows were never accepted: those stay as they are."""
    for status in RETURNED:
        params = [
            {"b_send": send, "b_sub": sub, "b_detail": detail[:2000]}
            for send, sub, st, detail in rows
            if st == status
        ]
        if params:
            conn.execute(_MARK_RETURNED[status].values(updated_at=utcnow()), params)


_MARK_RETURNED = {
    status: update(D)
    .where(
        D.c.send_id == bindparam("b_send"),
        D.c.subscriber_id == bindparam("b_sub"),
        # constants spelled out: an expanding IN cannot run as executemany
        or_(
            *(
                D.c.status == literal_column(f"'{s}'")
                for s in ("sent", "unknown", *(r for r in RETURNED if RETURNED[r] < rank))
            )
        ),
    )
    .values(status=status, detail=bindparam("b_detail"))
    for status, rank in RETURNED.items()
}


def apply_provider_event(
    engine: Engine, send_id: int, subscriber_id: int, kind: str, reason: str = ""
) -> bool:
    """What the provider later said about a delivered message (delivered | deferred), kept in
    the `stage` column (and, with the provider's words, in `detail` as `sendgrid: <event>`): a
    sent row only moves to a later stage, and a bounced or complained row never goes back
    (bounces and spam reports: `return_path.record_return`). True if the row changed."""
    detail = PROVIDER_PREFIX + kind + (f": {reason}" if reason else "")
    where = (D.c.send_id == send_id, D.c.subscriber_id == subscriber_id)
    with engine.begin() as conn:
        row = conn.execute(select(D.c.status, D.c.stage).where(*where).with_for_update()).first()
        if row is None or row.status not in ("sent", "unknown"):
            return False
        if PROVIDER_STAGES.get(row.stage, 0) >= PROVIDER_STAGES[kind]:
            return False
        conn.execute(
            update(D)
            .where(*where)
            .values(status="sent", stage=kind, detail=detail[:2000], updated_at=utcnow())
        )
    return True
