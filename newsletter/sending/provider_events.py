"""Apply SendGrid events: suppressions for bad addresses and complaints, ledger rows for
delivered / deferred / bounce (`ledger.apply_provider_event`, which only moves a row forward).
Every step is idempotent, so duplicates and out-of-order events never change anything twice.
`open` and `click` (SendGrid's own tracking, if turned on anyway) go to `tracking.provider`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine

from newsletter.audience.addresses import InvalidAddress, parse
from newsletter.audience.suppressions import suppress_address
from newsletter.config import Settings
from newsletter.sending.ledger import PROVIDER_STAGES, apply_provider_event
from newsletter.tracking import provider

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


def _suppression_reason(event: Mapping[str, Any]) -> str | None:
    kind = str(event.get("event", ""))
    if kind == "bounce":
        # `blocked` is a temporary refusal (reputation, content): not the address's fault.
        return "bounced" if str(event.get("type", "bounce")) == "bounce" else None
    if kind == "dropped":
        return "bounced" if _BAD_DROP.search(str(event.get("reason", ""))) else None
    return SUPPRESS.get(kind)


def apply_event(
    engine: Engine, event: Mapping[str, Any], settings: Settings | None = None
) -> list[str]:
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
    if kind in PROVIDER_STAGES:
        send_id = send_id_of(_custom(event, "send_ref") or _custom(event, "send_id"))
        subscriber = _custom(event, "subscriber_id")
        if send_id is not None and subscriber.isdigit():
            detail = str(event.get("reason") or event.get("response") or "")[:500]
            if apply_provider_event(engine, send_id, int(subscriber), kind, detail):
                done.append(f"ledger:{kind}")
    if kind in provider.EVENTS:  # opens and clicks: judged like our own (issue 12)
        send_id = send_id_of(_custom(event, "send_ref") or _custom(event, "send_id"))
        subscriber = _custom(event, "subscriber_id")
        if send_id is not None and subscriber.isdigit():
            verdict = provider.record_event(
                engine, settings or Settings(), event, send_id, int(subscriber)
            )
            if verdict:
                done.append(f"tracked:{verdict}")
    return done
