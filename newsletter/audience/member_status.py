"""A member's status as an operator reads it: `subscribed`, `unconfirmed`, `unsubscribed`, or,
for a member whose address bounced or complained (their membership is `unsubscribed`, the
suppression says why), `bounced` or `complained`. `lists` and `subscribers export` count and
write these, so a first issue's hard bounces never read as people who left."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, select

from newsletter.audience.addresses import hash_key
from newsletter.audience.memberships import STATUSES
from newsletter.audience.suppressions import RANK
from newsletter.db import tables

RETURNED = ("bounced", "complained")
SHOWN_STATUSES = (*STATUSES, *RETURNED)


def returned_reasons(conn: Connection, list_ids: Iterable[int]) -> dict[tuple[str, int], str]:
    """(address hash, list id) -> `bounced`/`complained`, for every suppression of these lists
    (list 0: every list) that a return caused. Returns are few beside the members."""
    x = tables.suppressions
    q = select(x.c.address_hash, x.c.list_id, x.c.reason).where(
        x.c.reason.in_(RETURNED), x.c.list_id.in_([0, *list_ids])
    )
    return {(h, int(lid)): str(reason) for h, lid, reason in conn.execute(q)}


def shown_status(
    status: str, email_key: str, list_id: int, reasons: dict[tuple[str, int], str]
) -> str:
    """The status to show for a membership: an `unsubscribed` one whose address bounced or
    complained shows why (the stronger reason when both the list's and the global say one)."""
    if status != "unsubscribed" or not reasons:
        return status
    h = hash_key(email_key)
    found = [r for r in (reasons.get((h, 0)), reasons.get((h, list_id))) if r]
    return max(found, key=RANK.__getitem__) if found else status
