"""Mail that came back: bounces, complaints and delay notices per (send, subscriber).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# A BIGINT on PostgreSQL, INTEGER (and so the rowid alias) on SQLite.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "bounces",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("send_id", Id, nullable=False),
        sa.Column("subscriber_id", Id, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("category", sa.String(20), nullable=False),
        sa.Column("status_code", sa.String(20), nullable=False),
        sa.Column("diagnostic", sa.Text, nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint(
            "send_id", "subscriber_id", "kind", name="uq_bounces_send_subscriber_kind"
        ),
    )
    op.create_index("ix_bounces_subscriber", "bounces", ["subscriber_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_bounces_subscriber", table_name="bounces")
    op.drop_table("bounces")
