"""The schema of release 0.1.0, frozen: lists, subscribers, memberships, suppressions, history,
sends, the delivery ledger and locks.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# A BIGINT on PostgreSQL, INTEGER (and so the rowid alias) on SQLite.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    _audience_tables()
    _history_table()
    _send_tables()


def _audience_tables() -> None:
    op.create_table(
        "lists",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("slug", sa.String(100), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("from_name", sa.String(200), nullable=False),
        sa.Column("from_address", sa.String(320), nullable=False),
        sa.Column("reply_to", sa.String(320), nullable=False),
        sa.Column("created_at", When, nullable=False),
    )
    op.create_table(
        "subscribers",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("email_key", sa.String(320), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("attributes", sa.JSON, nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("updated_at", When, nullable=False),
    )
    op.create_table(
        "memberships",
        sa.Column(
            "subscriber_id",
            Id,
            sa.ForeignKey("subscribers.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("list_id", Id, sa.ForeignKey("lists.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("updated_at", When, nullable=False),
    )
    op.create_index(
        "ix_memberships_list_status", "memberships", ["list_id", "status", "subscriber_id"]
    )
    op.create_table(
        "suppressions",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("address_hash", sa.String(64), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("list_id", Id, nullable=False),
        sa.Column("reason", sa.String(20), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.UniqueConstraint("address_hash", "list_id", name="uq_suppressions_address_list"),
    )


def _history_table() -> None:
    op.create_table(
        "subscriber_events",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column(
            "subscriber_id",
            Id,
            sa.ForeignKey("subscribers.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("list_id", Id, nullable=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("at", When, nullable=False),
    )
    op.create_index("ix_subscriber_events_subscriber", "subscriber_events", ["subscriber_id", "id"])


def _send_tables() -> None:
    op.create_table(
        "sends",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("issue_id", sa.String(200), nullable=False),
        sa.Column("list_slugs", sa.JSON, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("backend", sa.String(20), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("html", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("source_hash", sa.String(64), nullable=False),
        sa.Column("options", sa.JSON, nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("started_at", When, nullable=True),
        sa.Column("finished_at", When, nullable=True),
    )
    op.create_index("ix_sends_issue", "sends", ["issue_id"])
    op.create_table(
        "deliveries",
        sa.Column("send_id", Id, sa.ForeignKey("sends.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("subscriber_id", Id, primary_key=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("claimed_by", sa.String(100), nullable=True),
        sa.Column("claimed_at", When, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("provider_id", sa.String(200), nullable=False),
        sa.Column("updated_at", When, nullable=False),
    )
    op.create_index(
        "ix_deliveries_send_status", "deliveries", ["send_id", "status", "subscriber_id"]
    )
    op.create_table(
        "locks",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("acquired_at", When, nullable=False),
        sa.Column("expires_at", When, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "locks",
        "deliveries",
        "sends",
        "subscriber_events",
        "suppressions",
        "memberships",
        "subscribers",
        "lists",
    ):
        op.drop_table(table)
