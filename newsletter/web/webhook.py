"""POST /webhooks/sendgrid: SendGrid's signed Event Webhook.

Unsigned, badly signed or stale requests get 403 and change nothing; a body that is not a JSON
list (not JSON at all, or nested too deep to parse) gets 400 and changes nothing. Within a list,
one bad event never blocks the others: every event that can be applied is, each one that cannot
is logged with its index and the reason (never an address), and the answer is 200, because
SendGrid retries a non-2xx answer, with the same bad event in it, for days. Database trouble is
the exception: 503, and the retried batch is harmless since every event is idempotent
(``sending/provider_events.py``).
"""

from __future__ import annotations

import json
import logging

from flask import Blueprint, request
from flask.typing import ResponseReturnValue

from newsletter.errors import ConfigError
from newsletter.sending.provider_events import EventError, apply_event, read_event
from newsletter.web.context import context
from newsletter.web.webhook_signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    load_public_key,
    verify,
)

bp = Blueprint("webhook", __name__)
log = logging.getLogger(__name__)
_TEXT = {"Content-Type": "text/plain; charset=utf-8"}


@bp.post("/webhooks/sendgrid")
def sendgrid_events() -> ResponseReturnValue:
    ctx = context()
    key_text = ctx.settings.sendgrid_webhook_public_key
    if not key_text:
        log.warning("SendGrid webhook refused: NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY is not set")
        return "webhook verification key not configured\n", 403, _TEXT
    try:
        key = load_public_key(key_text)
    except ConfigError as exc:
        log.error("SendGrid webhook refused: %s", exc)
        return "webhook verification key not usable\n", 403, _TEXT
    body = request.get_data(cache=False)
    if not verify(
        key,
        request.headers.get(SIGNATURE_HEADER),
        request.headers.get(TIMESTAMP_HEADER),
        body,
    ):
        return "invalid or stale signature\n", 403, _TEXT
    try:
        events = json.loads(body, parse_int=_number)
    except (ValueError, UnicodeDecodeError):
        return "body is not JSON\n", 400, _TEXT
    except RecursionError:
        return "body is nested too deep\n", 400, _TEXT
    if not isinstance(events, list):
        return "expected a JSON list of events\n", 400, _TEXT
    applied = rejected = 0
    for index, raw in enumerate(events):
        try:
            event = read_event(raw)
        except EventError as exc:
            log.warning("SendGrid event %d skipped: %s", index, exc)
            rejected += 1
            continue
        if apply_event(ctx.engine, event, ctx.settings):
            applied += 1
    return {"received": len(events), "applied": applied, "rejected": rejected}


def _number(digits: str) -> int | float:
    """A JSON integer; one too long to be any id becomes a float (Python refuses to convert
    integers of over 4,300 digits, which would fail the whole batch)."""
    return int(digits) if len(digits) <= 100 else float(digits)
