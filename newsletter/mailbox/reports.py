"""Delivery status notifications (RFC 3464) and feedback reports (ARF, RFC 5965) read into a
`Verdict`, and the recipient they are about, found only through a verified tag.

Where the tag is looked for, in order: the VERP return path the report was delivered to
(`Delivered-To`, `X-Original-To`, `Envelope-To`, `To`, Postfix's `X-Postfix-Sender`, ARF's
`Original-Mail-From`), then the returned message's `Message-ID`, `X-Newsletter-Tag` and
`Return-Path`, then those header lines anywhere in the message (a server that returned the
original as text). Addresses (`Final-Recipient` and the like) are never used to find anyone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from newsletter.audience.bounces import Returned
from newsletter.errors import TokenError
from newsletter.mailbox.mime_scan import (
    RETURNED_TYPES,
    Scan,
    field_blocks,
    first,
    returned_headers,
)
from newsletter.recipient_tags import TAG_MESSAGE_ID, TAG_RETURN_PATH, ReadTag
from newsletter.safe_text import one_line
from newsletter.tokens import Signer

DIAGNOSTIC_MAX = 1000  # characters of a server's words kept (one line)

_VERP_HEADERS = ("delivered-to", "x-original-to", "envelope-to", "x-envelope-to", "to")
_VERP_FIELDS = ("x-postfix-sender", "original-mail-from")
_VERP_TAG = re.compile(r"\+([0-9a-f]{32})@")
_ID_TAG = re.compile(r"<\s*([0-9a-f]{32})\.")
_BARE_TAG = re.compile(r"^\s*([0-9a-f]{32})\s*$")
_RAW_TAG = re.compile(
    rb"(?im)^[ \t>]*(?:x-newsletter-tag:[ \t]*|message-id:[ \t]*<[ \t]*)([0-9a-f]{32})(?![0-9a-f])"
)
_ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_BASIC = re.compile(r"(?<![\d.])([45])\d\d(?![\d.])")
# Refusals for who sent it, not for whom: a blocklist, reputation, policy or content verdict.
BLOCKED_TEXT = re.compile(
    r"block ?list|black ?list|spamhaus|spamcop|barracuda|sorbs|\bRBL\b|DNSBL"
    r"|\blisted (?:at|on|in|by)|blocked (?:using|by|for|due|because)|reputation|\bspam\b"
    r"|policy (?:reasons|violation)",
    re.I,
)
USER_UNKNOWN = re.compile(
    r"user unknown|unknown user|no such (?:user|mailbox|recipient)|does not exist|"
    r"mailbox unavailable|invalid recipient|recipient (?:address )?rejected|not found",
    re.I,
)


@dataclass(frozen=True)
class Verdict:
    """What one message is, and what it asks for."""

    kind: str  # unsubscribe | bounce | complaint | delayed | info | unrecognised
    reason: str = ""  # info and unrecognised: why, for the operator
    send_id: int = 0
    subscriber_id: int = 0
    list_id: int = 0  # unsubscribe requests
    category: str = ""  # hard | soft | blocked; the feedback type of a complaint
    status_code: str = ""
    diagnostic: str = ""
    legacy: bool = False  # named by an old single-purpose tag (see `recipient_tags`)

    def returned(self, source: str) -> Returned:
        return Returned(
            self.send_id,
            self.subscriber_id,
            self.kind,
            self.category,
            self.status_code,
            self.diagnostic,
            source,
        )


def unrecognised(reason: str) -> Verdict:
    return Verdict("unrecognised", reason=reason)


def category_of(status: str, diagnostic: str) -> str:
    """hard | soft | blocked, from an enhanced status code and the server's words (README)."""
    if BLOCKED_TEXT.search(diagnostic):
        return "blocked"
    klass, subject, detail = (status.split(".") + ["0", "0", "0"])[:3]
    if klass == "4":
        return "soft"  # a transient failure the sending server gave up on
    if subject == "1" or (subject, detail) == ("2", "1"):
        return "hard"  # a bad address, a disabled mailbox
    if subject in ("6", "7"):
        return "blocked"  # content, policy, security
    if subject == "0" and USER_UNKNOWN.search(diagnostic):
        return "hard"  # "5.0.0 user unknown" from servers that do not say more
    return "soft"  # full mailbox (5.2.2), network and system (5.3, 5.4), protocol, undefined


def status_code(status: str, diagnostic: str, action: str) -> str:
    for text in (status, diagnostic):
        found = _ENHANCED.search(text)
        if found:
            return ".".join(found.groups())
    basic = _BASIC.search(diagnostic)
    if basic:
        return f"{basic.group(1)}.0.0"
    return "4.0.0" if action == "delayed" else "5.0.0"


