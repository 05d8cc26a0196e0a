"""A connection as the engine holds it: its channel (bytes, TLS), its session (the protocol), and
when it must have heard from the server."""

from __future__ import annotations

import ssl

from newsletter.sending.delivery.smtp.channel import Channel
from newsletter.sending.delivery.smtp.events import Event
from newsletter.sending.delivery.smtp.handshake import Login, Phase
from newsletter.sending.delivery.smtp.session import Session

OPENING_LEAST = 0.01  # seconds a new connection counts as being opened, at the least


class Link:
    __slots__ = ("channel", "session", "connecting", "greeted", "deadline", "writing", "since")

    def __init__(self, address: tuple[str, int], login: Login, now: float, timeout: float):
        self.channel = Channel(address)
        self.session = Session(login)
        self.connecting = True
        self.greeted = False  # the session is ready (a 220, EHLO, TLS and login all done)
        self.deadline = now + timeout
        self.since = now  # opened; once welcomed, when the 220 came
        self.writing = True  # watched for EVENT_WRITE (kept from before: False)

    def connected(self, tls: ssl.SSLContext | None, host: str) -> None:
        """The socket turned writable: the connection is made (raises Closed if not); with
        implicit TLS, the handshake starts."""
        self.channel.connected()
        self.connecting = False
        if tls is not None:
            self.channel.start_tls(tls, host)

    def readable(self, now: float) -> list[Event]:
        """Read what arrived and give it to the session (raises Closed, ProtocolError or
        ssl.SSLError)."""
        channel, session = self.channel, self.session
        handshaking, welcomed = channel.handshaking, self.welcomed
        data = channel.receive()
        if handshaking and not channel.handshaking and session.phase is Phase.STARTTLS:
            session.tls_started()
        events = session.receive(data) if data else []
        if not welcomed and self.welcomed:
            self.since = now  # the 220: the EHLO round trip starts
        return events

    def opening(self, now: float, reply_time: float) -> bool:
        """Still being opened, as far as opening the next one goes: not welcomed with a 220,
        and open for less than 1.5 times the server's reply time (at least `OPENING_LEAST`). A
        relay refuses at once (Postfix's 421 comes before any greeting pause), so one not
        refused by then will not be: the next may open while this one's greeting is held
        (smtp-server and Postfix's postscreen hold it on purpose)."""
        return not self.welcomed and now - self.since < max(1.5 * reply_time, OPENING_LEAST)

    def push(self) -> bool:
        """Write what the session has to say; True while some waits for the socket."""
        if data := self.session.take():
            self.channel.send(data)
        return self.channel.flush()

    @property
    def welcomed(self) -> bool:
        """The server greeted it with a 220: a connection it refuses says 421 instead, so the
        next one may be opened now (EHLO, TLS and login follow meanwhile)."""
        return not self.connecting and self.session.phase is not Phase.GREETING

    @property
    def waiting(self) -> bool:
        """Something is due from the server (a reply, or the connect or handshake)."""
        return self.connecting or self.channel.handshaking or bool(self.session.expect)

    @property
    def idle(self) -> bool:
        session = self.session
        return session.phase is Phase.READY and not session.txns and not session.expect

    def close(self) -> None:
        self.channel.close()
