"""Sequences (issue 26): the sequences `send-due` registers (`sequences`, `sequence_steps`), each
reader's clock and cursor in one (`sequence_members`), the version of a step each reader got
(`deliveries.version`), memberships that join no sequence (`memberships.no_sequences`, set by
`import --no-sequences`) and the index enrolment reads memberships by (list, subscribed_at).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("memberships") as batch:
        batch.add_column(
            sa.Column("no_sequences", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.create_index("ix_memberships_list_subscribed", ["list_id", "subscribed_at"])
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("version", sa.String(64), nullable=True))
    op.create_table(
        "sequences",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("list_ids", sa.JSON(), nullable=False),
        sa.Column("join", sa.String(10), nullable=False),
        sa.Column("stop_on_unsubscribe", sa.Boolean(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("first_seen_at", _WHEN, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.Column("enrolled_to", _WHEN, nullable=True),
    )
    op.create_table(
        "sequence_steps",
        sa.Column("sequence", sa.String(200), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("after_s", sa.Integer(), nullable=False),
        sa.Column("first_seen_at", _WHEN, nullable=False),
        sa.Column("removed_at", _WHEN, nullable=True),
        sa.Column("send_id", _ID, nullable=True),
    )
    op.create_table(
        "sequence_members",
        sa.Column("sequence", sa.String(200), primary_key=True),
        sa.Column("subscriber_id", _ID, primary_key=True),
        sa.Column("list_id", _ID, nullable=False),
        sa.Column("joined_at", _WHEN, nullable=False),
        sa.Column("left_at", _WHEN, nullable=True),
        sa.Column("left_reason", sa.String(40), nullable=False, server_default=""),
        sa.Column("next_key", sa.String(200), nullable=True),
    )
    op.create_index(
        "ix_sequence_members_due", "sequence_members", ["sequence", "next_key", "joined_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_sequence_members_due", "sequence_members")
    op.drop_table("sequence_members")
    op.drop_table("sequence_steps")
    op.drop_table("sequences")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("version")
    with op.batch_alter_table("memberships") as batch:
        batch.drop_index("ix_memberships_list_subscribed")
        batch.drop_column("no_sequences")
