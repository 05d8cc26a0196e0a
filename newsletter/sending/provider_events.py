"""Apply SendGrid events: suppressions for bad addresses and complaints; bounces and spam
reports recorded like the bounce mailbox's reports (`return_path.record_return`: the same
`bounced` / `complained` ledger statuses and bounce records, so counts agree whichever way the
news came); delivered / deferred move a sent row forward (`ledger_returns.apply_provider_event`).
Every step is idempotent, so duplicates and out-of-order events never change anything twice.

An event comes from outside, so `read_event` checks every field it uses before anything is
written: a field of the wrong type, an id the database cannot hold or an address that is not
one makes an `EventError` naming the field (never its value: it may be an address), and the
caller skips that one event and applies the rest of the batch.
`open` and `click` (SendGrid's own tracking, if turned on anyway) go to `tracking.provider`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from newsletter.audience.addresses import InvalidAddress, parse
from newsletter.audience.bounces import Returned, SoftBouncePolicy
from newsletter.audience.suppressions import suppress_address
from newsletter.config import Settings
from newsletter.db.transaction import begin
from newsletter.errors import NewsletterError
from newsletter.safe_text import one_line
from newsletter.sending.ledger import PROVIDER_PREFIX, PROVIDER_STAGES
from newsletter.sending.ledger_returns import apply_provider_event
from newsletter.sending.return_path import record_return
from newsletter.tracking import provider

# `dropped` reasons that mean the address itself is bad (others are our own content/limits).
_BAD_DROP = re.compile(r"bounced|invalid|spam|unsubscribed", re.I)
_STATUS_CODE = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")
RETURNS = ("bounce", "spamreport")  # recorded like the bounce mailbox's reports
SUPPRESS = {
    "spamreport": "complained",
    "unsubscribe": "unsubscribed",
    "group_unsubscribe": "unsubscribed",
}
MAX_ID = 2**63 - 1  # the largest id a BIGINT column holds
_ID = re.compile(r"[0-9]{1,19}")  # ASCII digits only: int() also reads other scripts' digits
_SEND_REF = re.compile(r"(?<![0-9])([0-9]{1,19})\s*$")
_TEXT_FIELDS = ("event", "email", "type", "reason", "response", "status")


class EventError(NewsletterError):
    """One provider event that cannot be applied; the message names the field and why."""


@dataclass(frozen=True)
class ProviderEvent:
    kind: str  # "delivered", "bounce", "spamreport", ...
    email: str  # "" when the event carries none
    suppress: str | None  # the suppression reason this event means, if any
    send_id: int | None  # for the ledger, when the event names a send and a subscriber
    subscriber_id: int | None
    detail: str  # the provider's reason or response, printable, at most 500 characters
    bounce_type: str = "bounce"  # SendGrid's bounce type: "bounce" or "blocked"
    status: str = ""  # the SMTP status SendGrid reports, e.g. "5.1.1"
    tracking: dict[str, Any] = field(default_factory=dict)  # checked fields of an open or click


def read_event(raw: object) -> ProviderEvent:
    """Check one decoded JSON event and keep what we use, or EventError."""
    if not isinstance(raw, Mapping):
        raise EventError("not a JSON object")
    text = {name: _text(raw, name) for name in _TEXT_FIELDS}
    kind = text["event"]
    suppress = _suppression_reason(kind, text["type"] or "bounce", text["reason"])
    email = text["email"]
    if suppress:
        if not email:
            raise EventError(f"a '{kind}' event without 'email'")
        try:
            parse(email)
        except InvalidAddress:
            raise EventError("'email' is not a valid address") from None
    send_id = subscriber_id = None
    if kind in PROVIDER_STAGES or kind in RETURNS or kind in provider.EVENTS:
        ref = _custom(raw, "send_ref") or _custom(raw, "send_id")
        send_id = send_id_of(ref) if ref else None
        subscriber = _custom(raw, "subscriber_id")
        subscriber_id = _id(subscriber, "subscriber_id") if subscriber else None
    # One line (also: NUL cannot even be stored in PostgreSQL).
    detail = one_line(text["reason"] or text["response"], 500)
    status = one_line(text["status"], 50)
    return ProviderEvent(
        kind,
        email,
        suppress,
        send_id,
        subscriber_id,
        detail,
        text["type"] or "bounce",
        status,
        _tracking_fields(raw) if kind in provider.EVENTS else {},
    )


def _tracking_fields(raw: Mapping[object, object]) -> dict[str, Any]:
    """What judging a SendGrid open or click reads, each checked: text, a whole timestamp,
    a true/false machine flag."""
    fields: dict[str, Any] = {"event": _text(raw, "event")}
    for name in ("useragent", "url"):
        fields[name] = one_line(_text(raw, name), 4000)
    stamp = raw.get("timestamp")
    if stamp is not None:
        if isinstance(stamp, bool) or not isinstance(stamp, int) or not 0 < stamp < 2**40:
            raise EventError("'timestamp' must be a whole number of seconds")
        fields["timestamp"] = stamp
    machine = raw.get("sg_machine_open")
    if machine is not None and not isinstance(machine, bool):
        raise EventError(f"'sg_machine_open' must be true or false, got {type(machine).__name__}")
    fields["sg_machine_open"] = bool(machine)
    return fields


def apply_event(
    engine: Engine, event: ProviderEvent, settings: Settings | None = None
) -> list[str]:
    """Apply one checked event; returns what it did (for logs and tests)."""
    done: list[str] = []
    if event.suppress:
        suppress_address(
            engine, event.email, event.suppress, list_id=0, source=f"sendgrid:{event.kind}"
        )
        done.append(f"suppressed:{event.suppress}")
    if not (event.send_id and event.subscriber_id):
        return done
    if event.kind in PROVIDER_STAGES:
        moved = apply_provider_event(
            engine, event.send_id, event.subscriber_id, event.kind, event.detail
        )
        done += [f"ledger:{event.kind}"] if moved else []
    elif event.kind in RETURNS:
        ledger_detail = PROVIDER_PREFIX + event.kind + (f": {event.detail}" if event.detail else "")
        with begin(engine) as conn:
            applied = record_return(
                conn, _returned(event), SoftBouncePolicy(), suppress=False, detail=ledger_detail
            )
        done += [f"ledger:{event.kind}"] if applied.new else []
    elif event.kind in provider.EVENTS:  # opens and clicks: judged like our own (issue 12)
        verdict = provider.record_event(
            engine, settings or Settings(), event.tracking, event.send_id, event.subscriber_id
        )
        done += [f"tracked:{verdict}"] if verdict else []
    return done


def _returned(event: ProviderEvent) -> Returned:
    """A bounce (`type` bounce: hard; blocked: blocked) or a spam report, as the mailbox's."""
    assert event.send_id is not None and event.subscriber_id is not None
    if event.kind == "spamreport":
        return Returned(event.send_id, event.subscriber_id, "complaint", "abuse", source="sendgrid")
    code = _STATUS_CODE.search(event.status + " " + event.detail)
    return Returned(
        event.send_id,
        event.subscriber_id,
        "bounce",
        "blocked" if event.bounce_type == "blocked" else "hard",
        code.group(1) if code else "",
        event.detail,
        "sendgrid",
    )


