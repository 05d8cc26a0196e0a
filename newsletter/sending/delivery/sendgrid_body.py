"""The JSON body of a SendGrid request. One HTML body serves the whole request: per-recipient
values travel as ``substitutions``. Each body context gets its own placeholder spelling
(``__NLH_`` in HTML, ``__NLS_`` in the subject, ``__NL_`` in text) so every value is escaped for
where it lands. The body is a plain dict (the sendgrid helper classes reverse personalization
order)."""

from __future__ import annotations

from typing import Any

from newsletter.authoring.placeholders import PLACEHOLDERS, fill, used_in, values_for
from newsletter.models import Recipient
from newsletter.safe_text import one_line
from newsletter.sending.mime.message import MessageTemplate

_HTML, _SUBJECT = "__NLH_", "__NLS_"


def _in(context: str, key: str) -> str:
    return context + key[len("__NL_") :]


def substitution_bytes(subs: dict[str, str]) -> int:
    """UTF-8 size of keys and values (an ASCII string's length is its size: no encoding)."""
    joined = "".join(subs) + "".join(subs.values())
    return len(joined) if joined.isascii() else len(joined.encode())


def common_part(template: MessageTemplate) -> dict[str, Any]:
    """What every request of `template` shares: the body without personalizations, and which
    placeholders each context uses."""
    # Each context's own placeholder spelling, renamed in one pass like any substitution.
    keys = PLACEHOLDERS + template.readers
    html = fill(template.html, {k: _in(_HTML, k) for k in keys})
    subject = fill(template.subject, {k: _in(_SUBJECT, k) for k in keys})
    sender: dict[str, str] = {"email": template.from_address}
    if template.from_name:
        sender["name"] = template.from_name
    body: dict[str, Any] = {
        "from": sender,
        "subject": one_line(subject),
        "content": [
            {"type": "text/plain", "value": template.text},
            {"type": "text/html", "value": html},
        ],
        "headers": {k: v for k, v in template.common.items() if v},
        # Our own unsubscribe link; and we track clicks and opens ourselves, judged
        # (newsletter/tracking): SendGrid must not rewrite links or add its pixel.
        "tracking_settings": {
            "subscription_tracking": {"enable": False},
            "click_tracking": {"enable": False, "enable_text": False},
            "open_tracking": {"enable": False},
        },
    }
    if template.reply_to:
        body["reply_to"] = {"email": template.reply_to}
    used = used_in(template.html, template.text, template.subject)
    return {
        "body": body,
        "used": used,
        "html_keys": [(k, _in(_HTML, k)) for k in used.html],
        "subject_keys": [(k, _in(_SUBJECT, k)) for k in used.header],
    }


def personalization(
    common: dict[str, Any], template: MessageTemplate, recipient: Recipient
) -> dict[str, Any]:
    """One recipient's entry of `personalizations` (`common`: `common_part(template)`)."""
    # Made inert: SendGrid substitutes on its side, so no value may contain a key.
    values = values_for(recipient, made_inert=True, used=common["used"])
    subs = {h: values.html[k] for k, h in common["html_keys"]}
    subs.update(values.text)
    subs.update({h: values.header[k] for k, h in common["subject_keys"]})
    to: dict[str, str] = {"email": recipient.email}
    name = one_line(recipient.name, also=",;")  # SendGrid writes the To: line itself
    if name:
        to["name"] = name
    item: dict[str, Any] = {
        "to": [to],
        "headers": template.personal_headers(recipient),
        "custom_args": {
            "send_ref": template.send_ref,
            "subscriber_id": str(recipient.subscriber_id),
        },
    }
    if subs:
        item["substitutions"] = subs
    return item
