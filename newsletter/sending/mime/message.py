"""The MIME message built once per send as a skeleton, then personalised per recipient by
substitution and fast C encoders (binascii), instead of ``email.message`` per recipient.

Layout of every message: headers (CRLF, folded, RFC 2047 for non-ASCII), then a
multipart/alternative body with text/plain and text/html parts, both UTF-8 quoted-printable.
The boundary starts with ``=_``, which can never occur in quoted-printable output.
"""

from __future__ import annotations

import binascii
import os
import time
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

from newsletter.authoring.placeholders import fill, readers_in, values_for
from newsletter.models import Recipient
from newsletter.safe_text import one_line
from newsletter.sending.mime.headers import (
    address,
    bare_address,
    dot_atom,
    fold,
    header_text,
    list_id,
    list_unsubscribe,
)
from newsletter.sending.mime.quoted_printable import QPBody

if TYPE_CHECKING:
    from newsletter.config import Settings
    from newsletter.sending.mime.dkim import BoundSigner, DkimSigner


def _atext(value: str) -> str:
    return dot_atom(value, "x")


def _frame(boundary: str) -> tuple[bytes, bytes, bytes]:
    """What opens the text part, opens the HTML part, and closes the message."""
    part = "Content-Type: text/{0}; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable"
    text_open = (
        f"\r\nThis is a multi-part message in MIME format.\r\n\r\n--{boundary}\r\n"
        + part.format("plain")
        + "\r\n\r\n"
    )
    html_open = f"\r\n--{boundary}\r\n" + part.format("html") + "\r\n\r\n"
    return text_open.encode(), html_open.encode(), f"\r\n--{boundary}--\r\n".encode()


