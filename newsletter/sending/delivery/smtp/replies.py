"""SMTP replies: read from the byte stream with bounds, and what their codes mean.

A reply is a three-digit code and its text; a multi-line reply (`250-...` lines, then `250 ...`)
arrives whole. The reader keeps at most one line of at most `MAX_LINE` bytes and `MAX_LINES`
lines of one reply: a server that sends more, or a line that is no reply, breaks the
connection (`ProtocolError`), never the client's memory.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_LINE = 8192  # bytes of one reply line, CRLF included (RFC 5321 asks for 512)
MAX_LINES = 100  # lines of one multi-line reply (an EHLO answer has about a dozen)


class ProtocolError(Exception):
    """The server sent something no SMTP server sends: the connection cannot go on."""


@dataclass(frozen=True, slots=True)
class Reply:
    code: int
    text: str  # the lines' texts joined by newlines

    def __str__(self) -> str:
        return f"{self.code} {self.text}".strip()

    @property
    def positive(self) -> bool:
        return 200 <= self.code < 400

    @property
    def transient(self) -> bool:
        return 400 <= self.code < 500

    @property
    def throttling(self) -> bool:
        """The relay asks the sender to slow down (Postfix `450 4.7.1 too much mail`, `421 4.7.0
        too many connections`, SES `454 Throttling failure`, Gmail `421 4.7.28`): a 421, a 454,
        or a 450/451 whose enhanced status code is 4.7.x."""
        if self.code in (421, 454):
            return True
        return self.code in (450, 451) and self.text.startswith("4.7.")


class ReplyReader:
    """Bytes in, complete replies out."""

    __slots__ = ("_buffer", "_lines")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._lines: list[str] = []

    def feed(self, data: bytes) -> list[Reply]:
        if (
            not self._buffer
            and data[-2:] == b"\r\n"
            and data.count(b"\n") == 1
            and data[3:4] == b" "
            and data[:3].isdigit()
            and len(data) < MAX_LINE
            and not self._lines
        ):  # the usual case: one whole one-line reply
            return [Reply(int(data[:3]), data[4:-2].decode("utf-8", "replace").strip())]
        self._buffer += data
        replies: list[Reply] = []
        buffer = self._buffer
        start = 0
        while (end := buffer.find(b"\n", start)) >= 0:
            if end - start >= MAX_LINE:
                raise ProtocolError(f"a reply line of over {MAX_LINE} bytes")
            line = bytes(buffer[start:end]).rstrip(b"\r")
            start = end + 1
            if len(line) < 3 or not line[:3].isdigit() or line[3:4] not in (b"", b" ", b"-"):
                raise ProtocolError(f"not an SMTP reply: {line[:80]!r}")
            if len(self._lines) >= MAX_LINES:
                raise ProtocolError(f"a reply of over {MAX_LINES} lines")
            self._lines.append(line[4:].decode("utf-8", "replace").strip())
            if line[3:4] != b"-":
                replies.append(Reply(int(line[:3]), "\n".join(self._lines)))
                self._lines = []
        del buffer[:start]
        if len(buffer) >= MAX_LINE:
            raise ProtocolError(f"a reply line of over {MAX_LINE} bytes")
        return replies


def extensions(ehlo: Reply) -> dict[str, str]:
    """EHLO's keywords (upper case) and their parameters; the first line is the greeting."""
    found = {}
    for line in ehlo.text.split("\n")[1:]:
        keyword, _, params = line.partition(" ")
        if keyword:
            found[keyword.upper()] = params
    return found