def send_id_of(ref: str) -> int | None:
    """The send id in a send reference ('42', 'send-42', 'issue-id:42'), if it can be one."""
    match = _SEND_REF.search(ref)
    if match is None:
        return None
    value = int(match.group(1))
    return value if 0 < value <= MAX_ID else None


def _text(event: Mapping[object, object], name: str) -> str:
    value = event.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise EventError(f"'{name}' must be text, got {type(value).__name__}")
    return value


def _custom(event: Mapping[object, object], key: str) -> str:
    """A custom arg as text: SendGrid flattens custom_args into the event (strings); the nested
    form and whole numbers are accepted too. Anything else is an EventError."""
    value = event.get(key)
    nested = event.get("custom_args")
    if value is None and isinstance(nested, Mapping):
        value = nested.get(key)
    if value is None or isinstance(value, str):
        return value or ""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 < value <= MAX_ID:
            raise EventError(f"'{key}' is out of range (1 to {MAX_ID})")
        return str(value)
    raise EventError(f"'{key}' must be text, got {type(value).__name__}")


def _id(value: str, name: str) -> int:
    if not _ID.fullmatch(value) or not 0 < int(value) <= MAX_ID:
        raise EventError(f"'{name}' is not an id (digits, 1 to {MAX_ID})")
    return int(value)


def _suppression_reason(kind: str, bounce_type: str, reason: str) -> str | None:
    if kind == "bounce":
        # `blocked` is a temporary refusal (reputation, content): not the address's fault.
        return "bounced" if bounce_type == "bounce" else None
    if kind == "dropped":
        return "bounced" if _BAD_DROP.search(reason) else None
    return SUPPRESS.get(kind)