def _tags(found: Scan, report_fields: dict[str, list[str]]) -> Iterator[tuple[str, str]]:
    """Candidate (tag, purpose) pairs, most trustworthy first; the costly whole-message search
    comes last. Never a link tag: a forwarded copy carries those in its body."""
    for name in _VERP_HEADERS:
        for value in found.headers.get(name, []):
            yield from ((t, TAG_RETURN_PATH) for t in _VERP_TAG.findall(value.lower()))
    for name in _VERP_FIELDS:
        for value in report_fields.get(name, []):
            yield from ((t, TAG_RETURN_PATH) for t in _VERP_TAG.findall(value.lower()))
    for part in found.parts:
        if part.kind in RETURNED_TYPES:
            returned = returned_headers(found, part)
            for value in returned.get("message-id", []):
                yield from ((t, TAG_MESSAGE_ID) for t in _ID_TAG.findall(value.lower()))
            for value in returned.get("x-newsletter-tag", []):
                yield from ((t, TAG_MESSAGE_ID) for t in _BARE_TAG.findall(value.lower()))
            for value in returned.get("return-path", []):
                yield from ((t, TAG_RETURN_PATH) for t in _VERP_TAG.findall(value.lower()))
    for tag in _RAW_TAG.findall(found.data):
        yield tag.decode("ascii").lower(), TAG_MESSAGE_ID


def recipient_of(found: Scan, signer: Signer, report_fields: dict[str, list[str]]) -> ReadTag | str:
    """(send id, subscriber id, legacy) from the first tag that verifies for where it was
    found, else why there is none."""
    tried: set[tuple[str, str]] = set()
    for candidate in _tags(found, report_fields):
        if candidate in tried:
            continue
        tried.add(candidate)
        try:
            return signer.read_tag(candidate[0], purpose=candidate[1])
        except TokenError:
            continue
    if tried:
        return "its recipient tag is not one of ours (forged, or made with another key)"
    return "it carries no recipient tag: not about a message we sent"


def _status_part(found: Scan, names: tuple[str, ...]) -> list[dict[str, list[str]]]:
    """The field blocks of the report part (none if it was cut short: read it all then)."""
    for part in found.parts:
        if part.kind in names:
            return field_blocks(found.body(part)) if found.complete(part) else []
    return []


def read_dsn(found: Scan, signer: Signer) -> Verdict:
    blocks = _status_part(found, ("message/delivery-status", "message/global-delivery-status"))
    recipients = [b for b in blocks if "action" in b or "final-recipient" in b]
    if not recipients:
        return unrecognised("a delivery report without delivery-status fields")
    merged = {k: v for block in blocks for k, v in block.items()}
    chosen = next(
        (b for want in ("failed", "delayed") for b in recipients if first(b, "action") == want),
        recipients[0],
    )
    action = first(chosen, "action").lower()
    if action not in ("failed", "delayed"):
        return Verdict("info", reason=f"a delivery report with action '{one_line(action, 40)}'")
    who = recipient_of(found, signer, merged)
    if isinstance(who, str):
        return unrecognised(f"a delivery report, but {who}")
    diagnostic = one_line(first(chosen, "diagnostic-code"), DIAGNOSTIC_MAX)
    code = status_code(first(chosen, "status"), diagnostic, action)
    return returned(who, code, diagnostic, delayed=action == "delayed")


def returned(who: ReadTag, code: str, diagnostic: str, *, delayed: bool) -> Verdict:
    """A delay, or a bounce with its category, for the recipient `who`."""
    return Verdict(
        "delayed" if delayed else "bounce",
        "",
        who.send_id,
        who.subscriber_id,
        legacy=who.legacy,
        category="" if delayed else category_of(code, diagnostic),
        status_code=code,
        diagnostic=diagnostic,
    )


def read_arf(found: Scan, signer: Signer) -> Verdict:
    blocks = _status_part(found, ("message/feedback-report",))
    report = {k: v for block in blocks for k, v in block.items()}
    feedback = one_line(first(report, "feedback-type"), 20).lower() or "abuse"
    if feedback != "abuse":
        return unrecognised(f"a feedback report of type '{feedback}', not a complaint")
    who = recipient_of(found, signer, report)
    if isinstance(who, str):
        return unrecognised(f"a complaint, but {who}")
    agent = one_line(first(report, "user-agent") or first(found.headers, "from"), 200)
    return Verdict(
        "complaint",
        "",
        who.send_id,
        who.subscriber_id,
        legacy=who.legacy,
        category="abuse",
        diagnostic=agent,
    )
