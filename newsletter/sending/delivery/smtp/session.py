"""One SMTP connection as a state machine that never touches a socket, a clock or a thread
(the h11 way): the driver hands it the bytes that arrived (`receive`) and writes what it has
to say (`take`); it answers with events. The phases and transitions are drawn in the package
docstring; the greeting, TLS and login are `handshake.Handshake`, its base.

Each command queues the kind of the one reply it asks for, so replies are judged in order, one
by one: RCPT counts only when MAIL got a 2xx, the end of the message only when RCPT did; a
message refused anywhere is settled at once, and the replies still due for it are read and
ignored. Under PIPELINING a new message's envelope goes out right behind the previous
message's content; under CHUNKING a message is one write, and waits for the one before it.
"""

from __future__ import annotations

from collections import deque

from newsletter.sending.delivery.smtp.events import Event, NoteWanted, Settled
from newsletter.sending.delivery.smtp.handshake import Handshake, Login, Phase
from newsletter.sending.delivery.smtp.outcomes import Outcome, Verdict, judged, lost
from newsletter.sending.delivery.smtp.replies import ProtocolError, Reply, ReplyReader
from newsletter.sending.delivery.smtp.transaction import Transaction


class Session(Handshake):
    def __init__(self, login: Login):
        super().__init__(login)
        self.reader = ReplyReader()
        self.txns: deque[Transaction] = deque()  # begun, not settled, in order
        self.retiring = False  # no more messages: QUIT once idle
        self._handlers = {  # the kind of reply expected -> what judges it
            kind: getattr(self, "_on_" + kind.lower())
            for kind in (
                "GREETING", "EHLO", "HELO", "STARTTLS", "AUTH",
                "MAIL", "RCPT", "DATA", "END", "IGNORE",
            )
        }  # fmt: skip

    # --- what the driver asks ----------------------------------------------------------------

    def can_begin(self) -> bool:
        """Room for a new message now: an idle connection, or under PIPELINING (without
        CHUNKING) one whose only message has all of its content out."""
        if self.phase is not Phase.READY or self.retiring:
            return False
        if not self.txns:
            return self.pipelining or not self.expect
        return (
            self.pipelining
            and not self.chunking
            and len(self.txns) == 1
            and (self.txns[0].end >= 0)
        )

    def begin(self, txn: Transaction) -> bool:
        """Start `txn`; True when the driver must note it now (its end will follow the note).
        Under plain PIPELINING the note is asked for at the 354 (`NoteWanted`), once the
        message before it is settled."""
        self.txns.append(txn)
        if self.chunking:
            return True
        if self.pipelining:
            self.command(txn.mail() + txn.rcpt_to() + b"DATA\r\n", "MAIL", "RCPT", "DATA", txn=txn)
            return False
        self.command(txn.mail(), "MAIL", txn=txn)
        return True

    def noted(self, txn: Transaction, handed: bool) -> list[Event]:
        """The note of `txn` is committed (`handed`), or the send is stopping (not handed: the
        message must not go; a connection half-way through DATA is given up)."""
        if txn.outcome is not None:
            return []
        if not handed:
            events: list[Event] = []
            self._settle(txn, Outcome(Verdict.RETRY, "the send is stopping"), events)
            if not self.chunking:  # its envelope is out: only closing ends it unsent
                self.phase = Phase.CLOSING
            return events
        txn.noted = True
        if self.chunking:
            self.command(txn.mail() + txn.rcpt_to() + txn.bdat(), "MAIL", "RCPT", "END", txn=txn)
            txn.end = self.queued
        elif txn.waiting:
            self._content(txn)
        return []

    def quit(self) -> None:
        if self.phase is Phase.READY and not self.txns:
            self.command(b"QUIT\r\n", "IGNORE")
        self.phase = Phase.CLOSING

    def retire(self) -> None:
        """Take no more messages, and QUIT once the replies due are read: a relay that
        throttles counts each session's refusals and slows down one that has many (Postfix's
        smtpd_soft_error_limit), so a session it refused gives way to a fresh one."""
        self.retiring = True
        self._quit_if_idle()

    def _quit_if_idle(self) -> None:
        if self.phase is Phase.READY and not self.txns and not self.expect:
            self.quit()

    def lost(self, left: int, why: str) -> list[Event]:
        """The connection is gone; `left`: how far the byte stream may have reached the server."""
        events: list[Event] = []
        for txn in list(self.txns):
            self._settle(txn, lost(txn.end, left, why), events)
        self.phase = Phase.CLOSED
        return events

    # --- replies -----------------------------------------------------------------------------

    def receive(self, data: bytes) -> list[Event]:
        events: list[Event] = []
        for reply in self.reader.feed(data):
            if not self.expect:
                raise ProtocolError(f"a reply nothing asked for: {reply}")
            kind, txn = self.expect.popleft()
            self._handlers[kind](reply, txn, events)
        if self.retiring:
            self._quit_if_idle()
        return events

    def _on_mail(self, reply: Reply, txn: Transaction, events: list[Event]) -> None:
        if txn.outcome is not None:
            return
        if reply.positive:
            txn.mail_ok = True
            if not self.pipelining:
                self.command(txn.rcpt_to(), "RCPT", txn=txn)
            return
        self._refusal(txn, judged(reply, sender=True), reply, events)

    def _on_rcpt(self, reply: Reply, txn: Transaction, events: list[Event]) -> None:
        if txn.outcome is not None:
            return
        if reply.positive:
            if not self.pipelining:
                self.command(b"DATA\r\n", "DATA", txn=txn)
            return
        self._refusal(txn, judged(reply), reply, events)

    def _on_data(self, reply: Reply, txn: Transaction, events: list[Event]) -> None:
        if txn.outcome is not None:
            if reply.code == 354:  # a server that takes DATA with no recipient: end it empty
                self.command(b".\r\n", "IGNORE")
            return
        if reply.code != 354:
            self._refusal(txn, judged(reply), reply, events)
        elif txn.noted:
            self._content(txn)
        else:
            txn.waiting = True
            if self.pipelining:
                events.append(NoteWanted(txn))

    def _on_end(self, reply: Reply, txn: Transaction, events: list[Event]) -> None:
        if txn.outcome is not None:
            return
        if 200 <= reply.code < 300:
            self._settle(txn, Outcome(Verdict.SENT, str(reply)), events)
        else:
            self._refusal(txn, judged(reply), reply, events)

    def _on_ignore(self, reply: Reply, _txn: object, _events: list[Event]) -> None:
        """A reply that changes nothing (to RSET, QUIT, or an empty message's end)."""

    def _refusal(
        self, txn: Transaction, outcome: Outcome, reply: Reply, events: list[Event]
    ) -> None:
        self._settle(txn, outcome, events)
        if reply.code == 421:
            self.phase = Phase.CLOSING  # the server closes: nothing more goes out
        elif self.chunking or (txn.mail_ok and txn.end < 0):
            self.command(b"RSET\r\n", "IGNORE")  # the server's transaction may still be open

    # --- writing -------------------------------------------------------------------------------

    def _content(self, txn: Transaction) -> None:
        txn.waiting = False
        self.command(txn.stuffed(), "END", txn=txn)
        txn.end = self.queued

    def _settle(self, txn: Transaction, outcome: Outcome, events: list[Event]) -> None:
        txn.outcome = outcome
        self.txns.remove(txn)
        events.append(Settled(txn, outcome))
