"""POST /webhooks/sendgrid: SendGrid's signed Event Webhook.

Unsigned, badly signed or stale requests get 403 and change nothing; a body that is not a JSON
list of event objects gets 400 and changes nothing. SendGrid retries on non-2xx answers, and
every event is applied idempotently (``events.py``), so a retried batch is harmless.
"""

from __future__ import annotations

import json
import logging

from flask import Blueprint, request

from newsletter import webhook_signature
from newsletter.errors import ConfigError
from newsletter.web import context
from newsletter.web.events import apply_event

bp = Blueprint("webhook", __name__)
log = logging.getLogger(__name__)
_TEXT = {"Content-Type": "text/plain; charset=utf-8"}


@bp.post("/webhooks/sendgrid")
def sendgrid_events():  # type: ignore[no-untyped-def]
    ctx = context()
    key_text = ctx.settings.sendgrid_webhook_public_key
    if not key_text:
        log.warning("SendGrid webhook refused: NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY is not set")
        return "webhook verification key not configured\n", 403, _TEXT
    try:
        key = webhook_signature.load_public_key(key_text)
    except ConfigError as exc:
        log.error("SendGrid webhook refused: %s", exc)
        return "webhook verification key not usable\n", 403, _TEXT
    body = request.get_data(cache=False)
    if not webhook_signature.verify(
        key,
        request.headers.get(webhook_signature.SIGNATURE_HEADER),
        request.headers.get(webhook_signature.TIMESTAMP_HEADER),
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
        if apply_event(ctx.engine, event):
            applied += 1
    return {"received": len(events), "applied": applied}
