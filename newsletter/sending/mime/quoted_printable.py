"""Quoted-printable bodies built once per send: static pieces encoded once, placeholder values
encoded per recipient with binascii's C encoder.

Every line written is already in DKIM's relaxed body form (RFC 6376 §3.4.4): no white space at
its end and no run of white space inside it (a tab, or a blank after a blank, is written
`=09`/`=20`), so a body's DKIM hash is a plain SHA-256 of its bytes; and no line begins with a
dot, so SMTP's DATA needs no dot-stuffing."""

from __future__ import annotations

import binascii
import re

from newsletter.authoring.placeholders import split


def qp(text: str, *, keep_lf: bool = False) -> bytes:
    """Quoted-printable with CRLF line ends and lines of at most 76 characters.

    ``keep_lf`` encodes newlines as ``=0A`` instead of hard line breaks, so the decoded text
    has LF newlines in every parser (hard breaks decode to CRLF in Python's email, to LF in
    others); used for HTML, where parsers should agree byte for byte."""
    data = text.replace("\r\n", "\n").replace("\r", "\n").encode()
    # With LF-only input b2a_qp uses LF for hard and soft breaks alike; CRLF them afterwards.
    encoded = binascii.b2a_qp(data, quotetabs=False, istext=not keep_lf, header=False)
    return no_leading_dots(relaxed(encoded.replace(b"\n", b"\r\n")))


_WHITE_RUN = re.compile(rb"\t|(?<=[ \t]) ")


def relaxed(encoded: bytes) -> bytes:
    """Quoted-printable lines without a tab or a run of blanks (binascii keeps both, and
    escapes only white space at a line's end): each tab becomes `=09`, each blank right after
    another blank `=20`; a line grown past 76 is soft-broken again, never inside an escape."""
    if b"\t" not in encoded and b"  " not in encoded:
        return encoded
    out = []
    for line in encoded.split(b"\r\n"):
        if b"\t" in line or b"  " in line:
            line = _WHITE_RUN.sub(lambda m: b"=09" if m[0] == b"\t" else b"=20", line)
            while len(line) > 76:
                cut = _cut(line, 75)
                out.append(line[:cut] + b"=")
                line = line[cut:]
        out.append(line)
    return b"\r\n".join(out)


def _cut(line: bytes, at: int) -> int:
    """Where to soft-break `line` at or before `at` without splitting an `=XX` escape."""
    while b"=" in line[at - 2 : at]:
        at -= 1
    return at


def no_leading_dots(encoded: bytes) -> bytes:
    """Quoted-printable lines with a leading dot written `=2E`: SMTP's DATA then needs no
    dot-stuffing, so no message is scanned for it (a line grown past 76 is soft-broken again,
    never inside an `=XX` escape)."""
    if not (encoded.startswith(b".") or b"\n." in encoded):
        return encoded
    out = []
    for line in encoded.split(b"\r\n"):
        while line.startswith(b"."):
            line = b"=2E" + line[1:]
            if len(line) <= 76:
                break
            cut = _cut(line, 75)
            out.append(line[:cut] + b"=")
            line = line[cut:]
        out.append(line)
    return b"\r\n".join(out)


def qp_piece(text: str, keep_lf: bool = False) -> bytes:
    """Quoted-printable of a piece of a body that may stop mid-line: ends with a soft line
    break unless it ends with a hard one, so pieces can be concatenated in any order."""
    if not text:
        return b""
    out = qp(text, keep_lf=keep_lf)
    if out.endswith(b"\r\n"):
        return out
    start = out.rfind(b"\n") + 1
    last = out[start:]
    if len(last) >= 76:  # room for the "=": cut the last line, never inside an "=XX" escape
        cut = _cut(last, 74)
        out = no_leading_dots(out[:start] + last[:cut] + b"=\r\n" + last[cut:])
    return out + b"=\r\n"


class QPBody:
    """A body split at its placeholders; static pieces are encoded once, values per recipient."""

    def __init__(self, text: str, *, keep_lf: bool = False):
        self.keep_lf = keep_lf
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        parts = split(text)  # the one placeholder splitter: odd items are placeholders
        self.pieces: list[bytes | str] = [
            part if i % 2 else qp_piece(part, keep_lf) for i, part in enumerate(parts) if part
        ]
        fixed = [p for p in self.pieces if isinstance(p, bytes)]
        self.static = b"".join(fixed) if len(fixed) == len(self.pieces) else None
        self.static_dotted = any(map(dotted, fixed))
        # Where each placeholder goes: its value is encoded once and put in all its slots.
        self._skeleton = [p if isinstance(p, bytes) else b"" for p in self.pieces]
        self._slots: dict[str, list[int]] = {}
        for i, p in enumerate(self.pieces):
            if isinstance(p, str):
                self._slots.setdefault(p, []).append(i)
        # placeholder -> its last value, encoded, and whether that has a line-start dot
        self._last: dict[str, tuple[str, bytes, bool]] = {}

    def fixed_start(self) -> tuple[bytes, bool]:
        """The encoded pieces before the first placeholder, and whether that is all of it."""
        start: list[bytes] = []
        for piece in self.pieces:
            if not isinstance(piece, bytes):
                return b"".join(start), False
            start.append(piece)
        return b"".join(start), True

    def encode(self, values: dict[str, str] | None) -> bytes:
        return self.encode_checked(values)[0]

    def encode_checked(self, values: dict[str, str] | None) -> tuple[bytes, bool]:
        """The body, and whether a line of it may begin with a dot (SMTP's DATA must then
        double it): known for the static pieces at once, checked only for the values."""
        if self.static is not None or values is None:
            return self.static or b"", self.static_dotted
        # A placeholder may occur many times (the tracking token is in every tracked link):
        # each value is encoded once per message, and one that is the same as in the message
        # before (the view-in-browser URL) not again.
        out = self._skeleton.copy()
        last, any_dot = self._last, self.static_dotted
        for name, slots in self._slots.items():
            value = values[name]
            before = last.get(name)
            if before is None or before[0] != value:
                encoded = qp_piece(value, self.keep_lf)
                before = last[name] = (value, encoded, dotted(encoded))
            any_dot = any_dot or before[2]
            for i in slots:
                out[i] = before[1]
        return b"".join(out), any_dot


def dotted(piece: bytes) -> bool:
    """A line of this piece begins with a dot (every piece begins a line)."""
    return piece.startswith(b".") or b"\n." in piece
