"""The SMTP backend: the settings, what the engine keeps between runs (idle connections, what the
governor learned, the TLS context), and the lines a person reads when something is wrong."""

from __future__ import annotations

import functools
import random
import select
import selectors
import socket
import ssl
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from newsletter.config import Settings
from newsletter.models import Recipient, SendResult
from newsletter.sending.delivery.base import Backend, Feed, Pace, Unit
from newsletter.sending.delivery.smtp.engine import Engine
from newsletter.sending.delivery.smtp.governor import Governor
from newsletter.sending.delivery.smtp.handshake import Login
from newsletter.sending.delivery.smtp.link import Link
from newsletter.sending.delivery.smtp.tls import client_context, tls_failure
from newsletter.sending.mime.dkim_keys import signer_for
from newsletter.sending.mime.message import MessageTemplate

SWITCH_INTERVAL = 0.001  # seconds: Python's GIL switch interval while the engine runs
IDLE_MOST = 60.0  # seconds a connection kept between runs may stay idle (Postfix allows 300)


@functools.cache
def helo_name() -> str:
    """Our name in EHLO: this host's fully qualified name, else an address literal (as smtplib)."""
    fqdn = socket.getfqdn()
    if "." in fqdn:
        return fqdn
    try:
        return f"[{socket.gethostbyname(socket.gethostname())}]"
    except OSError:
        return "[127.0.0.1]"


