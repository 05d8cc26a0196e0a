"""Apply SendGrid events: suppressions for bad addresses and complaints; bounces and spam
reports recorded like the bounce mailbox's reports (`return_path.record_return`: the same
`bounced` / `complained` ledger statuses and bounce records, so counts agree whichever way the
news came); delivered / deferred move a sent row forward (`ledger.apply_provider_event`).
Every step is idempotent, so duplicates and out-of-order events never change anything twice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine

from newsletter.audience.addresses import InvalidAddress, parse
from newsletter.audience.bounces import Returned, SoftBouncePolicy
from newsletter.audience.suppressions import suppress_address
from newsletter.db.transaction import begin
from newsletter.sending.ledger import PROVIDER_PREFIX, PROVIDER_STAGES, apply_provider_event
from newsletter.sending.return_path import record_return

# `dropped` reasons that mean the address itself is bad (others are our own content/limits).
_BAD_DROP = re.compile(r"bounced|invalid|spam|unsubscribed", re.I)
_STATUS_CODE = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
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
        suppress_address(engine, email, reason, list_id=0, source=f"sendgrid:{kind}")
        done.append(f"suppressed:{reason}")
    send_id = send_id_of(_custom(event, "send_ref") or _custom(event, "send_id"))
    subscriber = _custom(event, "subscriber_id")
    if send_id is None or not subscriber.isdigit():
        return done
    detail = str(event.get("reason") or event.get("response") or "")[:500]
    if kind in PROVIDER_STAGES:
        if apply_provider_event(engine, send_id, int(subscriber), kind, detail):
            done.append(f"ledger:{kind}")
    elif kind in ("bounce", "spamreport"):
        item = _returned(event, send_id, int(subscriber), detail)
        ledger_detail = PROVIDER_PREFIX + kind + (f": {detail}" if detail else "")
        with begin(engine) as conn:
            applied = record_return(
                conn, item, SoftBouncePolicy(), suppress=False, detail=ledger_detail
            )
        if applied.new:
            done.append(f"ledger:{kind}")
    return done


def _returned(event: Mapping[str, Any], send_id: int, subscriber_id: int, text: str) -> Returned:
    """A bounce (`type` bounce: hard; blocked: blocked) or a spam report, as the mailbox's."""
    if str(event.get("event")) == "spamreport":
        return Returned(send_id, subscriber_id, "complaint", "abuse", source="sendgrid")
    blocked = str(event.get("type", "bounce")) == "blocked"
    code = _STATUS_CODE.search(str(event.get("status") or "") + " " + text)
    return Returned(
        send_id,
        subscriber_id,
        "bounce",
        "blocked" if blocked else "hard",
        code.group(1) if code else "",
        text,
        "sendgrid",
    )
