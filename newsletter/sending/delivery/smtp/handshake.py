"""The first phases of an SMTP connection, as the base of `session.Session`: the greeting,
EHLO (or HELO), STARTTLS and AUTH, up to `Ready`; and the one way every command is written
(`command`: its bytes, and the kind of each reply it asks for, queued in order)."""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

from newsletter.sending.delivery.smtp import auth
from newsletter.sending.delivery.smtp.events import Event, Fatal, Ready, Refused, StartTLS
from newsletter.sending.delivery.smtp.replies import Reply, extensions
from newsletter.sending.delivery.smtp.transaction import Transaction


class Phase(enum.Enum):
    GREETING = "greeting"
    EHLO = "ehlo"
    STARTTLS = "starttls"  # STARTTLS accepted: the driver upgrades the connection
    AUTH = "auth"
    READY = "ready"
    CLOSING = "closing"  # the server said 421, or we said QUIT: nothing more is written
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Login:
    helo: str  # our name in EHLO
    starttls: bool = False
    username: str = ""
    password: str = ""


class Handshake:
    def __init__(self, login: Login):
        self.login = login
        self.phase = Phase.GREETING
        self.out = bytearray()  # to be written, in order
        self.queued = 0  # stream offset: every byte ever queued
        self.expect: deque[tuple[str, Transaction | None]] = deque()
        self.ext: dict[str, str] = {}
        self.tls = False
        self._auth = ("", 0)  # mechanism, step
        self.expect.append(("GREETING", None))

    @property
    def pipelining(self) -> bool:
        return "PIPELINING" in self.ext

    @property
    def chunking(self) -> bool:
        return "CHUNKING" in self.ext and self.pipelining

    @property
    def smtputf8(self) -> bool:
        return "SMTPUTF8" in self.ext

    def take(self) -> bytes:
        data, self.out = bytes(self.out), bytearray()
        return data

    def tls_started(self) -> None:
        self.tls, self.ext = True, {}
        self.phase = Phase.EHLO
        self.command(f"EHLO {self.login.helo}\r\n".encode(), "EHLO")

    def _on_greeting(self, reply: Reply, _txn: object, events: list[Event]) -> None:
        if reply.code != 220:
            self._refused(reply, events, "refused the connection")
            return
        self.phase = Phase.EHLO
        self.command(f"EHLO {self.login.helo}\r\n".encode(), "EHLO")

    def _on_ehlo(self, reply: Reply, _txn: object, events: list[Event]) -> None:
        if reply.code in (500, 502):  # no ESMTP: plain HELO, no extensions
            self.command(f"HELO {self.login.helo}\r\n".encode(), "HELO")
        elif reply.code != 250:
            self._refused(reply, events, "refused EHLO")
        else:
            self.ext = extensions(reply)
            self._greeted(events)

    def _on_helo(self, reply: Reply, _txn: object, events: list[Event]) -> None:
        if reply.code != 250:
            self._refused(reply, events, "refused HELO")
        else:
            self._greeted(events)

    def _greeted(self, events: list[Event]) -> None:
        if self.login.starttls and not self.tls:
            if "STARTTLS" not in self.ext:
                events.append(Fatal("does not offer STARTTLS (set smtp_security to tls or none)"))
                self.phase = Phase.CLOSING
                return
            self.phase = Phase.STARTTLS
            self.command(b"STARTTLS\r\n", "STARTTLS")
        elif self.login.username:
            name = auth.mechanism(self.ext.get("AUTH", "")) if "AUTH" in self.ext else None
            if name is None:
                events.append(Fatal("does not support login (unset smtp_username)"))
                self.phase = Phase.CLOSING
                return
            self.phase, self._auth = Phase.AUTH, (name, 0)
            line = auth.first_line(name, self.login.username, self.login.password)
            self.command(line.encode() + b"\r\n", "AUTH")
        else:
            self.phase = Phase.READY
            events.append(Ready())

    def _on_starttls(self, reply: Reply, _txn: object, events: list[Event]) -> None:
        if reply.code != 220:
            self._refused(reply, events, "refused STARTTLS")
        else:
            events.append(StartTLS())

    def _on_auth(self, reply: Reply, _txn: object, events: list[Event]) -> None:
        name, step = self._auth
        if reply.code == 334 and step < 3:
            line = auth.answer(name, step, reply.text, self.login.username, self.login.password)
            self._auth = (name, step + 1)
            self.command(line.encode() + b"\r\n", "AUTH")
        elif reply.positive:
            self.phase = Phase.READY
            events.append(Ready())
        elif reply.transient:
            self._refused(reply, events, "refused the login for now")
        else:
            events.append(
                Fatal(
                    f"refused the login for '{self.login.username}': {reply} (check "
                    "smtp_username and NEWSLETTER_SMTP_PASSWORD)"
                )
            )
            self.phase = Phase.CLOSING

    def _refused(self, reply: Reply, events: list[Event], what: str) -> None:
        """Transient (4xx): this connection is refused, another may be taken later; lasting
        (5xx): the server will not serve us, which no retry mends."""
        self.phase = Phase.CLOSING
        events.append(Refused(reply) if reply.transient else Fatal(f"{what}: {reply}"))

    def command(self, data: bytes, *kinds: str, txn: Transaction | None = None) -> None:
        self.out += data
        self.queued += len(data)
        self.expect.extend((kind, txn) for kind in kinds)
