"""All of a worker's SMTP connections driven by one thread, with `selectors`.

Across a network a connection moves about one message per round trip, so speed comes from
many connections at once. A thread per connection spent most of its CPU handing Python's GIL
around (about 1 ms a message, measured); here one thread waits on every socket at once and
does only the work each reply calls for.

Per connection, with PIPELINING: a message's MAIL, RCPT and DATA go out in one write (right
behind the previous message's content); on 250, 250, 354 the message is noted as handed out
(`Feed.note`, one commit for every connection ready in the same turn) and its content
goes out; its final reply comes back with the next message's envelope replies. With CHUNKING
too, the message is noted first and MAIL, RCPT and `BDAT n LAST` with the content are one write.
At most one message per connection is on the network with its answer unread.

Anything unusual (a 4xx, a 421, a lost connection, a server without PIPELINING) goes to the
helper threads (`smtp_helpers`), one message at a time with retries and backoff. A
5xx on RCPT or after the content fails that recipient with the server's words, and the
connection goes on after RSET. A connection lost after a message's content went out but before
its answer leaves that recipient `unknown`. A fatal error (the sender refused, the server gone
for good) first reads the answers still due, then stops the send.
"""

from __future__ import annotations

import contextlib
import selectors
import smtplib
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from queue import SimpleQueue
from typing import TYPE_CHECKING

from newsletter.errors import BackendConfigError
from newsletter.models import FAILED, SENT, UNKNOWN, SendResult
from newsletter.sending.delivery.base import Feed, Stopped, Unit
from newsletter.sending.delivery.smtp_helpers import Helpers, Trouble
from newsletter.sending.delivery.smtp_replies import (
    _reply,
    _Transient,
    bad_address,
    envelope_verdict,
    stuffed,
)
from newsletter.sending.delivery.smtp_wire import Reply, _Conn, _Lost

if TYPE_CHECKING:
    from newsletter.sending.delivery.smtp import SMTPBackend
    from newsletter.sending.mime.message import MessageTemplate


