"""Plain, frozen data passed between modules, and the placeholder values of one recipient."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from newsletter.mime_headers import header_safe


@dataclass(frozen=True)
class Takeaway:
    headline: str
    speaker: str
    role: str
    body_md: str
    link: str = ""
    image: str = ""
    image_alt: str = ""
    line: int = 0  # line of the `## ` heading in the issue file


@dataclass(frozen=True)
class Issue:
    id: str  # the file stem, e.g. "2019-03-01-hanoi-summit"
    path: Path
    title: str
    subject: str
    preheader: str
    date: date | None
    lists: tuple[str, ...]
    send_at: datetime | None  # always timezone-aware
    intro_md: str
    takeaways: tuple[Takeaway, ...]
    source_hash: str  # sha256 of the file bytes: tells a resumed send the file changed


# Per-recipient placeholders: plain ASCII words that MJML, premailer and URL quoting leave alone.
NAME = "__NL_NAME__"
EMAIL = "__NL_EMAIL__"
UNSUBSCRIBE_URL = "__NL_UNSUBSCRIBE_URL__"
PREFERENCES_URL = "__NL_PREFERENCES_URL__"
VIEW_URL = "__NL_VIEW_URL__"
PLACEHOLDERS = (NAME, EMAIL, UNSUBSCRIBE_URL, PREFERENCES_URL, VIEW_URL)
PLACEHOLDER_RE = re.compile("|".join(re.escape(p) for p in PLACEHOLDERS))


@dataclass(frozen=True)
class RenderedIssue:
    """The output of rendering once: contains the placeholders above, not personal data."""

    issue_id: str
    subject: str
    preheader: str
    html: str  # complete email HTML (MJML compiled, CSS inlined)
    text: str  # plain-text part
    web_html: str  # the "view in browser" / archive page (no personal placeholders)
    list_name: str = ""


@dataclass(frozen=True)
class Recipient:
    """Values substituted into a RenderedIssue for one person."""

    email: str
    name: str = ""
    unsubscribe_url: str = ""
    preferences_url: str = ""
    view_url: str = ""
    unsubscribe_mailto: str = ""  # mailto: URI for List-Unsubscribe, token in the subject
    subscriber_id: int = 0


NAME_FALLBACK = "there"  # "Hi there," when a subscriber has no name


def placeholder_values(recipient: Recipient, name_fallback: str = NAME_FALLBACK) -> dict[str, str]:
    """Each placeholder's raw value for one recipient (escape per context before use)."""
    return {
        NAME: recipient.name.strip() or name_fallback,
        EMAIL: recipient.email,
        UNSUBSCRIBE_URL: recipient.unsubscribe_url,
        PREFERENCES_URL: recipient.preferences_url,
        VIEW_URL: recipient.view_url,
    }


@dataclass(frozen=True)
class Values:
    """One recipient's placeholder values, each escaped for HTML, text and header contexts."""

    html: dict[str, str]
    text: dict[str, str]
    header: dict[str, str]


def values_for(recipient: Recipient, name_fallback: str = NAME_FALLBACK) -> Values:
    """HTML gets `html.escape` (safe in text and in quoted attributes), text the raw value,
    headers the value with CR/LF and other controls made spaces (no value starts a header)."""
    raw = placeholder_values(recipient, name_fallback)
    return Values(
        html={k: html.escape(v, quote=True) for k, v in raw.items()},
        text=raw,
        header={k: header_safe(v) for k, v in raw.items()},
    )


@dataclass(frozen=True)
class Personalised:
    """A RenderedIssue with one recipient's values substituted, each escaped for its context."""

    subject: str
    html: str
    text: str


# Outcome of one recipient in a batch. A closed set: the ledger stores exactly these.
SENT = "sent"
FAILED = "failed"  # permanent for this recipient (rejected address): recorded, not retried
UNKNOWN = "unknown"  # may or may not have been delivered: listed, resent only on request
RETRY = "retry"  # transient: the engine retries with backoff


@dataclass(frozen=True)
class SendResult:
    subscriber_id: int
    status: str  # SENT | FAILED | UNKNOWN | RETRY
    detail: str = ""
    provider_id: str = ""


@dataclass(frozen=True)
class Subscriber:
    id: int
    email: str
    name: str
    attributes: dict = field(default_factory=dict)
