"""SMTP AUTH (RFC 4954): PLAIN, LOGIN or CRAM-MD5, whichever the server offers, as the exchange
of lines a session writes; the password never appears in an error."""

from __future__ import annotations

import base64
import hmac

PREFERRED = ("PLAIN", "LOGIN", "CRAM-MD5")


def mechanism(offered: str) -> str | None:
    names = offered.upper().split()
    return next((m for m in PREFERRED if m in names), None)


def b64(value: str | bytes) -> str:
    data = value.encode("utf-8") if isinstance(value, str) else value
    return base64.b64encode(data).decode("ascii")


def first_line(name: str, username: str, password: str) -> str:
    if name == "PLAIN":
        return "AUTH PLAIN " + b64("\0" + username + "\0" + password)
    return f"AUTH {name}"


def answer(name: str, step: int, challenge: str, username: str, password: str) -> str:
    """The line answering the server's `334 challenge`, the `step`-th (from 0)."""
    if name == "CRAM-MD5":
        digest = hmac.new(password.encode("utf-8"), base64.b64decode(challenge), "md5").hexdigest()
        return b64(f"{username} {digest}")
    if name == "LOGIN":
        return b64(username if step == 0 else password)
    return "*"  # PLAIN needs no more: cancel