class Loop:
    def __init__(
        self,
        backend: SMTPBackend,
        template: MessageTemplate,
        feed: Feed,
        idle: list[smtplib.SMTP],
    ):
        self.backend, self.template, self.feed = backend, template, feed
        self.timeout = backend.settings.smtp_timeout
        self.slots = backend.settings.smtp_connections
        self.sel = selectors.DefaultSelector()
        self.conns: list[_Conn] = []
        self.spare: list[_Conn] = []  # open and idle
        self.opening = 0
        self.opened: SimpleQueue[smtplib.SMTP | BaseException] = SimpleQueue()
        self.opener: ThreadPoolExecutor | None = None
        self.to_note: list[_Conn] = []
        self.pending: deque[Unit] = deque()  # taken, waiting for a connection
        self.trouble = Trouble()
        self.helpers = Helpers(backend, template, feed, self.trouble)
        self.draining = False
        self.no_more = False
        self.kept: list[smtplib.SMTP] = []
        for smtp in idle:
            self._adopt(smtp)

    # --- connections -------------------------------------------------------------------------

    def _adopt(self, smtp: smtplib.SMTP) -> None:
        if smtp.sock is None:
            return
        conn = _Conn(smtp, smtp.sock, smtp.has_extn("pipelining"), smtp.has_extn("chunking"))
        if not conn.pipelining:  # lockstep servers: the helper threads, one message each
            self.helpers.adopt(smtp)
            self.slots = 0
            return
        smtp.sock.setblocking(False)
        self.sel.register(smtp.sock, selectors.EVENT_READ, conn)
        self.conns.append(conn)
        self.spare.append(conn)

    def _open_more(self, wanted: int) -> None:
        room = self.slots - len(self.conns) - self.opening
        for _ in range(min(wanted, room)):
            if self.opener is None:
                self.opener = ThreadPoolExecutor(
                    max_workers=self.slots, thread_name_prefix="smtp-open"
                )
            self.opening += 1
            future = self.opener.submit(self.backend._open)
            future.add_done_callback(self._opened)

    def _opened(self, future: Future[smtplib.SMTP]) -> None:
        exc = future.exception()
        self.opened.put(exc if exc is not None else future.result())

    def _take_opened(self) -> None:
        while not self.opened.empty():
            got = self.opened.get()
            self.opening -= 1
            if isinstance(got, BackendConfigError):
                self.trouble.set(got)
            elif isinstance(got, BaseException):
                self.slots = max(len(self.conns) + self.opening, 0)  # the server takes no more
            else:
                self._adopt(got)

    def _drop(self, conn: _Conn) -> None:
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.sel.unregister(conn.sock)
        self.backend._drop(conn.smtp)
        with contextlib.suppress(ValueError):
            self.conns.remove(conn)
        with contextlib.suppress(ValueError):
            self.spare.remove(conn)
        with contextlib.suppress(ValueError):
            self.to_note.remove(conn)

    def _lost(self, conn: _Conn, why: str) -> None:
        """The connection broke: its message on the network is in doubt, the one whose envelope
        was out is retried on a helper thread."""
        if conn.sent is not None and conn.unsent:  # its end never left: not delivered
            reason = f"connection lost while the message was sent: {why}"
            self.helpers.deliver(conn.sent, conn.sent_data, 2, reason)
        elif conn.sent is not None:
            detail = f"connection lost after the message was sent: {why}"
            self._done(conn.sent, UNKNOWN, detail)
        if conn.unit is not None and conn.unit is not conn.sent and not self.draining:
            self.helpers.deliver(conn.unit, conn.data, 1, f"connection lost: {why}")
        conn.sent = conn.unit = None
        conn.expect.clear()
        self._drop(conn)

    # --- writing and reading -----------------------------------------------------------------

    def _write(
        self,
        conn: _Conn,
        data: bytes,
        *handlers: Callable[[Reply], None],
        content: bool = False,
    ) -> None:
        """Queue `data` (with `content`, the end of the message in `conn.sent`) and the handlers
        of the replies it asks for, and write what the socket takes now."""
        conn.out += data
        if content:
            conn.unsent = len(conn.out)
        conn.expect.extend(handlers)
        conn.deadline = time.monotonic() + self.timeout
        self._flush(conn)

    def _flush(self, conn: _Conn) -> None:
        more = conn.flush()
        self.sel.modify(conn.sock, selectors.EVENT_READ | (selectors.EVENT_WRITE * more), conn)

    def _read(self, conn: _Conn) -> None:
        for reply in conn.receive():
            if not conn.expect:
                raise _Lost(f"a reply nothing asked for: {_reply(*reply)}")
            conn.expect.popleft()(reply)
            conn.deadline = time.monotonic() + self.timeout
            if conn not in self.conns:
                return
        if not conn.expect and conn.closing:
            self._drop(conn)

    # --- one message -------------------------------------------------------------------------

    def _start(self, conn: _Conn, unit: Unit | None) -> None:
        """Put `unit`'s envelope on `conn` (with CHUNKING: ask for its note first); a unit
        refused before anything goes out is failed at once and the next one taken."""
        while unit is not None:
            recipient = unit.recipients[0]
            sender = self.template.envelope_sender(recipient)
            bad = bad_address(recipient.email)
            commands = (
                "FAILED:" + bad
                if bad
                else self.backend.envelope(conn.smtp, sender, recipient.email)
            )
            if not isinstance(commands, str):
                break
            self._done(unit, FAILED, commands[7:])
            unit = self.pending.popleft() if self.pending else self.feed.take(block=False)
        else:
            if conn not in self.spare:
                self.spare.append(conn)
            return
        conn.unit, conn.data, conn.replies = unit, self.template.render(recipient), []
        if conn.chunking:
            self.to_note.append(conn)
            return
        wire = "".join(c + "\r\n" for c in commands).encode(conn.smtp.command_encoding)
        self._write(conn, wire, *(self._envelope_reply(conn),) * 3)

    def _envelope_reply(self, conn: _Conn) -> Callable[[Reply], None]:
        def on_reply(reply: Reply) -> None:
            conn.replies.append(reply)
            if len(conn.replies) == 3:
                self._judge_envelope(conn)

        return on_reply

    def _judge_envelope(self, conn: _Conn) -> None:
        unit, replies = conn.unit, conn.replies
        if unit is None:  # abandoned while stopping
            return
        verdict, code, text = envelope_verdict(replies)
        last = replies[2][0]
        if verdict == "ok" and conn.chunking:  # the content went with the envelope
            conn.unit = None
            self._final(conn, unit, conn.data, replies[2])
            return
        if verdict == "ok" and last == 354 and not conn.closing:
            self.to_note.append(conn)
            return
        conn.unit = conn.sent = None
        if verdict == "closing" or conn.closing:
            why = _reply(code, text) if verdict == "closing" else "421 closing"
            self.helpers.deliver(unit, conn.data, 2, why)
            conn.closing = True
            return
        if last == 354:  # DATA was accepted anyway: end an empty message
            self._write(conn, b".\r\n", _ignore)
        self._write(conn, b"RSET\r\n", _ignore)
        if verdict == "retry":
            self.helpers.deliver(unit, conn.data, 2, _reply(code, text))
        elif verdict == "sender":  # the unit stays taken and unhanded: back to the queue
            sender = self.template.envelope_sender(unit.recipients[0])
            self.trouble.set(BackendConfigError(self.backend.refused_sender(sender, code, text)))
        else:
            self._done(unit, FAILED, _reply(code, text))
        self._next(conn)

    def _send_content(self, conn: _Conn) -> None:
        """`conn.unit` is noted as handed out: its content goes out (then the next envelope)."""
        unit, data = conn.unit, conn.data
        assert unit is not None
        conn.unit = None
        if conn.chunking:
            recipient = unit.recipients[0]
            sender = self.template.envelope_sender(recipient)
            commands = self.backend.envelope(conn.smtp, sender, recipient.email)
            assert not isinstance(commands, str)
            head = "".join(c + "\r\n" for c in commands[:2]).encode(conn.smtp.command_encoding)
            conn.unit, conn.data, conn.replies = unit, data, []
            on = self._envelope_reply(conn)
            conn.sent, conn.sent_data = unit, data  # out with the envelope
            bdat = head + b"BDAT %d LAST\r\n" % len(data) + data
            self._write(conn, bdat, on, on, on, content=True)
            return
        conn.sent, conn.sent_data = unit, data
        self._write(conn, stuffed(data), self._final_reply(conn), content=True)
        self._next(conn)

    def _final_reply(self, conn: _Conn) -> Callable[[Reply], None]:
        def on_reply(reply: Reply) -> None:
            unit, data = conn.sent, conn.sent_data
            conn.sent = None
            assert unit is not None
            self._final(conn, unit, data, reply)

        return on_reply

    def _final(self, conn: _Conn, unit: Unit, data: bytes, reply: Reply) -> None:
        conn.sent = None
        try:
            outcome = self.backend.judge_final(*reply)
        except _Transient as exc:
            if exc.connection_lost:
                conn.closing = True
            self.helpers.deliver(unit, data, 2, str(exc))
        else:
            if outcome.startswith("FAILED:"):
                self._done(unit, FAILED, outcome[7:])
            else:
                self._done(unit, SENT, outcome)
        if conn.chunking:
            self._next(conn)

    def _next(self, conn: _Conn) -> None:
        """Start the next message on `conn`, or leave it spare."""
        if conn.closing or conn.unit is not None:
            return
        unit = None
        if not self.draining:
            unit = self.pending.popleft() if self.pending else self.feed.take(block=False)
        self._start(conn, unit)

    # --- results and the helper threads ------------------------------------------------------

    def _done(self, unit: Unit, status: str, detail: str) -> None:
        self.feed.done(unit, [SendResult(unit.recipients[0].subscriber_id, status, detail)])

    # --- the loop ----------------------------------------------------------------------------

    def run(self) -> None:
        """Deliver the feed's units; `kept` then holds the connections left open and idle.
        Raises what stopped the send, once every answer still due has been read."""
        try:
            if self.slots:
                self._run()
            else:
                self.helpers.lockstep()
        finally:
            lockstep = self.helpers.close()
            if self.opener is not None:
                self.opener.shutdown(wait=True)
                self._take_opened()
            keep = [c for c in self.conns if not c.busy and not c.closing and not c.inbuf]
            for conn in [c for c in self.conns if c not in keep]:
                self._drop(conn)
            for conn in keep:
                self.sel.unregister(conn.sock)
                conn.sock.settimeout(self.timeout)
            self.sel.close()
            self.kept = [c.smtp for c in keep] + lockstep
        if self.trouble.error is not None:
            raise self.trouble.error

    def _run(self) -> None:
        while True:
            self._take_opened()
            if not (self.slots or self.conns or self.opening or self.draining):
                while self.pending:  # no connection here can pipeline: helper threads
                    self.helpers.deliver(self.pending.popleft(), None, 1, "")
                self.helpers.lockstep()
                return
            if self.trouble.error is not None and not self.draining:
                self._drain()
            self._fill()
            if self.to_note:
                self._note()
                continue
            under_way = self.pending or any(c.busy for c in self.conns) or self.opening
            if self.draining and not self.conns and self.helpers.idle():
                return
            if not under_way and self.helpers.idle() and not self.draining:
                if self.no_more:
                    return
                unit = self.feed.take()  # nothing under way: wait for work or the end
                if unit is None:
                    self.no_more = True
                    continue
                self.pending.append(unit)
                continue
            self._wait()

    def _drain(self) -> None:
        """Stopping: take nothing more; a connection with a message on the network waits for
        its answer, the others close (what they had not sent goes back to the queue)."""
        self.draining = True
        self.pending.clear()  # taken, never handed out: Flight puts them back in the queue
        for conn in self.to_note:
            conn.unit = None
        self.to_note = []
        for conn in list(self.conns):
            if conn.sent is None:
                conn.unit = None
                self._drop(conn)

    def _fill(self) -> None:
        """Give spare connections work; open more while work waits for a connection."""
        if self.draining:
            return
        while self.spare:
            unit = self.pending.popleft() if self.pending else self.feed.take(block=False)
            if unit is None:
                break
            self._start(self.spare.pop(), unit)
        if not self.spare and len(self.conns) + self.opening < self.slots:
            if not self.pending and (unit := self.feed.take(block=False)) is not None:
                self.pending.append(unit)
            if self.pending:
                self._open_more(self.slots)
        if self.pending and not self.conns and not self.opening:  # no connection to be had
            while self.pending:
                self.helpers.deliver(self.pending.popleft(), None, 1, "")

    def _note(self) -> None:
        """Note every connection's unit waiting to go out, in one commit, then send them. (The
        loop waits for the commit: serving other sockets meanwhile measured no faster.)"""
        ready, self.to_note = self.to_note, []
        self.feed.note([c.unit for c in ready if c.unit]).wait()
        for conn in ready:
            if conn not in self.conns or conn.unit is None:
                continue
            if not conn.unit.handed:  # the send is stopping: it stays unsent
                self.trouble.set(Stopped("the send is stopping"))
                conn.unit, conn.closing = None, True
                continue
            try:
                self._send_content(conn)
            except _Lost as exc:
                self._lost(conn, str(exc))

    def _wait(self) -> None:
        now = time.monotonic()
        due = [c.deadline for c in self.conns if c.expect]
        timeout = 0.05 if not due else max(0.0, min(min(due) - now, 0.05))
        if not self.conns:
            time.sleep(0.001 if self.opening else 0.005)
        for key, events in self.sel.select(timeout) if self.conns else ():
            conn: _Conn = key.data
            if conn not in self.conns:
                continue
            try:
                if events & selectors.EVENT_WRITE:
                    self._flush(conn)
                if events & selectors.EVENT_READ:
                    self._read(conn)
            except _Lost as exc:
                self._lost(conn, str(exc))
        now = time.monotonic()
        for conn in [c for c in self.conns if c.expect and c.deadline < now]:
            self._lost(conn, f"no answer in {self.timeout:g} s")
        for conn in [c for c in self.conns if c.closing and not c.expect]:
            self._drop(conn)
        if self.draining:
            for conn in [c for c in self.conns if c.sent is None]:
                conn.unit = None
                self._drop(conn)


def _ignore(_reply: Reply) -> None:
    """A reply that changes nothing (to RSET, or to an empty message's end)."""
