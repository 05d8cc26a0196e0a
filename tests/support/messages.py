"""A sample message template and recipients for the MIME and backend tests, and a strict parse."""

from __future__ import annotations

import email
from email import policy

from newsletter.models import Recipient
from newsletter.sending.mime.message import MessageTemplate
from newsletter.tokens import Signer

TAGS = Signer(["messages-test-key"])  # signs the recipients' tags (send 42)

HTML = (
    '<!doctype html><html lang="en"><body><p>Hello __NL_NAME__ (__NL_EMAIL__),</p>'
    + "<p>"
    + "Café au lait, naïve façade — déjà vu. " * 120
    + "</p>"
    + "<p>"
    + "x" * 300
    + "</p>\n.leading dot line\nFrom the start\n"
    + '<a href="__NL_VIEW_URL__">view</a> <a href="__NL_PREFERENCES_URL__">prefs</a> '
    + '<a href="__NL_UNSUBSCRIBE_URL__">Unsubscribe</a></body></html>'
)
TEXT = (
    "Hello __NL_NAME__,\n\n"
    + "Café au lait, naïve façade. " * 40
    + "\n"
    + "trailing space here \n\ttab line\n.dot line\nUnsubscribe: __NL_UNSUBSCRIBE_URL__\n"
)


def sample_template(subject: str = "Hanoi: five takeaways", **overrides: str) -> MessageTemplate:
    args = dict(
        subject=subject,
        html=HTML,
        text=TEXT,
        from_name="Asia Weekly",
        from_address="news@example.com",
        reply_to="editor@example.com",
        list_id_header="Asia weekly <asia-weekly.example.com>",
        send_ref="send-42",
        sender_domain="example.com",
    )
    args.update(overrides)
    return MessageTemplate(**args)  # type: ignore[arg-type]


def recipient(i: int, name: str | None = None, email_: str | None = None) -> Recipient:
    return Recipient(
        email=email_ or f"reader{i}@example.org",
        name=f"Reader {i}" if name is None else name,
        unsubscribe_url=f"https://news.example.com/unsubscribe/tok-{i}.sig",
        preferences_url=f"https://news.example.com/preferences/tok-{i}.sig",
        view_url="https://news.example.com/archive/2019-03-01",
        unsubscribe_mailto=f"mailto:unsubscribe@example.com?subject=unsubscribe%20tok-{i}.sig",
        subscriber_id=i,
        tag=TAGS.recipient_tag(42, i, purpose="message-id"),
        return_tag=TAGS.recipient_tag(42, i, purpose="return-path"),
        link_tag=TAGS.recipient_tag(42, i, purpose="link"),
    )


def parse(data: bytes) -> email.message.EmailMessage:
    message = email.message_from_bytes(data, policy=policy.default)
    assert message.defects == []
    for part in message.walk():
        assert part.defects == [], part.defects
    for name, value in message.items():
        assert getattr(value, "defects", ()) == (), (name, value.defects)
    return message


def body(message: email.message.EmailMessage, kind: str) -> str:
    return message.get_body((kind,)).get_content().replace("\r\n", "\n")
