"""The loop: one thread, one selector, every connection of a backend.

It starts each unit's message on a session with room (`Session.can_begin`), at the pace the
governor allows; opens connections while work waits; hands sessions the bytes that arrive and
writes what they answer; asks the feed to note a message before its end may leave, and writes
the end once the note is committed; gives each settled message to `jobs` (a result, a retry
timer, or back to the feed). Nothing blocks: connects, TLS handshakes and notes come back as
events, and other threads wake the selector (`wakeable`). The select waits until the next
timer, at most `SWEEP` seconds, when answers overdue (`smtp_timeout`) lose their connection.

Stopping (the feed stops, a fatal error, the outage limit): nothing new starts; a message whose
end is out waits for its answer; one whose envelope only is out loses its connection (it was not
delivered); units waiting or due for a retry go back to the feed.
"""

from __future__ import annotations

import math
import ssl
import time
from collections import deque
from typing import TYPE_CHECKING

from newsletter.errors import BackendConfigError, RelayOutage
from newsletter.models import FAILED
from newsletter.sending.delivery.base import Feed
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
from newsletter.sending.delivery.smtp.handshake import Phase
from newsletter.sending.delivery.smtp.jobs import Job, Jobs
from newsletter.sending.delivery.smtp.link import Link
from newsletter.sending.delivery.smtp.notes import Notes
from newsletter.sending.delivery.smtp.outcomes import Verdict
from newsletter.sending.delivery.smtp.replies import ProtocolError
from newsletter.sending.delivery.smtp.transaction import Transaction
from newsletter.sending.delivery.smtp.wakeable import READ, WRITE, Wakeable

if TYPE_CHECKING:
    from newsletter.sending.delivery.smtp.backend import SMTPBackend
    from newsletter.sending.mime.message import MessageTemplate

SWEEP = 0.25  # seconds between looks at overdue answers and the outage limit


