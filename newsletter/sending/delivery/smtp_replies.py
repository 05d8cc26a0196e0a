"""SMTP replies and wire details shared by the backend and its lanes."""

from __future__ import annotations


class _Transient(Exception):
    """Worth another attempt on a fresh or reset connection."""

    def __init__(self, reason: str, *, connection_lost: bool = False, connect: bool = False):
        super().__init__(reason)
        self.connection_lost = connection_lost or connect
        self.connect = connect


class _Ambiguous(Exception):
    """The message was transmitted but its fate is unknown."""


def _reply(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {text.strip()}"


def envelope_verdict(replies: list[tuple[int, bytes]]) -> tuple[str, int, bytes]:
    """What the replies to MAIL, RCPT and DATA (or `BDAT n LAST`) say, with the reply that
    decided it: 'closing' (a 421, the server is going away), 'retry' (a 4xx), 'sender' (MAIL
    refused for good: a setting is wrong), 'failed' (this recipient refused for good) or 'ok'."""
    closing = next((r for r in replies if r[0] == 421), None)
    if closing is not None:
        return "closing", *closing
    (mail, mail_text), *rest = replies
    if mail != 250:
        return ("retry" if 400 <= mail < 500 else "sender"), mail, mail_text
    for code, text in rest:
        if code not in (250, 251, 354):
            return ("retry" if 400 <= code < 500 else "failed"), code, text
    return "ok", *replies[-1]


def stuffed(data: bytes) -> bytes:
    """DATA content: dot-stuffed, ending in CRLF . CRLF (bytes.replace is ~20x faster than
    smtplib's multiline regex)."""
    quoted = b"." + data if data.startswith(b".") else data
    if b"\n." in quoted:  # rare in our messages: quoted-printable bodies, folded headers
        quoted = quoted.replace(b"\r\n.", b"\r\n..")
    return quoted + (b".\r\n" if quoted.endswith(b"\r\n") else b"\r\n.\r\n")


def bad_address(rcpt: str) -> str:
    if any(c in rcpt for c in "\r\n<> ") or "@" not in rcpt:
        return f"not a deliverable address: {rcpt!r}"
    return ""
