"""The work one message may cost, checked on its bytes before anything parses it.

A bounce mailbox takes mail from anyone. Without bounds, a 1.4 MB message of 200,000 empty MIME
parts took 19 s (the `email` parser behind the bounce detectors builds every part), and a
1.2 MB folded header 4 s, growing with the square of its size. Each check here is one pass in
C over the bytes (a count, a search), so a message over a limit is set aside in milliseconds,
with the reason; the real reports of every server we know are far inside them.
"""

from __future__ import annotations

import re

MAX_MESSAGE_BYTES = 10 * 1024 * 1024  # a DSN returns the whole original: ours are far smaller
MAX_PARTS = 1000  # MIME delimiter lines (a DSN has 3 or 4; a returned issue adds 3)
MAX_HEADER_BYTES = 65536  # one header field (folded lines included), or one line
MAX_DEPTH = 8  # multipart and message/rfc822 levels (a DSN of a forwarded bounce: 4)

_DELIMITER = re.compile(rb"(?m)^--")
_FIELD_START = re.compile(rb"(?m)^(?![ \t])")  # a line that does not continue a field
_NESTING = re.compile(rb"(?im)^content-type:[ \t]*(?:multipart/|message/(?:rfc822|global)\b)")


def over_limits(data: bytes) -> str | None:
    """Why this message is too costly to read (one line for the operator), else None."""
    if len(data) > MAX_MESSAGE_BYTES:
        return too_large()
    if data.count(b"\n--") + 1 > MAX_PARTS and _count(_DELIMITER, data, MAX_PARTS) > MAX_PARTS:
        return f"over the limit of {MAX_PARTS} MIME parts"
    if _longest_field(data) > MAX_HEADER_BYTES:
        return f"a header field or line over the limit of {MAX_HEADER_BYTES} bytes"
    if _count(_NESTING, data, MAX_DEPTH) > MAX_DEPTH:
        return f"MIME nested over the limit of {MAX_DEPTH} levels"
    return None


def too_large() -> str:
    return f"a message over the limit of {MAX_MESSAGE_BYTES} bytes"


def _count(pattern: re.Pattern[bytes], data: bytes, limit: int) -> int:
    """Matches of `pattern`, counted up to `limit` + 1."""
    found = 0
    for _ in pattern.finditer(data):
        found += 1
        if found > limit:
            break
    return found


def _longest_field(data: bytes) -> int:
    """The longest run of bytes without a line that starts a new field or body line: an upper
    bound of the longest (folded) header field anywhere in the message."""
    if len(data) <= MAX_HEADER_BYTES:
        return len(data)
    longest, last = 0, 0
    for found in _FIELD_START.finditer(data):
        longest = max(longest, found.start() - last)
        last = found.start()
    return max(longest, len(data) - last)
