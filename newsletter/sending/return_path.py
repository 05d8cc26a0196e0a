"""What comes back along the return path, applied in one place for every way it arrives (a
report in the bounce mailbox, a provider's webhook): the bounce record, the send's ledger row
(`bounced` or `complained`, with the diagnostic) and the suppression it calls for, in the
caller's transaction. The record's (send, subscriber, kind) key makes it idempotent: news that
was already applied changes nothing and counts nothing twice.

The way out is `MessageTemplate.envelope_sender` (VERP: `bounces+<tag>@domain`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from newsletter.audience.bounces import (
    Returned,
    SoftBouncePolicy,
    insert_return,
    suppress_subscriber,
    suppression_due,
)
from newsletter.sending.ledger import mark_returned

LEDGER_STATUS = {"bounce": "bounced", "complaint": "complained"}


@dataclass(frozen=True)
class Applied:
    new: bool  # False: this news had been applied before (nothing changed)
    suppressed: str = ""  # the suppression reason it led to, if any


def record_return(
    conn: Connection,
    item: Returned,
    policy: SoftBouncePolicy,
    *,
    suppress: bool = True,
    detail: str = "",
) -> Applied:
    """Apply one bounce, complaint or delay notice (see `audience.bounces` for the rules).
    `suppress=False` when the caller suppresses by itself (a provider's signed address);
    `detail` replaces the ledger's default `<category> <code>: <diagnostic>`."""
    if not insert_return(conn, item):
        return Applied(new=False)
    status = LEDGER_STATUS.get(item.kind)
    if status and item.send_id:  # send 0: a confirmation mail, outside any ledger
        mark_returned(conn, item.send_id, item.subscriber_id, status, detail or item.summary)
    reason = suppression_due(conn, item, policy) if suppress else None
    if reason and suppress_subscriber(conn, item, reason):
        return Applied(new=True, suppressed=reason)
    return Applied(new=True)