class SMTPBackend(Backend):
    name = "smtp"
    unit_size = 1  # a unit is one message
    lanes = 1  # one thread drives every connection
    records_inline = True  # ... and commits its notes itself (see Backend)

    def __init__(self, settings: Settings, **retry: Any):
        super().__init__(**retry)
        self.settings = settings
        self.dkim = signer_for(settings)  # ConfigError (a bad key) before anything is sent
        self.units_at_once = settings.smtp_connections
        self.host = settings.smtp_host
        self.where = f"{settings.smtp_host}:{settings.smtp_port}"
        self.login = Login(
            helo=helo_name(),
            starttls=settings.smtp_security == "starttls",
            username=settings.smtp_username,
            password=settings.smtp_password,
        )
        self.governor = Governor(
            settings.smtp_connections, pause=2 * self.backoff, outage=settings.outage_timeout
        )
        self.ever_connected = False
        self.halted = False  # `halt`: the engine drops its connections
        self.sessions = 0  # open now (the engine keeps it up to date)
        self.peers: list[Pace] | None = None  # learned by the send's other processes, to heed
        self._idle: list[tuple[float, Link]] = []  # (kept since, link)
        self._address: tuple[str, int] | None = None
        self._context: ssl.SSLContext | None = None
        self._lock = threading.Lock()

    # --- for the engine ----------------------------------------------------------------------

    def lane(self, template: MessageTemplate, feed: Feed) -> None:
        # The engine waits for notes the recorder thread commits: with Python's default 5 ms
        # GIL switch interval the recorder may wait that long for its turn while the engine
        # works; 1 ms keeps a note's wait short (measured: 354 to content, p90 15 -> 8 ms).
        self.halted = False
        template.sign_with(self.dkim)  # signed as rendered: before dot-stuffing or BDAT
        switch = sys.getswitchinterval()
        sys.setswitchinterval(min(switch, SWITCH_INTERVAL))
        try:
            Engine(self, template, feed).run()
        finally:
            sys.setswitchinterval(switch)

    def halt(self) -> None:
        self.halted = True  # the flight then wakes the engine (`Feed.watch`)

    def prepare(self, template: MessageTemplate, units: Sequence[Unit]) -> None:
        """DKIM-signed messages are rendered here, in the thread that prepares batches ahead,
        not in the engine's: a signature costs 0.1-0.5 ms, more than the rest of a message's
        sending, and OpenSSL and hashlib let the engine run meanwhile (they release the GIL)."""
        if self.dkim is None:
            return
        template.sign_with(self.dkim)
        for unit in units:
            recipient = unit.recipients[0]
            sender = template.envelope_sender(recipient)
            unit.message = (sender, *template.render_checked(recipient))

    def address(self) -> tuple[str, int]:
        """The relay's socket address, looked up once."""
        if self._address is None:
            s = self.settings
            info = socket.getaddrinfo(s.smtp_host, s.smtp_port, type=socket.SOCK_STREAM)
            host, port = info[0][4][:2]
            self._address = (str(host), int(port))
        return self._address

    def tls_context(self) -> ssl.SSLContext:
        """One client context for every connection (loading the trust store costs ~20 ms)."""
        with self._lock:
            if self._context is None:
                self._context = client_context(self.settings)
            return self._context

    def implicit_tls(self) -> ssl.SSLContext | None:
        return self.tls_context() if self.settings.smtp_security == "tls" else None

    def backoff_for(self, attempt: int) -> float:
        """Seconds before retry number `attempt` (1-based): exponential with jitter."""
        ceiling = min(self.backoff_cap, self.backoff * (2 ** (attempt - 1)))
        return random.uniform(ceiling / 2, ceiling)

    def connected_once(self) -> None:
        self.ever_connected = True

    def take_idle(self) -> list[Link]:
        """The connections kept from the last run that are still fit to use: idle for less
        than `IDLE_MOST` seconds, and with nothing from the server waiting to be read (a
        server that timed out a connection says `421` on its own, or closes it)."""
        with self._lock:
            idle, self._idle = self._idle, []
        now, fit = time.monotonic(), []
        for since, link in idle:
            if now - since < IDLE_MOST and not select.select([link.channel.sock], [], [], 0)[0]:
                fit.append(link)
            else:
                link.close()
        return fit

    def keep_idle(self, link: Link) -> None:
        link.writing = False
        with self._lock:
            self._idle.append((time.monotonic(), link))

    def pace(self) -> Pace:
        """What this process has learned about the relay, for the send's other processes."""
        return self.governor.snapshot(self.sessions, time.monotonic())

    def heed(self, peers: list[Pace]) -> None:
        """From another thread: the engine applies this at its next turn."""
        self.peers = peers

    # --- the lines a person reads --------------------------------------------------------------

    def unreachable_line(self, why: str) -> str:
        return (
            f"cannot connect to SMTP server {self.where}: {why} "
            "(check smtp_host, smtp_port and smtp_security)"
        )

    def refused_sender(self, sender: str, reply: str) -> str:
        return (
            f"SMTP server {self.where} refused the sender {sender}: {reply} "
            "(check sender_address and bounce_address)"
        )

    def tls_problem(self, exc: ssl.SSLError) -> str:
        return tls_failure(exc, self.where, self.settings)

    def outage_line(self, last: str) -> str:
        return (
            f"SMTP server {self.where} refused every message (or connection) for "
            f"{self.settings.outage_timeout:g} s (outage_timeout"
            + (f"; its last answer: {last}" if last else "")
            + "): the send is paused"
        )

    # --- one-off sends and the end -------------------------------------------------------------

    def send(self, template: MessageTemplate, recipients: Sequence[Recipient]) -> list[SendResult]:
        if not recipients:
            return []
        return self.send_in_lanes(template, [Unit([r]) for r in recipients])

    def close(self) -> None:
        """QUIT every idle connection, waiting at most a second for the answers."""
        with self._lock:
            links, self._idle = [link for _, link in self._idle], []
        with selectors.DefaultSelector() as sel:
            for link in links:
                link.session.quit()
                try:
                    link.push()
                    sel.register(link.channel.sock, selectors.EVENT_READ, link)
                except (OSError, ValueError):
                    link.close()
            deadline = time.monotonic() + 1.0
            while sel.get_map() and (left := deadline - time.monotonic()) > 0:
                for key, _ in sel.select(left):
                    sel.unregister(key.fileobj)
                    key.data.close()
        for link in links:
            link.close()
