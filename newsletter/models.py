"""Plain, frozen data passed between modules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path


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
class AbTest:
    """A subject-line test (front matter `ab_test:`): `share` of the audience split evenly
    between the variants, then after `wait_seconds` the winner by `metric` (people only) goes
    to the rest. `tie`: what an inconclusive test picks, "first" (variant A) or "best"."""

    share: float  # 0.05 ..= 0.5
    wait_seconds: int
    metric: str = "opens"  # "opens" | "clicks"
    tie: str = "first"


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
    # Front matter `track_clicks` / `track_opens`: None follows the settings of the same name.
    track_clicks: bool | None = None
    track_opens: bool | None = None
    archive: bool = True  # front matter `archive: false`: never in the web archive
    language: str = ""  # front matter `language:` (`i18n.send_language`); "" for none
    segment: str = ""  # front matter `segment:`, a segment expression (audience.segments)
    # A subject-line test: every variant's subject and preheader, A first (A is `subject`).
    subjects: tuple[str, ...] = ()
    preheaders: tuple[str, ...] = ()
    ab_test: AbTest | None = None


@dataclass(frozen=True)
class RenderedIssue:
    """The output of rendering once: holds the per-recipient placeholders, no personal data."""

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
    tag: str = ""  # opaque signed (send, subscriber) tag: Message-ID, X-Newsletter-Tag
    return_tag: str = ""  # the same pair's return-path tag: the VERP bounce address
    link_tag: str = ""  # the same pair's link tag: tracked links and the open pixel
    # The subscriber's attributes that the send's reader placeholders read (loaded only when
    # a placeholder reads one: `authoring.readers`).
    attributes: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Personalised:
    """A RenderedIssue with one recipient's values substituted, each escaped for its context."""

    subject: str
    html: str
    text: str


# The delivery backends, a closed set: the `backend` setting, `send --backend`, and
# sending/delivery.make_backend, which opens each.
BACKENDS = ("outbox", "smtp", "sendgrid")

# Outcome of one recipient in a batch. A closed set: the ledger stores exactly these.
SENT = "sent"
FAILED = "failed"  # permanent for this recipient (rejected address): recorded, not retried
UNKNOWN = "unknown"  # may or may not have been delivered: listed, resent only on request


@dataclass(frozen=True)
class SendResult:
    subscriber_id: int
    status: str  # SENT | FAILED | UNKNOWN
    detail: str = ""
    provider_id: str = ""


@dataclass(frozen=True)
class SendOutcomes:
    """What became of a send's messages, one definition for `status`, `report` and after
    (made by `sending.outcomes.outcome_totals`). `sent` is every message the server or provider
    accepted, including those that later bounced or drew a complaint; `delivered` is known only
    from a provider that reports deliveries (SendGrid), else None."""

    sent: int
    delivered: int | None
    bounced: int
    complained: int
    failed: int
    unknown: int
    skipped: int
    queued: int
    claimed: int

    @property
    def reached(self) -> int:
        """The base of every rate: sent - bounced (a complaint was delivered, and read)."""
        return self.sent - self.bounced

    def rate(self, part: int) -> float | None:
        """`part` of the mail that reached its readers (None before any did)."""
        return round(part / self.reached, 4) if self.reached > 0 else None


# The token in a proof's unsubscribe and preferences links (`test-send`, `build`'s sample.eml,
# `preview`): the web app answers it with a page saying it was a test message, and acts on
# nobody.
PROOF_TOKEN = "test-message"
