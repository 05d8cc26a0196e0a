"""DKIM signatures (RFC 6376, relaxed/relaxed; Ed25519 per RFC 8463) for messages built from a
`MessageTemplate`: the part that is the same for every message of a send is done once
(`DkimSigner.bind`: the canonical fixed headers, the SHA-256 state of the body's fixed start),
per message only the personal headers are made canonical, the rest of the body hashed and the
header hash signed.

The body needs no canonicalisation: `quoted_printable` writes it in relaxed form already. The
signed headers are those receivers judge a bulk message by; From, Subject and both List-*
headers are signed once more than they occur ("oversigned"), so nobody can add one later (the
one-click rule of Gmail needs both List-* headers inside the signature)."""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from newsletter.sending.mime.dkim_keys import DkimKey

SIGNED = (
    "From", "To", "Subject", "Date", "Message-ID", "Reply-To", "List-Unsubscribe",
    "List-Unsubscribe-Post", "List-Id", "MIME-Version", "Content-Type", "Feedback-ID",
)  # fmt: skip
OVERSIGNED = frozenset({"from", "subject", "list-unsubscribe", "list-unsubscribe-post"})
_WSP = re.compile(r"[ \t]+")


def canonical_field(field: str) -> tuple[str, str]:
    """(lower-case name, the relaxed canonical line) of one header field as written, folded
    or not, without its final CRLF."""
    name, _, value = field.partition(":")
    name = name.rstrip(" \t").lower()
    value = _WSP.sub(" ", value.replace("\r\n", "")).strip(" ")
    return name, f"{name}:{value}\r\n"


def _fold_names(names: Sequence[str], first: int, width: int = 72) -> str:
    """The h= list, folded after a colon (FWS is allowed there, never inside a name)."""
    lines, line = [], ""
    for name in names:
        if line and first + len(line) + len(name) + 1 > width:
            lines.append(line)
            line, first = "", 1
        line += (":" if line else "") + name
    lines.append(line)
    return ":\r\n\t".join(lines)


def _fold(text: str, first: int, width: int = 72) -> str:
    """A long base64 value cut into lines of `width` with FWS, which DKIM allows inside it."""
    cut = max(width - first, 8)
    lines = [text[:cut]]
    lines += [text[i : i + width] for i in range(cut, len(text), width)]
    return "\r\n\t".join(lines)


class DkimSigner:
    """The keys and the d= of a send's signatures (d= "" means each template's From domain)."""

    def __init__(self, keys: Sequence[DkimKey], domain: str = ""):
        self.keys = list(keys)
        self.domain = domain

    def bind(self, from_domain: str, fixed: Iterable[str], body_start: bytes) -> BoundSigner:
        return BoundSigner(self.keys, self.domain or from_domain, fixed, body_start)


class BoundSigner:
    """A signer for the messages of one template."""

    def __init__(
        self, keys: Sequence[DkimKey], domain: str, fixed: Iterable[str], body_start: bytes
    ):
        self.keys, self.domain = keys, domain.lower()
        self.fixed = dict(canonical_field(f) for f in fixed)
        lower = [n.lower() for n in SIGNED]
        self.names = [n for n in lower for _ in range(2 if n in OVERSIGNED else 1)]
        self.h = _fold_names(self.names, len("\tt=1234567890; h="))
        self.start = len(body_start)
        self.state = hashlib.sha256(body_start)  # the fixed start, hashed once per send

    def headers(self, personal: Iterable[str], body: bytes | memoryview) -> bytes:
        """The DKIM-Signature fields (one per key) for a message with these personal header
        fields (To, Subject, ...) on top of the fixed ones, and this body."""
        digest = self.state.copy()
        digest.update(memoryview(body)[self.start :])
        bh = base64.b64encode(digest.digest()).decode()
        fields = {**self.fixed, **dict(canonical_field(f) for f in personal)}
        seen: set[str] = set()
        signed = []
        for name in self.names:  # an oversigned name's second turn finds no field: nothing
            if name not in seen and name in fields:
                signed.append(fields[name])
            seen.add(name)
        data = "".join(signed)
        now = int(time.time())
        out = []
        for key in self.keys:
            head = (
                f"DKIM-Signature: v=1; a={key.algorithm}; c=relaxed/relaxed; d={self.domain};"
                f" s={key.selector};\r\n\tt={now}; h={self.h};\r\n\tbh={bh};\r\n\tb="
            )
            sign_input = (data + canonical_field(head)[1][:-2]).encode()
            b = base64.b64encode(key.sign(sign_input)).decode()
            out.append(head + _fold(b, len("\tb=")) + "\r\n")
        return "".join(out).encode()
