"""What a session tells its driver, in answer to the bytes it was given."""

from __future__ import annotations

from dataclasses import dataclass

from newsletter.sending.delivery.smtp.outcomes import Outcome
from newsletter.sending.delivery.smtp.replies import Reply
from newsletter.sending.delivery.smtp.transaction import Transaction


@dataclass(frozen=True, slots=True)
class Ready:
    """Greeted, TLS and login done: messages may begin."""


@dataclass(frozen=True, slots=True)
class Refused:
    """The server will not take this connection now (421 at the greeting: its connection limit)."""

    reply: Reply


@dataclass(frozen=True, slots=True)
class Fatal:
    """A setting is wrong (no STARTTLS, login refused): the send stops with `problem`."""

    problem: str


@dataclass(frozen=True, slots=True)
class StartTLS:
    """The server accepted STARTTLS: upgrade the connection, then call `tls_started`."""


@dataclass(frozen=True, slots=True)
class NoteWanted:
    """Note `txn` as handed to the network, then call `noted`: its end must not leave before."""

    txn: Transaction


@dataclass(frozen=True, slots=True)
class Settled:
    txn: Transaction
    outcome: Outcome


Event = Ready | Refused | Fatal | StartTLS | NoteWanted | Settled
