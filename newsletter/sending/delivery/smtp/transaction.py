"""One message on one connection: its envelope, its bytes, what the server said so far, and the
bytes each way of writing it puts on the wire."""

from __future__ import annotations

from dataclasses import dataclass

from newsletter.sending.delivery.base import Unit
from newsletter.sending.delivery.smtp.outcomes import Outcome


@dataclass(eq=False, slots=True)
class Transaction:
    unit: Unit
    sender: str
    rcpt: str
    data: bytes  # the whole message, CRLF line ends, not dot-stuffed
    dotted: bool = True  # a line of it may begin with a dot (False: known not to)
    noted: bool = False  # the driver's note (handed to the network) is committed
    mail_ok: bool = False
    waiting: bool = False  # DATA got its 354; the content waits for the note
    end: int = -1  # stream offset just past the end of the message, once written
    outcome: Outcome | None = None

    def undeliverable(self, smtputf8: bool) -> str:
        """Why this message cannot go over a connection at all ('' when it can)."""
        if any(c in self.rcpt for c in "\r\n<> ") or "@" not in self.rcpt:
            return f"not a deliverable address: {self.rcpt!r}"
        if self.utf8 and not smtputf8:
            return "the address is not ASCII and the server does not support SMTPUTF8"
        return ""

    @property
    def utf8(self) -> bool:
        return not (self.sender.isascii() and self.rcpt.isascii())

    def mail(self) -> bytes:
        line = f"MAIL FROM:<{self.sender}>" + (" SMTPUTF8" if self.utf8 else "") + "\r\n"
        return line.encode("utf-8")

    def rcpt_to(self) -> bytes:
        return f"RCPT TO:<{self.rcpt}>\r\n".encode()

    def bdat(self) -> bytes:
        """CHUNKING (RFC 3030): the whole message as one last chunk, no dot-stuffing."""
        return b"BDAT %d LAST\r\n" % len(self.data) + self.data

    def stuffed(self) -> bytes:
        """DATA content: dot-stuffed, ending in CRLF . CRLF (bytes.replace is ~20x faster than
        smtplib's regex)."""
        data = self.data
        quoted = b"." + data if data.startswith(b".") else data
        if self.dotted and b"\n." in quoted:  # the scan costs ~1 ns a byte: skipped if known
            quoted = quoted.replace(b"\r\n.", b"\r\n..")
        return quoted + (b".\r\n" if quoted.endswith(b"\r\n") else b"\r\n.\r\n")
