"""What one message in the mailbox is: a delivery report, a complaint, an unsubscribe request,
a bounce in no standard form, or something else (an auto-reply, spam, a stray message), which
is listed with the reason. Pure: bytes and the signer in, a `Verdict` out; nothing here writes.

Non-standard bounces (no delivery-status part, as some servers still send) are read with
`flufl.bounce`, Mailman's bounce detectors; as everywhere, only a verified tag names the
recipient, never the addresses the detectors find.
"""

from __future__ import annotations

import logging
import re
from email.errors import HeaderParseError
from email.header import decode_header, make_header

from newsletter.errors import TokenError
from newsletter.mailbox.limits import over_limits
from newsletter.mailbox.mime_scan import Scan, first, scan
from newsletter.mailbox.reports import (
    DIAGNOSTIC_MAX,
    Verdict,
    read_arf,
    read_dsn,
    recipient_of,
    returned,
    status_code,
    unrecognised,
)
from newsletter.safe_text import one_line
from newsletter.tokens import Signer

TOKEN_SUBJECT = re.compile(r"\bunsubscribe\s+([A-Za-z0-9_.\-]+)", re.I)
_AUTO_SUBJECT = re.compile(
    r"out of (?:the )?office|automatic reply|auto[- ]?reply|autosvar|abwesenheit|"
    r"absence|vacation|on leave|r[eé]ponse automatique|respuesta autom[aá]tica",
    re.I,
)
_DAEMON = re.compile(r"mailer-daemon|postmaster|mail-daemon|mail delivery", re.I)
_DIAGNOSTIC_LINE = re.compile(r"^.*\b[45]\d\d[ -][245]\.\d{1,3}\.\d{1,3}\b.*$", re.M)


def subject_of(found: Scan) -> str:
    raw = first(found.headers, "subject")
    try:
        return str(make_header(decode_header(raw)))
    except (HeaderParseError, UnicodeError, LookupError, ValueError):
        return raw


def classify(data: bytes, signer: Signer) -> Verdict:
    """Never raises for any input: a message that cannot be understood, or one over the limits
    of `mailbox.limits`, is `unrecognised`."""
    too_costly = over_limits(data)
    if too_costly:
        return unrecognised(too_costly)
    verdict = classify_start(data, signer, truncated=False)
    assert verdict is not None
    return verdict


def classify_start(data: bytes, signer: Signer, *, truncated: bool) -> Verdict | None:
    """`classify` on the start of a message when `truncated`: a report whose report part and
    recipient lie in that start is judged from it (a Postfix DSN returns a whole message of
    which only the headers count); anything else is None, to be read whole."""
    try:
        found = scan(data, truncated=truncated)
        verdict = None
        if found.report_type == "delivery-status":
            verdict = read_dsn(found, signer)
        elif found.report_type == "feedback-report":
            verdict = read_arf(found, signer)
        if truncated:
            return verdict if verdict is not None and verdict.kind != "unrecognised" else None
        if verdict is not None:
            return verdict
        subject = subject_of(found)
        token = TOKEN_SUBJECT.search(subject)
        if token:
            return _unsubscribe_request(token.group(1), signer)
        return _other(found, subject, signer)
    except Exception as exc:  # hostile input must never stop a run; say what it was
        if truncated:
            return None  # read it whole, and judge that
        return unrecognised(f"could not be read ({type(exc).__name__}: {one_line(str(exc), 200)})")


def _unsubscribe_request(token: str, signer: Signer) -> Verdict:
    try:
        subscriber_id, list_id = signer.read(token, "unsubscribe")
    except TokenError:
        return unrecognised("an unsubscribe request without a valid token")
    return Verdict("unsubscribe", subscriber_id=subscriber_id, list_id=list_id)


def _is_auto_reply(found: Scan, subject: str) -> bool:
    headers = found.headers
    if _DAEMON.search(first(headers, "from")):
        return False  # a mailer daemon's notice, not a person's auto-reply
    auto = first(headers, "auto-submitted").lower()
    return bool(
        (auto and auto != "no")
        or "x-autoreply" in headers
        or "x-autorespond" in headers
        or first(headers, "precedence").lower() == "auto_reply"
        or _AUTO_SUBJECT.search(subject)
    )


def _other(found: Scan, subject: str, signer: Signer) -> Verdict:
    if _is_auto_reply(found, subject):
        return unrecognised("an auto-reply (out of office or similar), not a bounce")
    if first(found.headers, "x-spam-flag").lower() == "yes":
        return unrecognised("marked as spam by the receiving server")
    temporary, permanent = _detected(found.data)
    if not (temporary or permanent):
        return unrecognised("not a delivery report, complaint or unsubscribe request")
    who = recipient_of(found, signer, {})
    if isinstance(who, str):
        return unrecognised(f"a bounce in no standard form, but {who}")
    line = _DIAGNOSTIC_LINE.search(found.data[:65536].decode("utf-8", "replace"))
    diagnostic = one_line(line.group(0) if line else subject, DIAGNOSTIC_MAX)
    if not permanent:
        return returned(who, "4.0.0", diagnostic, delayed=True)
    return returned(who, status_code("", diagnostic, "failed"), diagnostic, delayed=False)


def _detected(data: bytes) -> tuple[frozenset[bytes], frozenset[bytes]]:
    """(temporary, permanent) failures that flufl.bounce's detectors find, else empty sets."""
    import email

    from flufl.bounce import all_failures

    logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)
    try:
        return all_failures(email.message_from_bytes(data))  # type: ignore[no-any-return]
    except Exception:  # a detector tripping over a strange message is not our failure
        return frozenset(), frozenset()