class MessageTemplate:
    """Everything that is the same for every recipient of a send, computed once."""

    def __init__(
        self,
        *,
        subject: str,
        html: str,
        text: str,
        from_name: str,
        from_address: str,
        reply_to: str,
        list_id_header: str,
        send_ref: str,
        sender_domain: str,
        bounce_address: str = "",
    ):
        self.subject, self.html, self.text = subject, html, text
        # VERP base of the return path: its local part and domain ("" = no VERP).
        bounce = bare_address(bounce_address)
        self._bounce_local, _, self._bounce_domain = bounce.rpartition("@")
        self.from_address = bare_address(from_address)
        self.from_name = one_line(from_name)
        self.reply_to = bare_address(reply_to)
        self.send_ref = one_line(send_ref)
        self.sender_domain = _atext(sender_domain)
        self._ref_atext = _atext(send_ref)
        self._boundary = "=_nl_" + binascii.b2a_hex(os.urandom(10)).decode()
        self.readers = readers_in(subject, html, text)  # reader placeholders, filled per person
        self._personal_subject = "__NL_" in subject
        self._fixed_subject = "" if self._personal_subject else header_text("Subject", subject)
        self.common = {
            "List-Id": list_id(list_id_header),  # one line: SendGrid takes these as they are
            "Feedback-ID": f"{self._ref_atext.replace(':', '-')}:newsletter:{self.sender_domain}",
            "X-Newsletter-Send": self.send_ref,
        }
        fixed = [
            "MIME-Version: 1.0",
            "From: " + address(from_name, self.from_address, "From"),
        ]
        if self.reply_to:
            fixed.append("Reply-To: " + address("", reply_to))
        fixed += [fold(f"{k}: {v}") for k, v in self.common.items() if v]
        fixed += [
            f'Content-Type: multipart/alternative; boundary="{self._boundary}"',
        ]
        self._fixed_fields = fixed
        self._fixed_headers = ("\r\n".join(fixed) + "\r\n").encode()
        self._text_open, self._html_open, self._close = _frame(self._boundary)
        self._text_body = QPBody(text)
        self._html_body = QPBody(html, keep_lf=True)
        self._dkim: BoundSigner | None = None
        self._dkim_by: DkimSigner | None = None

    def sign_with(self, signer: DkimSigner | None) -> None:
        """DKIM-sign every message rendered from now on with `signer` (None: stop signing).
        What is the same for each message is prepared here, once."""
        if signer is self._dkim_by:
            return
        if signer is None:
            self._dkim = self._dkim_by = None
            return
        start = self._text_open[2:]  # the body begins after the blank line
        for opening, part in ((b"", self._text_body), (self._html_open, self._html_body)):
            fixed, whole = part.fixed_start()
            start += opening + fixed
            if not whole:
                break
        else:
            start += self._close
        domain = self.from_address.rpartition("@")[2]
        # bound first, then published: a thread rendering meanwhile never sees half of it
        self._dkim, self._dkim_by = signer.bind(domain, self._fixed_fields, start), signer

    def message_id(self, recipient: Recipient) -> str:
        """Unique per message; carries the recipient's opaque tag (never a database id), so a
        returned message or a complaint names its recipient only to us."""
        rand = binascii.b2a_hex(os.urandom(6)).decode()
        who = _atext(recipient.tag) if recipient.tag else self._ref_atext
        return f"<{who}.{rand}@{self.sender_domain}>"

    def envelope_sender(self, recipient: Recipient) -> str:
        """The SMTP MAIL FROM for one recipient: the bounce address with the recipient's tag
        (VERP, `bounces+<tag>@domain`), so a bounce names whom it is about, checked by the tag;
        the From address when there is no bounce address or no tag. From: never changes."""
        if self._bounce_local and recipient.return_tag:
            return f"{self._bounce_local}+{_atext(recipient.return_tag)}@{self._bounce_domain}"
        return self.from_address

    def personal_headers(self, recipient: Recipient) -> dict[str, str]:
        """The per-recipient headers a provider API must set (no folding, no encoding)."""
        headers = {"X-Newsletter-Tag": recipient.tag} if recipient.tag else {}
        unsubscribe = list_unsubscribe(
            (recipient.unsubscribe_url, recipient.unsubscribe_mailto), ", "
        )
        if unsubscribe:
            headers["List-Unsubscribe"] = unsubscribe
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        return headers

    def render(self, recipient: Recipient) -> bytes:
        """The complete RFC 5322 message for one recipient."""
        return self.render_checked(recipient)[0]

    def render_checked(self, recipient: Recipient) -> tuple[bytes, bool]:
        """The message, and whether a line of it may begin with a dot: only a body can start
        one (header lines begin with a name or, folded, a blank), so only the bodies' values
        are looked at per recipient."""
        values = values_for(recipient, self.readers)
        if self._personal_subject:
            subject = header_text("Subject", fill(self.subject, values.header))
        else:
            subject = self._fixed_subject
        lines = [
            "To: " + address(recipient.name, recipient.email, "To"),
            subject,
            "Date: " + _date_now(),
            "Message-ID: " + self.message_id(recipient),  # one line: a folded msg-id keeps
            # a leading space in some parsers, and bounce matching reads it back
        ]
        if recipient.tag:
            lines.append("X-Newsletter-Tag: " + _atext(recipient.tag))
        unsubscribe = list_unsubscribe((recipient.unsubscribe_url, recipient.unsubscribe_mailto))
        if unsubscribe:
            lines.append("List-Unsubscribe: " + unsubscribe)
            lines.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
        text, text_dotted = self._text_body.encode_checked(values.text)
        html, html_dotted = self._html_body.encode_checked(values.html)
        body = b"".join((self._text_open, text, self._html_open, html, self._close))
        head = ("\r\n".join(lines) + "\r\n").encode() + self._fixed_headers
        if self._dkim is not None:
            head = self._dkim.headers(lines, memoryview(body)[2:]) + head
        return head + body, text_dotted or html_dotted


_DATE: list[tuple[int, str]] = [(0, "")]


def _date_now() -> str:
    """The Date header's value, formatted once a second (formatdate costs ~10 us a message)."""
    now = int(time.time())
    second, text = _DATE[0]
    if second != now:
        text = formatdate(now, usegmt=True)
        _DATE[0] = (now, text)
    return text


def list_message_template(
    settings: Settings,
    the_list: dict[str, Any],
    *,
    subject: str,
    html: str,
    text: str,
    send_ref: str,
) -> MessageTemplate:
    """A message for one list: its own From / Reply-To overrides, else the settings'."""
    slug = the_list.get("slug", "newsletter")
    return MessageTemplate(
        subject=subject,
        html=html,
        text=text,
        from_name=the_list.get("from_name") or settings.sender_name,
        from_address=the_list.get("from_address") or settings.sender_address,
        reply_to=the_list.get("reply_to") or settings.reply_to,
        list_id_header=f"{the_list.get('name', slug)} <{slug}.{settings.sender_domain}>",
        send_ref=send_ref,
        sender_domain=settings.sender_domain,
        bounce_address=settings.effective_bounce_address,
    )
