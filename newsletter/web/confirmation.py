"""The double opt-in confirmation mail, sent through the configured delivery backend.

A per-address limit is kept in the database (``subscriber_events`` rows of kind
``confirmation-sent``), so it holds across every worker process of the server.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from flask import render_template
from sqlalchemy import func, select

from newsletter import db, tokens
from newsletter.delivery import make_backend
from newsletter.errors import DeliveryError
from newsletter.mime import list_message_template
from newsletter.models import FAILED, Recipient
from newsletter.web import context

EVENT = "confirmation-sent"
PER_ADDRESS_LIMIT = 3  # confirmation mails per address ...
PER_ADDRESS_WINDOW = timedelta(hours=1)  # ... per this window
CONFIRM_MAX_AGE = 7 * 24 * 3600  # seconds a confirmation link stays valid


def may_send(subscriber_id: int) -> bool:
    e = db.subscriber_events
    since = db.now() - PER_ADDRESS_WINDOW
    with db.reading(context().engine) as conn:
        sent = conn.execute(
            select(func.count())
            .select_from(e)
            .where(e.c.subscriber_id == subscriber_id, e.c.kind == EVENT, e.c.at >= since)
        ).scalar_one()
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
    )
    with ctx.engine.begin() as conn:  # count the attempt first: a crash never means a flood
        conn.execute(
            db.subscriber_events.insert().values(
                subscriber_id=subscriber["id"],
                list_id=the_list["id"],
                kind=EVENT,
                detail=f"web:subscribe via {settings.backend}",
                at=db.now(),
            )
        )
    try:
        with make_backend(settings.backend, settings) as backend:
            results = backend.send(template, [recipient])
    except DeliveryError:
        return False
    return bool(results) and results[0].status != FAILED
