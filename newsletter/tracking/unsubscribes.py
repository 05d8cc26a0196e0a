"""Unsubscribes through an issue's links. An unsubscribe link in a send carries the send
(signed, `tokens.Signer.make(..., send_id)`); the web app then records the unsubscribe with a
source that names it (`web:one-click via send 42`), in the subscriber's history like any other
unsubscribe. The report counts the distinct subscribers whose unsubscribe came that way.
Links mailed before sends carried one name no send, and are simply not attributed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import Connection, select

from newsletter.db import tables

VIA = " via send "
_VIA = re.compile(re.escape(VIA) + r"(\d+)$")


def source_via(source: str, send_id: int) -> str:
    """The unsubscribe source, naming the send whose link was used (if any)."""
    return f"{source}{VIA}{send_id}" if send_id else source


def unsubscribed_through(conn: Connection, send_ids: Iterable[int]) -> dict[int, int]:
    """For each send, how many distinct subscribers unsubscribed through its links."""
    wanted = set(send_ids)
    e = tables.subscriber_events
    rows = conn.execute(
        select(e.c.subscriber_id, e.c.detail)
        .where(e.c.kind == "unsubscribed", e.c.detail.like(f"%{VIA}%"))
        .distinct()
    )
    who: dict[int, set[int]] = {s: set() for s in wanted}
    for subscriber_id, detail in rows:
        match = _VIA.search(detail or "")
        if match and int(match.group(1)) in wanted:
            who[int(match.group(1))].add(subscriber_id)
    return {s: len(people) for s, people in who.items()}
