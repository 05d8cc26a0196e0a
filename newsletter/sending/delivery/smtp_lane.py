"""One SMTP lane: messages over one connection at one round trip each.

With PIPELINING a client must still wait for the 354 before it sends a message's content; what
it need not wait for is the reply to that content. So the lane writes message n's content, then
at once message n+1's MAIL, RCPT and DATA, and reads message n's final reply together with
n+1's envelope replies: one round trip per message instead of two. At most one message per
connection is then out with its answer unread (`_Sent`), and its content goes out only after
`feed.handing` has made the handed mark cover it.

Anything unusual (a 4xx, a lost connection, a server without PIPELINING, or with CHUNKING,
which makes a whole message one write anyway) falls back to `SMTPBackend.deliver`, one
message at a time with retries and backoff, exactly as before.
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from newsletter.models import FAILED, SENT, UNKNOWN, Recipient, SendResult
from newsletter.sending.delivery.base import Feed, Unit
from newsletter.sending.delivery.smtp_replies import _Transient, bad_address, stuffed

if TYPE_CHECKING:
    from newsletter.sending.delivery.smtp import SMTPBackend
    from newsletter.sending.mime.message import MessageTemplate

_LOST = (smtplib.SMTPServerDisconnected, OSError)
Conn = smtplib.SMTP | None


@dataclass
class _Sent:
    """A message whose content went out; its final reply is still to be read."""

    unit: Unit
    recipient: Recipient
    data: bytes


def run_lane(backend: SMTPBackend, conn: Conn, template: MessageTemplate, feed: Feed) -> Conn:
    """Deliver the feed's messages over `conn` (opened when None); returns the connection."""
    lane = _Lane(backend, template, feed)
    pending: _Sent | None = None
    while True:
        unit = feed.take(block=False) if pending else None
        if unit is None:  # nothing to pipeline behind the last message: settle it first
            conn, pending = lane.settle(conn, pending), None
            if (unit := feed.take()) is None:
                return conn
        recipient = unit.recipients[0]
        data = template.render(recipient)
        fast = conn is not None and conn.has_extn("pipelining") and not conn.has_extn("chunking")
        if fast:
            assert conn is not None
            conn, pending = lane.pipelined(conn, pending, unit, data)
        else:
            conn = lane.settle(conn, pending)
            conn, pending = lane.slow(conn, unit, data), None


class _Lane:
    def __init__(self, backend: SMTPBackend, template: MessageTemplate, feed: Feed):
        self.backend, self.template, self.feed = backend, template, feed

    def slow(
        self, conn: Conn, unit: Unit, data: bytes, *, attempt: int = 1, reason: str = ""
    ) -> Conn:
        self.feed.handing(unit)
        conn, result = self.backend.deliver(
            conn, self.template, unit.recipients[0], data=data, first=attempt, reason=reason
        )
        self.feed.done(unit, [result])
        return conn

    def _lost(self, conn: Conn, sent: _Sent | None, exc: BaseException) -> None:
        """The connection broke: a message whose content went out is now in doubt."""
        self.backend._drop(conn)
        if sent is not None:
            detail = f"connection lost after the message was sent: {exc}"
            self.feed.done(sent.unit, [SendResult(sent.recipient.subscriber_id, UNKNOWN, detail)])

    def _final(self, conn: smtplib.SMTP, sent: _Sent) -> _Transient | None:
        """Read and record `sent`'s final reply; a transient one is returned, to retry."""
        code, text = conn.getreply()  # raises _LOST
        try:
            outcome = self.backend.judge_final(code, text)
        except _Transient as exc:
            return exc
        sid = sent.recipient.subscriber_id
        if outcome.startswith("FAILED:"):
            self.feed.done(sent.unit, [SendResult(sid, FAILED, outcome[7:])])
        else:
            self.feed.done(sent.unit, [SendResult(sid, SENT, outcome)])
        return None

    def settle(self, conn: Conn, sent: _Sent | None) -> Conn:
        """Finish `sent` (read its reply; retry it the slow way if that was transient)."""
        if sent is None or conn is None:
            return conn
        try:
            transient = self._final(conn, sent)
        except _LOST as exc:
            self._lost(conn, sent, exc)
            return None
        if transient is None:
            return conn
        if transient.connection_lost:
            self.backend._drop(conn)
            conn = None
        return self.slow(conn, sent.unit, sent.data, attempt=2, reason=str(transient))

    def pipelined(
        self, conn: smtplib.SMTP, sent: _Sent | None, unit: Unit, data: bytes
    ) -> tuple[Conn, _Sent | None]:
        """Write `unit`'s envelope behind `sent`'s content, read both; send `unit`'s content."""
        recipient = unit.recipients[0]
        sender = self.template.envelope_sender(recipient)
        bad = bad_address(recipient.email)
        commands = "FAILED:" + bad if bad else self.backend.envelope(conn, sender, recipient.email)
        if isinstance(commands, str):  # refused before anything goes out
            conn_after = self.settle(conn, sent)
            self.feed.done(unit, [SendResult(recipient.subscriber_id, FAILED, commands[7:])])
            return conn_after, None
        try:
            conn.send("".join(c + "\r\n" for c in commands))
            retry = self._final(conn, sent) if sent is not None else None
        except _LOST as exc:
            self._lost(conn, sent, exc)
            return self.slow(None, unit, data), None  # its envelope never got an answer
        if retry is not None and retry.connection_lost:  # 421: the server is closing
            self.backend._drop(conn)
            assert sent is not None
            conn_after = self.slow(None, sent.unit, sent.data, attempt=2, reason=str(retry))
            return self.slow(conn_after, unit, data), None
        conn_after, now_sent = self._content(conn, sender, unit, data)
        if retry is not None:  # `sent` got a 4xx: settle this one, then retry it alone
            assert sent is not None
            conn_after = self.settle(conn_after, now_sent)
            conn_after = self.slow(conn_after, sent.unit, sent.data, attempt=2, reason=str(retry))
            return conn_after, None
        return conn_after, now_sent

    def _content(
        self, conn: smtplib.SMTP, sender: str, unit: Unit, data: bytes
    ) -> tuple[Conn, _Sent | None]:
        """Read the envelope's replies; on 354 send the content (it is then `_Sent`)."""
        sid = unit.recipients[0].subscriber_id
        try:
            replies = [conn.getreply() for _ in range(3)]
            judged = self.backend.judge_envelope(conn, sender, replies)
        except _LOST as exc:
            self._lost(conn, None, exc)
            return self.slow(None, unit, data), None
        except _Transient as exc:
            if exc.connection_lost:
                self.backend._drop(conn)
            kept = None if exc.connection_lost else conn
            return self.slow(kept, unit, data, attempt=2, reason=str(exc)), None
        if isinstance(judged, str):
            self.feed.done(unit, [SendResult(sid, FAILED, judged[7:])])
            return conn, None
        self.feed.handing(unit)
        try:
            conn.send(stuffed(data))
        except _LOST as exc:  # cut off mid-content: not delivered, retry on a fresh one
            self._lost(conn, None, exc)
            return self.slow(None, unit, data, attempt=2, reason=f"connection lost: {exc}"), None
        return conn, _Sent(unit, unit.recipients[0], data)
