"""What each worker of a running send has learned about its relay (SMTP): sessions, rate,
throttling. Shared by the send's processes, shown by `status`.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# A BIGINT on PostgreSQL, INTEGER (and so the rowid alias) on SQLite.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "send_pacing",
        sa.Column("send_id", Id, sa.ForeignKey("sends.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("worker", sa.String(100), primary_key=True),
        sa.Column("sessions", sa.Integer, nullable=False),
        sa.Column("session_limit", sa.Integer, nullable=False),
        sa.Column("rate", sa.Float, nullable=False),
        sa.Column("throttled", sa.Boolean, nullable=False),
        sa.Column("throttled_s", sa.Float, nullable=False),
        sa.Column("refusals", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("send_pacing")
