"""POST /webhooks/sendgrid: SendGrid's signed Event Webhook.

Unsigned, badly signed or stale requests get 403 and change nothing; a body that is not a JSON
list of event objects gets 400 and changes nothing. SendGrid retries on non-2xx answers, and
every event is applied idempotently (``events.py``), so a retried batch is harmless.
"""

from __future__ import annotations

import json
import logging

from flask import Blueprint, request
from flask.typing import ResponseReturnValue

from newsletter.errors import ConfigError
from newsletter.sending.provider_events import apply_event
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
        events = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return "body is not JSON\n", 400, _TEXT
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        return "expected a JSON list of event objects\n", 400, _TEXT
    applied = 0
    for event in events:
        if apply_event(ctx.engine, event, ctx.settings):
            applied += 1
    return {"received": len(events), "applied": applied}
