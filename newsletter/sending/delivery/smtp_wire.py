"""One SMTP connection as the loop (`smtp_loop`) sees it: a non-blocking socket, what is still
to be written, the replies read so far, and what each expected reply is for."""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from newsletter.sending.delivery.base import Unit

Reply = tuple[int, bytes]
_WANT = (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError)


class _Lost(Exception):
    """The connection broke or stopped making sense."""


@dataclass(eq=False)
class _Conn:
    smtp: smtplib.SMTP
    sock: socket.socket
    pipelining: bool
    chunking: bool
    inbuf: bytearray = field(default_factory=bytearray)
    out: bytearray = field(default_factory=bytearray)
    lines: list[bytes] = field(default_factory=list)  # of a multi-line reply being read
    expect: deque[Callable[[Reply], None]] = field(default_factory=deque)
    unit: Unit | None = None  # its envelope is out, its content is not
    data: bytes = b""
    sent: Unit | None = None  # its content is out, its final reply unread
    sent_data: bytes = b""
    unsent: int = 0  # bytes of `sent` still in `out`: while any are, it cannot have arrived
    replies: list[Reply] = field(default_factory=list)
    closing: bool = False  # drop once nothing more is due
    deadline: float = 0.0

    @property
    def busy(self) -> bool:
        return bool(self.unit or self.sent or self.expect)

    def flush(self) -> bool:
        """Write what the socket takes now; True if some is left for later."""
        try:
            while self.out:
                n = self.sock.send(self.out)
                del self.out[:n]
                self.unsent = max(0, self.unsent - n)
        except _WANT:
            pass
        except OSError as exc:
            raise _Lost(str(exc) or type(exc).__name__) from None
        return bool(self.out)

    def receive(self) -> list[Reply]:
        """Read what has arrived; the complete replies in it (multi-line ones joined)."""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise _Lost("the server closed the connection")
                self.inbuf += chunk
                if not (isinstance(self.sock, ssl.SSLSocket) and self.sock.pending()):
                    break
        except _WANT:
            pass
        except OSError as exc:
            raise _Lost(str(exc) or type(exc).__name__) from None
        replies = []
        while (end := self.inbuf.find(b"\n")) >= 0:
            line = bytes(self.inbuf[:end]).rstrip(b"\r")
            del self.inbuf[: end + 1]
            if len(line) < 3 or not line[:3].isdigit():
                raise _Lost(f"not an SMTP reply: {line[:80]!r}")
            self.lines.append(line[4:].strip())
            if line[3:4] != b"-":
                replies.append((int(line[:3]), b"\n".join(self.lines)))
                self.lines = []
        return replies
