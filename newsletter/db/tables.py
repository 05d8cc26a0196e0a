"""The schema at the newest migration, as SQLAlchemy Core tables: what the database looks like
*now*; `migrations/versions/` holds the frozen revisions that build it (a test checks both agree).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)

from newsletter.db.ab_tables import ab_tests, send_variants
from newsletter.db.derived import domain_default, hash_default, subscribed_at_default
from newsletter.db.schema_base import NEVER_REUSED, Attributes, Id, metadata
from newsletter.db.sequence_tables import sequence_members, sequence_steps, sequences

__all__ = ["ab_tests", "metadata", "send_variants", "sequence_members", "sequence_steps"]
__all__ += ["sequences"]  # subject-line tests (`ab_tables`), sequences (`sequence_tables`)

lists = Table(
    "lists",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("slug", String(100), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("from_name", String(200), nullable=False, default=""),
    Column("from_address", String(320), nullable=False, default=""),
    Column("reply_to", String(320), nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # 0008: never subscribable nor archived; a deleted list's tombstone (its links still work)
    Column("private", Boolean, nullable=False, default=False, server_default=false()),
    Column("deleted_at", DateTime(timezone=True), nullable=True),
    Column("language", String(35), nullable=False, server_default=""),  # 0012; "": the setting
    **NEVER_REUSED,
)

subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False),  # as given
    Column("email_key", String(320), nullable=False, unique=True),  # normalised for lookups
    Column("name", String(200), nullable=False, default=""),
    Column("attributes", Attributes, nullable=False, default=dict),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # Revision 0009, from email_key (`derived`): segments, suppression as an anti-join in SQL.
    Column("address_hash", String(64), nullable=False, default=hash_default),
    Column("domain", String(255), nullable=False, default=domain_default),
    Index("ix_subscribers_address_hash", "address_hash"),
    Index("ix_subscribers_domain", "domain"),
    **NEVER_REUSED,
)

# status: subscribed | unconfirmed | unsubscribed
memberships = Table(
    "memberships",
    metadata,
    Column("subscriber_id", Id, ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True),
    Column("list_id", Id, ForeignKey("lists.id", ondelete="CASCADE"), primary_key=True),
    Column("status", String(20), nullable=False),
    Column("source", String(200), nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # When this membership last became `subscribed` (revision 0009; segments, sequences).
    Column("subscribed_at", DateTime(timezone=True), nullable=True, default=subscribed_at_default),
    Index("ix_memberships_list_status", "list_id", "status", "subscriber_id"),
    Column("no_sequences", Boolean, nullable=False, default=False, server_default=false()),  # 0011
    Index("ix_memberships_list_subscribed", "list_id", "subscribed_at"),  # sequences enrol (0011)
)

# Every attribute name an import wrote (revision 0009): segments warn about any other name.
attribute_names = Table(
    "attribute_names",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# reason: unsubscribed | bounced | complained | manual; list_id 0: every list. Matched on
# address_hash (sha256 of the normalised address), so `forget` can erase the address.
suppressions = Table(
    "suppressions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("address_hash", String(64), nullable=False),
    Column("email", String(320), nullable=True),  # NULL once forgotten
    Column("list_id", Id, nullable=False, default=0),
    Column("reason", String(20), nullable=False),
    Column("source", String(200), nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("address_hash", "list_id", name="uq_suppressions_address_list"),
)

# What happened to a subscriber, for `subscribers show` (erased by `forget`).
subscriber_events = Table(
    "subscriber_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("subscriber_id", Id, ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=False),
    Column("list_id", Id, nullable=True),
    Column("kind", String(40), nullable=False),
    Column("detail", Text, nullable=False, default=""),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_subscriber_events_subscriber", "subscriber_id", "id"),
)

# A send of an issue (or a sequence step), its content rendered once; running|paused|cancelled|done
sends = Table(
    "sends",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("issue_id", String(200), nullable=False),
    Column("list_slugs", JSON, nullable=False),  # as named then; matched by list_ids (0008)
    Column("list_ids", JSON, nullable=False, server_default=text("'[]'")),
    Column("status", String(20), nullable=False),
    Column("backend", String(20), nullable=False),
    Column("subject", Text, nullable=False),
    Column("html", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("source_hash", String(64), nullable=False),
    Column("options", JSON, nullable=False, default=dict),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    # The archive page exactly as sent (revision 0008; NULL for older sends).
    Column("web_html", Text, nullable=True),
    Index("ix_sends_issue", "issue_id"),
    **NEVER_REUSED,
)

# The per-recipient ledger. status: queued | claimed | sent | failed | skipped | unknown | held
deliveries = Table(
    "deliveries",
    metadata,
    Column("send_id", Id, ForeignKey("sends.id", ondelete="CASCADE"), primary_key=True),
    Column("subscriber_id", Id, primary_key=True),
    Column("email", String(320), nullable=False),
    Column("status", String(20), nullable=False),
    Column("claimed_by", String(100), nullable=True),
    Column("claimed_at", DateTime(timezone=True), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("detail", Text, nullable=False, default=""),
    Column("provider_id", String(200), nullable=False, default=""),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # What the provider said since (SendGrid: "" | deferred | delivered), revision 0006.
    Column("stage", String(20), nullable=False, default="", server_default=""),
    Column("variant", SmallInteger, nullable=True),  # subject-line test: 0 = A (revision 0010)
    Column("version", String(64), nullable=True),  # a sequence step's source_hash sent (0011)
    Index("ix_deliveries_send_status", "send_id", "status", "subscriber_id"),
)

# Notices given once (revision 0006): `send-due` says an issue is too late only once.
notices = Table(
    "notices",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("given_at", DateTime(timezone=True), nullable=False),
)

# Named advisory locks that hold across processes and machines (send-due, a send's start).
locks = Table(
    "locks",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("owner", String(200), nullable=False),
    Column("acquired_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

# Each worker's view of its SMTP relay (revision 0005): sessions, their limit, rate (0: none),
# throttling; written about once a second, read by the send's processes and `status`.
send_pacing = Table(
    "send_pacing",
    metadata,
    Column("send_id", Id, ForeignKey("sends.id", ondelete="CASCADE"), primary_key=True),
    Column("worker", String(100), primary_key=True),
    Column("sessions", Integer, nullable=False),
    Column("session_limit", Integer, nullable=False),
    Column("rate", Float, nullable=False),
    Column("throttled", Boolean, nullable=False),
    Column("throttled_s", Float, nullable=False),
    Column("refusals", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Mail that came back: a bounce, a complaint or a delay notice; one row per (send, subscriber,
# kind), send_id 0 a confirmation mail. category: hard | soft | blocked, or the feedback type.
# `diagnostic` may name the address: `subscribers forget` erases it.
bounces = Table(
    "bounces",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("send_id", Id, nullable=False),
    Column("subscriber_id", Id, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("category", String(20), nullable=False, default=""),
    Column("status_code", String(20), nullable=False, default=""),
    Column("diagnostic", Text, nullable=False, default=""),
    Column("source", String(200), nullable=False, default=""),
    Column("at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("send_id", "subscriber_id", "kind", name="uq_bounces_send_subscriber_kind"),
    Index("ix_bounces_subscriber", "subscriber_id", "at"),
)

# --- Click and open tracking (revision 0003). A send's links, stored once: a tracked URL carries
# the id only. kind: link | trap (only machines follow it). Totals filled when hits expire.
tracked_links = Table(
    "tracked_links",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("send_id", Id, ForeignKey("sends.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),  # order of first appearance in the issue
    Column("kind", String(10), nullable=False),
    Column("url", Text, nullable=False),
    Column("human_clicks", Integer, nullable=True),
    Column("machine_clicks", Integer, nullable=True),
    Index("ix_tracked_links_send", "send_id", "position"),
)

# The HTML a send goes out with (links rewritten, trap link and pixel added) and its switches.
tracked_sends = Table(
    "tracked_sends",
    metadata,
    Column("send_id", Id, ForeignKey("sends.id", ondelete="CASCADE"), primary_key=True),
    Column("clicks", Boolean, nullable=False),
    Column("opens", Boolean, nullable=False),
    Column("html", Text, nullable=False),
)

# Hits, one per (send, subscriber, link or open, verdict), no IP or user agent. link_id 0: the
# pixel. verdict: human | machine (reason: `machine:trap`). Erased by `forget`; expire to totals.
tracking_hits = Table(
    "tracking_hits",
    metadata,
    Column("send_id", Id, primary_key=True),
    Column("subscriber_id", Id, ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True),
    Column("link_id", Id, primary_key=True),
    Column("verdict", String(10), primary_key=True),
    Column("reason", String(40), nullable=False),
    Column("first_at", DateTime(timezone=True), nullable=False),
    Column("last_at", DateTime(timezone=True), nullable=False),
    Column("hits", Integer, nullable=False),
    Index("ix_tracking_hits_subscriber", "subscriber_id"),
    sqlite_with_rowid=False,  # stored in its primary key's order: one b-tree less per hit
)

# PostgreSQL's per-recipient judging state (tracking/hits_pg.py): hits of one recipient queue on
# this row and each sees the one before (SQLite's single writer needs none).
tracking_recipients = Table(
    "tracking_recipients",
    metadata,
    Column("subscriber_id", Id, ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True),
    Column("send_id", Id, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("last_at", DateTime(timezone=True), nullable=False),
)

# "Don't track my opens and clicks" (the preferences page): nothing is recorded for them.
tracking_optouts = Table(
    "tracking_optouts",
    metadata,
    Column("subscriber_id", Id, ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# What remains of a send's hits once they expire (tracking_retention_months): unique readers.
tracking_totals = Table(
    "tracking_totals",
    metadata,
    Column("send_id", Id, ForeignKey("sends.id", ondelete="CASCADE"), primary_key=True),
    Column("opens_human", Integer, nullable=False),
    Column("opens_machine", Integer, nullable=False),
    Column("clicks_human", Integer, nullable=False),
    Column("clicks_machine", Integer, nullable=False),
    Column("reasons", JSON, nullable=False),
    Column("folded_at", DateTime(timezone=True), nullable=False),
)

# IMAP folders (`user@host:port/folder`) marking processed mail NewsletterProcessed, since when.
mailbox_folders = Table(
    "mailbox_folders",
    metadata,
    Column("name", String(600), primary_key=True),
    Column("keyword_since", DateTime(timezone=True), nullable=False),
)
