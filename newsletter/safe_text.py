"""Text from outside (a form, a CSV file, a bounce report, a provider event, an issue file) made
one safe line, for everything later printed or put in a mail header.

One character set for every use: C0 controls and DEL (CR and LF start a new header), C1
controls (U+0080-U+009F: a terminal reads U+009B as CSI and U+009D as OSC), the line and
paragraph separators, and the bidirectional embeddings, overrides and isolates (U+202A-U+202E,
U+2066-U+2069) that make a name display as something other than what it is.
"""

from __future__ import annotations

import re

_NOT_IN_A_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]+")


def one_line(value: str, limit: int | None = None, *, also: str = "") -> str:
    """`value` as one safe line: each run of the characters above (and of `also`, a caller's
    own separators such as ",;" in an address list) becomes a space, blanks are collapsed and
    trimmed, and the line is cut at `limit` characters."""
    for separator in also:
        if separator in value:
            value = value.replace(separator, " ")
    if not value.isprintable():  # a fast test: every character of the set is unprintable
        value = _NOT_IN_A_LINE.sub(" ", value)
    line = " ".join(value.split())
    if limit is not None and len(line) > limit:
        line = line[:limit].rstrip()
    return line


def holds_controls(value: str) -> bool:
    """True when `value` holds a character `one_line` takes out: for input that is refused
    rather than cleaned."""
    return _NOT_IN_A_LINE.search(value) is not None
