"""The tables of sequences (revision 0011), beside `tables` (which re-exports them).

`send-due` registers what it reads in `sequences/` here, so the web app (perhaps on another
machine) knows the sequences without the folder: `sequences` (lists by id, `join`, `paused`, and
how far enrolment has read `memberships.subscribed_at`) and `sequence_steps` (each step's place,
delay and its one `sends` row for ever). `sequence_members` holds each reader's clock
(`joined_at`) and cursor: `next_key`, the step they get next (NULL: they had every step there is).
What is due for a step is one range of the index (sequence, next_key, joined_at).
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, DateTime, Index, Integer, String, Table, false

from newsletter.db.schema_base import Id, metadata

sequences = Table(
    "sequences",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("list_ids", JSON, nullable=False),
    Column("join", String(10), nullable=False),  # new | everyone
    Column("stop_on_unsubscribe", Boolean, nullable=False),
    Column("paused", Boolean, nullable=False, default=False, server_default=false()),
    Column("first_seen_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # memberships subscribed up to here were enrolled (NULL: never enrolled yet)
    Column("enrolled_to", DateTime(timezone=True), nullable=True),
)

sequence_steps = Table(
    "sequence_steps",
    metadata,
    Column("sequence", String(200), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("position", Integer, nullable=False),  # 1.. in file-name order
    Column("after_s", Integer, nullable=False),
    Column("first_seen_at", DateTime(timezone=True), nullable=False),
    Column("removed_at", DateTime(timezone=True), nullable=True),
    Column("send_id", Id, nullable=True),  # sends.id, created when first needed
)

sequence_members = Table(
    "sequence_members",
    metadata,
    Column("sequence", String(200), primary_key=True),
    Column("subscriber_id", Id, primary_key=True),
    Column("list_id", Id, nullable=False),
    Column("joined_at", DateTime(timezone=True), nullable=False),
    Column("left_at", DateTime(timezone=True), nullable=True),
    Column("left_reason", String(40), nullable=False, default="", server_default=""),
    Column("next_key", String(200), nullable=True),  # NULL: had every step there is
    Index("ix_sequence_members_due", "sequence", "next_key", "joined_at"),
)
