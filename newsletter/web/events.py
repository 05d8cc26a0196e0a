"""Apply SendGrid events: suppressions for bad addresses and complaints, ledger rows for
delivered / deferred / bounce. Every step is idempotent, so duplicates and out-of-order
events never change anything twice.

The ledger (``ledger.py``) has no provider-event entry point, so this module updates the
``deliveries`` table itself, monotonically: the provider's verdict is kept in ``detail`` as
``sendgrid: <event>`` and a row only moves to a later stage (deferred < delivered < bounce).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, select, update

from newsletter import db, subscribers
from newsletter.addresses import InvalidAddress, parse

D = db.deliveries
PREFIX = "sendgrid: "
STAGE = {"deferred": 1, "delivered": 2, "bounce": 3}
# `dropped` reasons that mean the address itself is bad (others are our own content/limits).
_BAD_DROP = re.compile(r"bounced|invalid|spam|unsubscribed", re.I)
SUPPRESS = {
    "spamreport": "complained",
    "unsubscribe": "unsubscribed",
    "group_unsubscribe": "unsubscribed",
}


def _custom(event: Mapping[str, Any], key: str) -> str:
    """SendGrid flattens custom_args into the event; accept the nested form too."""
    value = event.get(key)
    if value is None and isinstance(event.get("custom_args"), Mapping):
        value = event["custom_args"].get(key)
    return str(value) if value is not None else ""


def send_id_of(ref: str) -> int | None:
    """The send id in a send reference ('42', 'send-42', 'issue-id:42')."""
    match = re.search(r"(\d+)\s*$", ref)
    return int(match.group(1)) if match else None


def _stage(detail: str) -> int:
    if not detail.startswith(PREFIX):
        return 0
    return STAGE.get(detail[len(PREFIX) :].split(":", 1)[0], 0)


def apply_delivery_event(
    engine: Engine, send_id: int, subscriber_id: int, kind: str, reason: str = ""
) -> bool:
    """Move the ledger row forward to `kind` (delivered | deferred | bounce); True if changed."""
    stage = STAGE[kind]
    detail = PREFIX + kind + (f": {reason}" if reason else "")
    status = "failed" if kind == "bounce" else "sent"
    where = (D.c.send_id == send_id, D.c.subscriber_id == subscriber_id)
    with engine.begin() as conn:
        row = conn.execute(select(D.c.status, D.c.detail).where(*where).with_for_update()).first()
        # Rows still queued or claimed belong to a running worker: it records the outcome.
        if row is None or row.status not in ("sent", "unknown", "failed"):
            return False
        if _stage(row.detail) >= stage or (row.status == "failed" and _stage(row.detail) == 0):
            return False
        conn.execute(
            update(D).where(*where).values(status=status, detail=detail[:2000], updated_at=db.now())
        )
    return True


def _suppression_reason(event: Mapping[str, Any]) -> str | None:
    kind = str(event.get("event", ""))
    if kind == "bounce":
        # `blocked` is a temporary refusal (reputation, content): not the address's fault.
        return "bounced" if str(event.get("type", "bounce")) == "bounce" else None
    if kind == "dropped":
        return "bounced" if _BAD_DROP.search(str(event.get("reason", ""))) else None
    return SUPPRESS.get(kind)


def apply_event(engine: Engine, event: Mapping[str, Any]) -> list[str]:
    """Apply one event; returns what it did (for logs and tests)."""
    done: list[str] = []
    kind = str(event.get("event", ""))
    email = str(event.get("email", ""))
    reason = _suppression_reason(event)
    if reason and email:
        try:
            parse(email)
        except InvalidAddress:
            return done
        subscribers.suppress_address(engine, email, reason, list_id=0, source=f"sendgrid:{kind}")
        done.append(f"suppressed:{reason}")
    if kind in STAGE:
        send_id = send_id_of(_custom(event, "send_ref") or _custom(event, "send_id"))
        subscriber = _custom(event, "subscriber_id")
        if send_id is not None and subscriber.isdigit():
            detail = str(event.get("reason") or event.get("response") or "")[:500]
            if apply_delivery_event(engine, send_id, int(subscriber), kind, detail):
                done.append(f"ledger:{kind}")
    return done
