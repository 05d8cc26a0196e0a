"""The double opt-in confirmation mail, sent through the configured delivery backend.

The per-address limit is counted in the database (`audience.consent`), so it holds across every
worker process of the server.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from flask import render_template

from newsletter import tokens
from newsletter.audience.consent import confirmations_sent, note_confirmation_sent
from newsletter.errors import DeliveryError
from newsletter.models import FAILED, Recipient
from newsletter.sending.delivery import make_backend
from newsletter.sending.mime.message import list_message_template
from newsletter.web.context import context

PER_ADDRESS_LIMIT = 3  # confirmation mails per address ...
PER_ADDRESS_WINDOW = timedelta(hours=1)  # ... per this window
CONFIRM_MAX_AGE = 7 * 24 * 3600  # seconds a confirmation link stays valid


def may_send(subscriber_id: int) -> bool:
    sent = confirmations_sent(context().engine, subscriber_id, PER_ADDRESS_WINDOW)
    return sent < PER_ADDRESS_LIMIT


def send(subscriber: dict, the_list: dict) -> bool:
    """Mail the confirmation link; records the attempt. False if the backend refused it."""
    ctx = context()
    settings = ctx.settings
    token = ctx.signer.make("confirm", subscriber["id"], the_list["id"])
    values = {
        "name": subscriber.get("name") or "",
        "list_name": the_list["name"],
        "confirm_url": tokens.confirm_url(settings, token),
        "postal_address": settings.postal_address,
    }
    template = list_message_template(
        settings,
        the_list,
        subject=f"Please confirm your subscription to {the_list['name']}",
        html=render_template("confirm_email.html.j2", **values),
        text=render_template("confirm_email.txt.j2", **values),
        send_ref=f"confirm-{uuid.uuid4().hex[:16]}",
    )
    recipient = Recipient(
        email=subscriber["email"],
        name=subscriber.get("name") or "",
        subscriber_id=int(subscriber["id"]),
        tag=ctx.signer.recipient_tag(0, int(subscriber["id"])),  # send 0: outside any send
    )
    # Counted before it goes out: a crash never means a flood.
    note_confirmation_sent(
        ctx.engine, subscriber["id"], the_list["id"], f"web:subscribe via {settings.backend}"
    )
    try:
        with make_backend(settings.backend, settings) as backend:
            results = backend.send(template, [recipient])
    except DeliveryError:
        return False
    return bool(results) and results[0].status != FAILED
