"""SMTP delivery with smtplib: `smtp_connections` connections, all driven by one thread
(`smtp_loop`), reused across batches.

Per message: MAIL, RCPT, DATA. Across a network the round trip is what costs, so a connection
never waits for more than one per message: with PIPELINING (RFC 2920) the next message's
MAIL, RCPT and DATA go out right behind the previous message's content, and the previous
message's final reply comes back with their replies; with CHUNKING (RFC 3030) the whole
transaction, content included (`BDAT n LAST`), is one write. A 5xx on RCPT or after DATA
fails that recipient with the server's words; 4xx replies and dropped connections are retried
with backoff on a fresh connection, one message at a time (`deliver`, here). A connection lost
after the whole message went out but before the server answered is ambiguous: that recipient
becomes UNKNOWN and is not resent.
"""

from __future__ import annotations

import contextlib
import smtplib
import socket
import ssl
import threading
from collections.abc import Sequence
from typing import Any

from newsletter.config import Settings
from newsletter.errors import BackendConfigError
from newsletter.models import FAILED, SENT, UNKNOWN, Recipient, SendResult
from newsletter.sending.delivery.base import Backend, Feed, Unit
from newsletter.sending.delivery.smtp_loop import Loop
from newsletter.sending.delivery.smtp_replies import (
    _Ambiguous,
    _reply,
    _Transient,
    bad_address,
    envelope_verdict,
    stuffed,
)
from newsletter.sending.delivery.tls import client_context, tls_failure
from newsletter.sending.mime.message import MessageTemplate