class Engine:
    def __init__(self, backend: SMTPBackend, template: MessageTemplate, feed: Feed):
        self.backend, self.template, self.feed = backend, template, feed
        self.governor: Governor = backend.governor
        self.timeout = backend.settings.smtp_timeout
        self.sel = Wakeable()
        self.links: list[Link] = []
        self.free: deque[Link] = deque()  # ready links that may have room for a message
        self.jobs = Jobs(backend, template, feed, self._fail)
        self.notes = Notes(feed)
        self.error: BaseException | None = None
        self.draining = False
        self._swept = 0.0
        self._held_until = math.inf  # the governor holds new messages until then
        self.reply_time = math.inf  # the server's quickest EHLO answer seen so far
        for link in backend.take_idle():
            self._add(link)
        feed.watch(self.sel.wake)  # the feed has news: units, notes committed, a stop

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
                if self.notes.ask(self.jobs.finished):
                    continue  # committed at once (a feed outside the batch loop)
                if self._finished():
                    break
                self._select(now)
        finally:
            if self.jobs.finished:  # results of the last turn
                self.feed.report(self.jobs.finished, [])
            self.feed.watch(None)
            for link in list(self.links):
                if link.idle and not self.error:
                    self.sel.forget(link.channel.sock)
                    self.backend.keep_idle(link)
                else:
                    self._close(link)
            self.sel.close()
        if self.error is not None:
            raise self.error

    def _finished(self) -> bool:
        if self.notes or self.jobs.flying:
            return False
        if self.draining:
            return True
        return self.jobs.idle and self.feed.ended()

    def _select(self, now: float) -> None:
        timeout = min(SWEEP, self._held_until - now, self.jobs.next_due() - now)
        for link, events in self.sel.wait(timeout):
            if link in self.links:
                self._serve(link, events, time.monotonic())
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
            self._fail(RelayOutage(self.backend.outage_line(self.jobs.last_refusal)))
        elif self.error is not None or self.feed.stopping():
            self._drain()

    # --- units to messages ---------------------------------------------------------------------

    def _schedule(self, now: float) -> None:
        self._held_until = math.inf
        while self.free:
            if (at := self.governor.start_at(now)) > now:
                self._held_until = at  # the select wakes up for it
                return
            link = self.free[0]
            if link not in self.links or not link.session.can_begin():
                self.free.popleft()
                continue
            job = self.jobs.next(now)
            if job is None:
                return
            self._begin(link, job, now)
        if len(self.links) < self.governor.cap and self.jobs.next(now, peek=True):
            self._open_more(now)  # work waits and no connection has room

    def _begin(self, link: Link, job: Job, now: float) -> None:
        txn = Transaction(job.unit, job.sender, job.rcpt, job.data, job.dotted)
        if problem := txn.undeliverable(link.session.smtputf8):
            self.jobs.done(job, FAILED, problem)
            return
        self.jobs.start(job, now)
        if link.session.begin(txn):
            self.notes.want(link, txn)
        if not link.session.can_begin():
            self.free.popleft()
        self._push(link)

    def _notes_done(self) -> None:
        """Notes committed (or refused: the send stops): each message's end may now leave."""
        if not self.notes:
            return
        for link, txn in self.notes.answered():
            if txn.outcome is not None or link not in self.links:
                self.jobs.noted_late(txn.unit)
                continue
            handed = txn.unit.handed and not self.draining
            self._handle(link, link.session.noted(txn, handed), time.monotonic())
            self._push(link)

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
        self.jobs.give_back_all()
        for link in list(self.links):
            if any(txn.end < 0 for txn in link.session.txns):
                self._lost(link, "the send is stopping", now)

    # --- connections ---------------------------------------------------------------------------

    def _open_more(self, now: float) -> None:
        opening = sum(1 for link in self.links if link.opening(now, self.reply_time))
        while self.governor.may_open(len(self.links), opening, now):
            try:
                link = Link(self.backend.address(), self.backend.login, now, self.timeout)
            except (Closed, OSError) as exc:
                self._connect_failed(str(exc), now)
                return
            self._add(link)
            opening += 1

    def _add(self, link: Link) -> None:
        """A new connection (watched for the connect), or an idle one kept from before."""
        self.links.append(link)
        self.backend.sessions = len(self.links)
        self.sel.watch(link.channel.sock, link, write=link.writing)
        if link.idle:
            self.free.append(link)

    def _serve(self, link: Link, mask: int, now: float) -> None:
        try:
            if link.connecting:
                if not mask & WRITE:
                    return
                link.connected(self.backend.implicit_tls(), self.backend.host)
            elif mask & READ:
                events = link.readable(now)
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
                self.jobs.settled(event.txn.unit, event.outcome, now)
            elif isinstance(event, NoteWanted):
                self.notes.want(link, event.txn)
            elif isinstance(event, Ready):
                self.reply_time = min(self.reply_time, now - link.since)  # EHLO (TLS, login)
                link.greeted = True
                self.backend.connected_once()
                self.governor.greeted(now)
            elif isinstance(event, Refused):  # a relay at its connection limit: not a failure
                self.jobs.last_refusal = str(event.reply)
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
            self.sel.change(link.channel.sock, link, write=more)

    def _lost(self, link: Link, why: str, now: float, refused: bool = False) -> None:
        if link not in self.links:
            return
        self._close(link)
        if not link.greeted and not refused:
            self._connect_failed(why, now)
        self._handle(link, link.session.lost(link.channel.left, why), now)

    def _connect_failed(self, why: str, now: float) -> None:
        backend = self.backend
        if not backend.ever_connected:
            self._fail(BackendConfigError(backend.unreachable_line(why)))
            return
        failures = self.governor.connect_failed(
            now, backend.backoff_for(self.governor.failures + 1)
        )
        if failures >= backend.max_attempts and not any(x.greeted for x in self.links):
            self._fail(BackendConfigError(f"SMTP server {backend.where} went away: {why}"))

    def _close(self, link: Link) -> None:
        if link in self.links:
            self.links.remove(link)
            self.sel.forget(link.channel.sock)
            self.backend.sessions = len(self.links)
        link.close()
