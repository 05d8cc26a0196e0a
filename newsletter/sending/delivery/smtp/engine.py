"""The loop: one thread, one `selectors` selector, every connection of a backend.

It takes units from the feed, renders each message once, and starts it on a session that has
room (`Session.can_begin`), at the pace the governor allows; opens connections while work
waits; hands sessions the bytes that arrive and writes what they answer; asks the feed to note
a message before its end may leave, and writes the end once the note is committed; turns each
settled message into the feed's result, or retries it later (a timer: the retry heap), or gives
it back. Nothing blocks: connects, TLS handshakes and notes all come back as events, and other
threads (the recorder committing a note, the batch loop adding units) wake the selector through
a socket pair. The select waits until the next timer, never more than `SWEEP` seconds, when
answers overdue (`smtp_timeout`) lose their connection.

Stopping (the feed stops, a fatal error, the outage limit): nothing new starts; a message whose
end is out waits for its answer; one whose envelope only is out loses its connection (it was not
delivered); units waiting or due for a retry go back to the feed.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import math
import selectors
import socket
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from newsletter.errors import BackendConfigError, RelayOutage
from newsletter.models import FAILED, SENT, UNKNOWN, SendResult
from newsletter.sending.delivery.base import Feed, Unit
from newsletter.sending.delivery.smtp.channel import Closed
from newsletter.sending.delivery.smtp.events import (
    Event,
    Fatal,
    NoteWanted,
    Ready,
    Refused,
    Settled,
    StartTLS,
)
from newsletter.sending.delivery.smtp.governor import Governor
from newsletter.sending.delivery.smtp.link import Link
from newsletter.sending.delivery.smtp.outcomes import Outcome, Verdict
from newsletter.sending.delivery.smtp.replies import ProtocolError
from newsletter.sending.delivery.smtp.session import Phase
from newsletter.sending.delivery.smtp.transaction import Transaction, undeliverable

if TYPE_CHECKING:
    from newsletter.sending.delivery.smtp.backend import SMTPBackend
    from newsletter.sending.mime.message import MessageTemplate

SWEEP = 0.25  # seconds between looks at overdue answers and the outage limit
_READ, _WRITE = selectors.EVENT_READ, selectors.EVENT_READ | selectors.EVENT_WRITE


@dataclass(eq=False, slots=True)
class Job:
    unit: Unit
    sender: str
    data: bytes
    attempts: int = 0  # failed attempts (throttling replies do not count)
    probe: bool = False


class Engine:
    def __init__(self, backend: SMTPBackend, template: MessageTemplate, feed: Feed):
        self.backend, self.template, self.feed = backend, template, feed
        self.governor: Governor = backend.governor
        self.timeout = backend.settings.smtp_timeout
        self.sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.sel.register(self._wake_r, _READ, None)
        self.links: list[Link] = []
        self.free: deque[Link] = deque()  # ready links that may have room for a message
        self.waiting: deque[Job] = deque()  # taken or due, not started
        self.retries: list[tuple[float, int, Job]] = []  # (due, tie, job)
        self.jobs: dict[Unit, Job] = {}  # on a connection
        self.to_note: list[tuple[Link, Transaction]] = []
        self.notes: list[tuple[threading.Event, list[tuple[Link, Transaction]]]] = []
        self.error: BaseException | None = None
        self.last_refusal = ""  # the relay's last throttling reply, for the outage line
        self.draining = False
        self.connect_failures = 0
        self._open_after = 0.0
        self._tie = itertools.count()
        self._swept = 0.0
        self._held_until = math.inf  # the governor holds new messages until then
        for link in backend.take_idle():
            self._adopt(link)
        feed.watch(self.wake)

    def wake(self) -> None:
        """From any thread: the feed has news (units, notes committed, a stop)."""
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    # --- the loop ------------------------------------------------------------------------------

    def run(self) -> None:
        """Deliver the feed's units; idle connections go back to the backend. Raises what
        stopped the send, once every answer still due has been read."""
        try:
            while True:
                now = time.monotonic()
                self._stop_if_needed(now)
                self._notes_done()
                if not self.draining:
                    self._schedule(now)
                if self._ask_notes():
                    continue  # committed at once (a feed outside the batch loop)
                if self._finished():
                    break
                self._select(now)
        finally:
            self.feed.watch(None)
            for link in list(self.links):
                if link.idle and not self.error:
                    self.sel.unregister(link.channel.sock)
                    self.backend.keep_idle(link)
                else:
                    self._close(link)
            self.sel.close()
            self._wake_r.close()
            self._wake_w.close()
        if self.error is not None:
            raise self.error

    def _finished(self) -> bool:
        if self.notes or any(link.session.txns for link in self.links):
            return False
        if self.draining:
            return True
        return not (self.waiting or self.retries) and self.feed.ended()

    def _select(self, now: float) -> None:
        timeout = min(SWEEP, self._held_until - now)
        if self.retries:
            timeout = min(timeout, self.retries[0][0] - now)
        if self.waiting and not self.draining:
            timeout = min(timeout, self.governor.start_at(now) - now)
        for key, mask in self.sel.select(max(0.0, timeout)):
            link: Link | None = key.data
            if link is None:
                with contextlib.suppress(OSError):
                    self._wake_r.recv(4096)
            elif link in self.links:
                self._serve(link, mask, time.monotonic())
        now = time.monotonic()
        if now - self._swept >= SWEEP:
            self._swept = now
            for link in [x for x in self.links if x.waiting and x.deadline < now]:
                self._lost(link, f"no answer in {self.timeout:g} s", now)

    def _stop_if_needed(self, now: float) -> None:
        if self.backend.peers is not None:
            peers, self.backend.peers = self.backend.peers, None
            self.governor.heed(peers, now)
        if self.draining:
            return
        if self.governor.outage_over(now):
            self._fail(RelayOutage(self.backend.outage_line(self.last_refusal)))
        elif self.error is not None or self.feed.stopping():
            self._drain()

    # --- units to messages ---------------------------------------------------------------------

    def _schedule(self, now: float) -> None:
        self._held_until = math.inf
        while self.retries and self.retries[0][0] <= now:
            self.waiting.append(heapq.heappop(self.retries)[2])
        while self.free:
            if (at := self.governor.start_at(now)) > now:
                self._held_until = at  # the select wakes up for it
                return
            link = self.free[0]
            if link not in self.links or not link.session.can_begin():
                self.free.popleft()
                continue
            job = self._next_job()
            if job is None:
                return
            self._begin(link, job, now)
        if self._next_job(peek=True) and self.governor.start_at(now) <= now:
            self._open_more(now)

    def _next_job(self, peek: bool = False) -> Job | None:
        if not self.waiting:
            unit = self.feed.take(block=False)
            if unit is None:
                return None
            recipient = unit.recipients[0]
            sender = self.template.envelope_sender(recipient)
            self.waiting.append(Job(unit, sender, self.template.render(recipient)))
        return self.waiting[0] if peek else self.waiting.popleft()

    def _begin(self, link: Link, job: Job, now: float) -> None:
        rcpt = job.unit.recipients[0].email
        txn = Transaction(job.unit, job.sender, rcpt, job.data)
        problem = undeliverable(rcpt)
        if not problem and txn.utf8 and not link.session.smtputf8:
            problem = "the address is not ASCII and the server does not support SMTPUTF8"
        if problem:
            self._done(job, FAILED, problem)
            return
        job.probe = self.governor.started(now)
        self.jobs[job.unit] = job
        if link.session.begin(txn):
            self.to_note.append((link, txn))
        if not link.session.can_begin():
            self.free.popleft()
        self._push(link)

    def _ask_notes(self) -> bool:
        """Ask the feed to note the messages waiting for it; True if it did so at once."""
        if not self.to_note:
            return False
        batch, self.to_note = self.to_note, []
        ready = self.feed.note([txn.unit for _, txn in batch])
        self.notes.append((ready, batch))
        return ready.is_set()

    def _notes_done(self) -> None:
        """Notes committed (or refused: the send stops): each message's end may now leave."""
        if not self.notes:
            return
        pending = []
        for ready, batch in self.notes:
            if not ready.is_set():
                pending.append((ready, batch))
                continue
            for link, txn in batch:
                if link in self.links and txn.outcome is None:
                    handed = txn.unit.handed and not self.draining
                    self._handle(link, link.session.noted(txn, handed), time.monotonic())
                    self._push(link)
        self.notes = pending

    # --- outcomes ------------------------------------------------------------------------------

    def _settled(self, txn: Transaction, outcome: Outcome, now: float) -> None:
        job = self.jobs.pop(txn.unit)
        verdict, detail, governor = outcome.verdict, outcome.detail, self.governor
        if verdict is Verdict.SENT:
            governor.accepted(now, job.probe)
            self._done(job, SENT, detail)
        elif verdict is Verdict.THROTTLED:
            governor.throttled(now, job.probe)
            self.last_refusal = detail
            self._again(job, now, detail)
        else:
            governor.other(job.probe)
            if verdict is Verdict.REFUSED:
                self._done(job, FAILED, detail)
            elif verdict is Verdict.IN_DOUBT:
                self._done(job, UNKNOWN, detail)
            elif verdict is Verdict.SENDER_REFUSED:
                self._fail(BackendConfigError(self.backend.refused_sender(job.sender, detail)))
                self._again(job, now, detail)
            else:
                job.attempts += 1
                if job.attempts >= self.backend.max_attempts:
                    self._done(job, FAILED, f"gave up after {job.attempts} attempts: {detail}")
                else:
                    self._again(job, now + self.backend.backoff_for(job.attempts), detail)

    def _again(self, job: Job, due: float, _why: str) -> None:
        """Not delivered: its note (if any) is dropped; retried at `due`, or given back when
        the send stops."""
        if job.unit.handed:
            self.feed.unnote([job.unit])
        if self.draining:
            self.feed.give_back(job.unit)
        else:
            heapq.heappush(self.retries, (due, next(self._tie), job))

    def _done(self, job: Job, status: str, detail: str) -> None:
        self.feed.done(job.unit, [SendResult(job.unit.recipients[0].subscriber_id, status, detail)])

    def _fail(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error
        self._drain()

    def _drain(self) -> None:
        """Start nothing new; give back what waits; drop connections whose message has its
        envelope out but not its end (it cannot have been delivered)."""
        if self.draining:
            return
        self.draining = True
        now = time.monotonic()
        for job in [*self.waiting, *(job for _, _, job in self.retries)]:
            self.feed.give_back(job.unit)
        self.waiting.clear()
        self.retries.clear()
        for link in list(self.links):
            if any(txn.end < 0 for txn in link.session.txns):
                self._lost(link, "the send is stopping", now)

    # --- connections ---------------------------------------------------------------------------

    def _open_more(self, now: float) -> None:
        opening = sum(1 for link in self.links if not link.greeted)
        while now >= self._open_after and self.governor.may_open(len(self.links), opening, now):
            try:
                link = Link(self.backend.address(), self.backend.login, now + self.timeout)
            except (Closed, OSError) as exc:
                self._connect_failed(str(exc), now)
                return
            self.links.append(link)
            self.sel.register(link.channel.sock, _WRITE, link)
            self.backend.sessions = len(self.links)
            opening += 1

    def _adopt(self, link: Link) -> None:
        link.writing = False
        self.links.append(link)
        self.backend.sessions = len(self.links)
        self.sel.register(link.channel.sock, _READ, link)
        self.free.append(link)

    def _serve(self, link: Link, mask: int, now: float) -> None:
        try:
            if link.connecting:
                if not mask & selectors.EVENT_WRITE:
                    return
                link.connected(self.backend.implicit_tls(), self.backend.host)
            elif mask & selectors.EVENT_READ:
                events = link.readable()
                link.deadline = now + self.timeout
                self._handle(link, events, now)
            if link in self.links:
                self._push(link)
        except (Closed, ProtocolError) as exc:
            self._lost(link, str(exc), now)
        except ssl.SSLError as exc:  # a handshake that failed: a setting or the certificate
            self._fail(BackendConfigError(self.backend.tls_problem(exc)))
            self._lost(link, f"TLS: {exc}", now)

    def _handle(self, link: Link, events: list[Event], now: float) -> None:
        for event in events:
            if isinstance(event, Settled):
                if event.outcome.verdict is Verdict.THROTTLED:
                    link.session.retire()  # a fresh session will take its place
                self._settled(event.txn, event.outcome, now)
            elif isinstance(event, NoteWanted):
                self.to_note.append((link, event.txn))
            elif isinstance(event, Ready):
                link.greeted = True
                self.connect_failures = 0
                self.backend.connected_once()
                self.governor.greeted(now)
            elif isinstance(event, Refused):  # a relay at its connection limit: not a failure
                self.last_refusal = str(event.reply)
                self.governor.refused(sum(1 for x in self.links if x.greeted), now)
                self._lost(link, str(event.reply), now, refused=True)
                return
            elif isinstance(event, Fatal):
                self._fail(BackendConfigError(f"SMTP server {self.backend.where} {event.problem}"))
            elif isinstance(event, StartTLS):
                link.channel.start_tls(self.backend.tls_context(), self.backend.host)
        if link in self.links and link.session.can_begin() and link not in self.free:
            self.free.append(link)

    def _push(self, link: Link) -> None:
        try:
            more = link.push()
        except Closed as exc:
            self._lost(link, str(exc), time.monotonic())
            return
        if link.session.phase is Phase.CLOSING and not more and not link.waiting:
            self._close(link)
        elif more != link.writing:
            link.writing = more
            self.sel.modify(link.channel.sock, _WRITE if more else _READ, link)

    def _lost(self, link: Link, why: str, now: float, refused: bool = False) -> None:
        if link not in self.links:
            return
        self._close(link)
        if not link.greeted and not refused:
            self._connect_failed(why, now)
        self._handle(link, link.session.lost(link.channel.left, why), now)

    def _connect_failed(self, why: str, now: float) -> None:
        if not self.backend.ever_connected:
            self._fail(BackendConfigError(self.backend.unreachable_line(why)))
            return
        self.connect_failures += 1
        self._open_after = now + self.backend.backoff_for(self.connect_failures)
        if self.connect_failures >= self.backend.max_attempts and not any(
            x.greeted for x in self.links
        ):
            self._fail(BackendConfigError(f"SMTP server {self.backend.where} went away: {why}"))

    def _close(self, link: Link) -> None:
        if link in self.links:
            self.links.remove(link)
            self.sel.unregister(link.channel.sock)
            self.backend.sessions = len(self.links)
        link.close()
