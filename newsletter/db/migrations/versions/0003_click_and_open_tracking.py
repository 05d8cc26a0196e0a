"""Click and open tracking: a send's stored links and tracked HTML, the hits (no IP, no user
agent: verdict and reason only), PostgreSQL's per-recipient judging version, opt-outs, and the
totals left when hits expire.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def _subscriber_id(primary_key: bool) -> sa.Column:
    return sa.Column(
        "subscriber_id",
        Id,
        sa.ForeignKey("subscribers.id", ondelete="CASCADE"),
        primary_key=primary_key,
    )


def upgrade() -> None:
    _send_tables()
    _hit_tables()


def _send_tables() -> None:
    op.create_table(
        "tracked_links",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("send_id", Id, sa.ForeignKey("sends.id", ondelete="CASCADE"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("human_clicks", sa.Integer, nullable=True),
        sa.Column("machine_clicks", sa.Integer, nullable=True),
    )
    op.create_index("ix_tracked_links_send", "tracked_links", ["send_id", "position"])
    op.create_table(
        "tracked_sends",
        sa.Column("send_id", Id, sa.ForeignKey("sends.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("clicks", sa.Boolean, nullable=False),
        sa.Column("opens", sa.Boolean, nullable=False),
        sa.Column("html", sa.Text, nullable=False),
    )
    op.create_table(
        "tracking_totals",
        sa.Column("send_id", Id, sa.ForeignKey("sends.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("opens_human", sa.Integer, nullable=False),
        sa.Column("opens_machine", sa.Integer, nullable=False),
        sa.Column("clicks_human", sa.Integer, nullable=False),
        sa.Column("clicks_machine", sa.Integer, nullable=False),
        sa.Column("reasons", sa.JSON, nullable=False),
        sa.Column("folded_at", When, nullable=False),
    )


def _hit_tables() -> None:
    op.create_table(
        "tracking_hits",
        sa.Column("send_id", Id, primary_key=True),
        _subscriber_id(primary_key=True),
        sa.Column("link_id", Id, primary_key=True),
        sa.Column("verdict", sa.String(10), primary_key=True),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("first_at", When, nullable=False),
        sa.Column("last_at", When, nullable=False),
        sa.Column("hits", sa.Integer, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_tracking_hits_subscriber", "tracking_hits", ["subscriber_id"])
    op.create_table(
        "tracking_recipients",
        _subscriber_id(primary_key=True),
        sa.Column("send_id", Id, primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("last_at", When, nullable=False),
    )
    op.create_table(
        "tracking_optouts",
        _subscriber_id(primary_key=True),
        sa.Column("created_at", When, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "tracking_optouts",
        "tracking_recipients",
        "tracking_hits",
        "tracking_totals",
        "tracked_sends",
        "tracked_links",
    ):
        op.drop_table(table)