class SMTPBackend(Backend):
    name = "smtp"
    unit_size = 1  # a unit is one message

    def __init__(self, settings: Settings, **retry: Any):
        super().__init__(**retry)
        self.settings = settings
        self.lanes = 1  # one thread drives every connection
        self.units_at_once = settings.smtp_connections
        self.where = f"{settings.smtp_host}:{settings.smtp_port}"
        self._idle: list[smtplib.SMTP] = []  # open, between lanes
        self._ever_connected = False
        self._context: ssl.SSLContext | None = None
        self._all: list[smtplib.SMTP] = []
        self._lock = threading.Lock()

    # --- connections -------------------------------------------------------------------------

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        try:
            if s.smtp_security == "tls":
                conn: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.smtp_host, s.smtp_port, timeout=s.smtp_timeout, context=self._tls()
                )
            else:
                conn = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout)
            conn.ehlo_or_helo_if_needed()
            if s.smtp_security == "starttls":
                if not conn.has_extn("starttls"):
                    raise BackendConfigError(
                        f"SMTP server {self.where} does not offer STARTTLS "
                        "(set smtp_security to tls or none)"
                    )
                conn.starttls(context=self._tls())
                conn.ehlo()
            if s.smtp_username:
                conn.login(s.smtp_username, s.smtp_password)
        except smtplib.SMTPAuthenticationError as exc:
            raise BackendConfigError(
                f"SMTP server {self.where} refused the login for '{s.smtp_username}': "
                f"{_reply(exc.smtp_code, exc.smtp_error)} (check smtp_username and "
                "NEWSLETTER_SMTP_PASSWORD)"
            ) from None
        except smtplib.SMTPNotSupportedError:
            raise BackendConfigError(
                f"SMTP server {self.where} does not support login (unset smtp_username)"
            ) from None
        except ssl.SSLError as exc:
            raise BackendConfigError(tls_failure(exc, self.where, s)) from None
        except (OSError, smtplib.SMTPException) as exc:
            reason = str(exc) or type(exc).__name__
            if not self._ever_connected:
                raise BackendConfigError(
                    f"cannot connect to SMTP server {self.where}: {reason} "
                    "(check smtp_host, smtp_port and smtp_security)"
                ) from None
            raise _Transient(f"cannot connect to {self.where}: {reason}", connect=True) from None
        self._ever_connected = True
        with self._lock:
            self._all.append(conn)
        return conn

    def _tls(self) -> ssl.SSLContext:
        """One client context for every connection (loading the trust store costs ~20 ms)."""
        with self._lock:
            if self._context is None:
                self._context = client_context(self.settings)
            return self._context

    def _open(self) -> smtplib.SMTP:
        """A connection with Nagle's algorithm off: a message's content and the next one's
        pipelined commands are separate writes, and the second must not wait for an ACK."""
        conn = self._connect()
        if conn.sock is not None:
            with contextlib.suppress(OSError):
                conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    @staticmethod
    def _drop(conn: smtplib.SMTP | None) -> None:
        if conn is None:
            return
        with contextlib.suppress(OSError):
            conn.close()

    # --- one message -------------------------------------------------------------------------

    @staticmethod
    def envelope(conn: smtplib.SMTP, sender: str, rcpt: str) -> list[str] | str:
        """MAIL, RCPT, DATA for one message (the connection set to encode them), or
        'FAILED:...' when the addresses cannot go over this connection."""
        utf8 = not (sender + rcpt).isascii()
        if utf8 and not conn.has_extn("smtputf8"):
            return "FAILED:address is not ASCII and the server does not support SMTPUTF8"
        conn.command_encoding = "utf-8" if utf8 else "ascii"
        return [
            f"MAIL FROM:<{sender}>" + (" SMTPUTF8" if utf8 else ""),
            f"RCPT TO:<{rcpt}>",
            "DATA",
        ]

    def judge_envelope(
        self, conn: smtplib.SMTP, sender: str, replies: list[tuple[int, bytes]]
    ) -> tuple[int, bytes] | str:
        """The DATA reply when the server wants the content, or 'FAILED:...' for a refused
        recipient (the transaction reset); raises _Transient or BackendConfigError."""
        verdict, code, text = envelope_verdict(replies)
        if verdict == "closing":
            raise _Transient(_reply(code, text), connection_lost=True)
        if verdict == "ok":
            return replies[2]
        if len(replies) == 3 and replies[2][0] == 354:
            conn.send(b".\r\n")  # DATA was accepted anyway: send an empty message to end it
            conn.getreply()
        conn.rset()
        if verdict == "retry":
            raise _Transient(_reply(code, text))
        if verdict == "sender":
            raise BackendConfigError(self.refused_sender(sender, code, text))
        return "FAILED:" + _reply(code, text)

    def refused_sender(self, sender: str, code: int, text: bytes) -> str:
        return (
            f"SMTP server {self.where} refused the sender {sender}: "
            f"{_reply(code, text)} (check sender_address and bounce_address)"
        )

    @staticmethod
    def judge_final(code: int, text: bytes) -> str:
        """The reply to the end of the content: SENT detail or 'FAILED:...'; raises _Transient."""
        if code == 250:
            return _reply(code, text)
        if code == 421:
            raise _Transient(_reply(code, text), connection_lost=True)
        if 400 <= code < 500:
            raise _Transient(_reply(code, text))
        return "FAILED:" + _reply(code, text)

    def _envelope(self, conn: smtplib.SMTP, sender: str, rcpt: str) -> tuple[int, bytes] | str:
        """MAIL, RCPT, DATA: in one write when the server offers PIPELINING (RFC 2920)."""
        commands = self.envelope(conn, sender, rcpt)
        if isinstance(commands, str):
            return commands
        if conn.has_extn("pipelining"):
            conn.send("".join(c + "\r\n" for c in commands))
            replies = [conn.getreply() for _ in commands]
        else:
            replies = []
            for command in commands:
                replies.append(conn.docmd(command))
                if replies[-1][0] not in (250, 251, 354):
                    break
        return self.judge_envelope(conn, sender, replies)

    def _chunked(self, conn: smtplib.SMTP, sender: str, rcpt: str, data: bytes) -> str:
        """CHUNKING with PIPELINING: MAIL, RCPT and `BDAT n LAST` with the content, one write."""
        commands = self.envelope(conn, sender, rcpt)
        if isinstance(commands, str):
            return commands
        head = "".join(c + "\r\n" for c in commands[:2]).encode(conn.command_encoding)
        try:
            conn.send(head + b"BDAT %d LAST\r\n" % len(data) + data)
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise _Ambiguous(f"connection lost while the message was sent: {exc}") from None
        try:
            replies = [conn.getreply() for _ in range(3)]
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise _Ambiguous(f"connection lost after the message was sent: {exc}") from None
        envelope = self.judge_envelope(conn, sender, [*replies[:2], (354, b"")])
        return envelope if isinstance(envelope, str) else self.judge_final(*replies[2])

    def _transaction(self, conn: smtplib.SMTP, sender: str, rcpt: str, data: bytes) -> str:
        """SENT detail on success; raises _Transient, _Ambiguous, or returns 'FAILED:...'."""
        if bad_address(rcpt):
            return "FAILED:" + bad_address(rcpt)
        try:
            if conn.has_extn("chunking") and conn.has_extn("pipelining"):
                return self._chunked(conn, sender, rcpt, data)
            outcome = self._envelope(conn, sender, rcpt)
            if isinstance(outcome, str):
                return outcome
            conn.send(stuffed(data))
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise _Transient(f"connection lost: {exc}", connection_lost=True) from None
        try:
            code, text = conn.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise _Ambiguous(f"connection lost after the message was sent: {exc}") from None
        return self.judge_final(code, text)

    def deliver(
        self,
        conn: smtplib.SMTP | None,
        template: MessageTemplate,
        recipient: Recipient,
        *,
        data: bytes | None = None,
        first: int = 1,
        reason: str = "",
    ) -> tuple[smtplib.SMTP | None, SendResult]:
        """One message, one step at a time, from attempt number `first` on (earlier ones
        failed for `reason`): retries with backoff, reconnecting when the connection is lost."""
        data = template.render(recipient) if data is None else data
        sid, sender = recipient.subscriber_id, template.envelope_sender(recipient)
        for attempt in range(first, self.max_attempts + 1):
            if attempt > 1:
                self.pause(attempt - 1)
            try:
                if conn is None:
                    conn = self._open()
                outcome = self._transaction(conn, sender, recipient.email, data)
            except _Transient as exc:
                reason = str(exc)
                if exc.connection_lost:
                    self._drop(conn)
                    conn = None
                continue
            except _Ambiguous as exc:
                self._drop(conn)
                return None, SendResult(sid, UNKNOWN, str(exc))
            if outcome.startswith("FAILED:"):
                return conn, SendResult(sid, FAILED, outcome[7:])
            return conn, SendResult(sid, SENT, outcome)
        if conn is None:  # could not even reconnect: the server is gone, stop the send
            raise BackendConfigError(f"SMTP server {self.where} went away: {reason}")
        return conn, SendResult(
            sid, FAILED, f"gave up after {self.max_attempts} attempts: {reason}"
        )

    # --- lanes and batches -------------------------------------------------------------------

    def lane(self, template: MessageTemplate, feed: Feed) -> None:
        self.connect_first()
        with self._lock:
            idle, self._idle = self._idle, []
        loop = Loop(self, template, feed, idle)
        try:
            loop.run()
        finally:
            with self._lock:
                self._idle += loop.kept

    def connect_first(self) -> None:
        """Fail fast, once, with one clear line when the server cannot be reached at all."""
        if not self._ever_connected:
            conn = self._open()
            with self._lock:
                self._idle.append(conn)

    def send(self, template: MessageTemplate, recipients: Sequence[Recipient]) -> list[SendResult]:
        if not recipients:
            return []
        self.connect_first()
        return self.send_in_lanes(template, [Unit([r]) for r in recipients])

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            try:
                conn.quit()
            except (TimeoutError, smtplib.SMTPException, OSError):
                self._drop(conn)
