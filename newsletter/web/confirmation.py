"""The double opt-in confirmation mail, sent through the configured delivery backend.

It carries nothing the requester typed: anyone can type any address and any name into the
form, so the mail greets neutrally, is addressed to the bare address, and holds only our own
text, the list's name and the link. Who gets one, and how often, is `audience.consent`.
"""

from __future__ import annotations

import uuid

from flask import render_template
from markupsafe import Markup

from newsletter import tokens
from newsletter.audience.consent import Mailing
from newsletter.errors import DeliveryError
from newsletter.models import FAILED, Recipient
from newsletter.recipient_tags import TAG_MESSAGE_ID, TAG_RETURN_PATH
from newsletter.safe_text import one_line
from newsletter.sending.delivery import make_backend
from newsletter.sending.mime.message import list_message_template
from newsletter.web import language
from newsletter.web.context import context

CONFIRM_MAX_AGE = 7 * 24 * 3600  # seconds a confirmation link stays valid


def _subject(values: dict[str, str]) -> str:
    """The subject from its template, one line. A header, not HTML: the values go in as they
    are (the pages' environment would escape `&` to `&amp;`)."""
    raw = {k: Markup(v) for k, v in values.items()}  # noqa: S704 - a header, never HTML
    return one_line(render_template("confirm_email.subject.j2", **raw).strip())


def send(mailing: Mailing, the_list: dict) -> bool:
    """Mail the confirmation link. False if the backend refused it."""
    ctx = context()
    settings = ctx.settings
    language.for_list(the_list)  # the list's language, else the setting's
    token = ctx.signer.make_confirm(mailing.subscriber_id, the_list["id"])
    values = {
        "list_name": the_list["name"],
        "confirm_url": tokens.confirm_url(settings, token),
        "postal_address": settings.postal_address,
    }
    template = list_message_template(
        settings,
        the_list,
        subject=_subject(values),
        html=render_template("confirm_email.html.j2", **values),
        text=render_template("confirm_email.txt.j2", **values),
        send_ref=f"confirm-{uuid.uuid4().hex[:16]}",
    )
    recipient = Recipient(
        email=mailing.email,
        name="",  # never the typed name: not in To:, not in the greeting
        subscriber_id=mailing.subscriber_id,
        tag=ctx.signer.recipient_tag(0, mailing.subscriber_id, purpose=TAG_MESSAGE_ID),
        return_tag=ctx.signer.recipient_tag(0, mailing.subscriber_id, purpose=TAG_RETURN_PATH),
    )
    try:
        with make_backend(settings.backend, settings) as backend:
            results = backend.send(template, [recipient])
    except DeliveryError:
        return False
    return bool(results) and results[0].status != FAILED
