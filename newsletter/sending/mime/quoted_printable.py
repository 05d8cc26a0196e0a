"""Quoted-printable bodies built once per send: static pieces encoded once, placeholder values
encoded per recipient with binascii's C encoder."""

from __future__ import annotations

import binascii

from newsletter.authoring.placeholders import split


def qp(text: str, *, keep_lf: bool = False) -> bytes:
    """Quoted-printable with CRLF line ends and lines of at most 76 characters.

    ``keep_lf`` encodes newlines as ``=0A`` instead of hard line breaks, so the decoded text
    has LF newlines in every parser (hard breaks decode to CRLF in Python's email, to LF in
    others); used for HTML, where parsers should agree byte for byte."""
    data = text.replace("\r\n", "\n").replace("\r", "\n").encode()
    # With LF-only input b2a_qp uses LF for hard and soft breaks alike; CRLF them afterwards.
    encoded = binascii.b2a_qp(data, quotetabs=False, istext=not keep_lf, header=False)
    return no_leading_dots(encoded.replace(b"\n", b"\r\n"))


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
            cut = 75
            while b"=" in line[cut - 2 : cut]:
                cut -= 1
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
        cut = 74
        while b"=" in last[cut - 2 : cut]:
            cut -= 1
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
