"""Subject-line tests (issue 25): each variant's content with the send (`send_variants`), the
test and its verdict (`ab_tests`), and each reader's variant in the ledger (`deliveries.variant`;
NULL outside a test). Rows outside a test's sample wait with the ledger status `held`.

Revision ID: 0010
Revises: 0008 (the lead re-chains it after the segments revision 0009)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("variant", sa.SmallInteger(), nullable=True))
    op.create_table(
        "send_variants",
        sa.Column("send_id", _ID, sa.ForeignKey("sends.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("variant", sa.Integer(), primary_key=True),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("preheader", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("tracked_html", sa.Text(), nullable=True),
        sa.Column("web_html", sa.Text(), nullable=False),
    )
    op.create_table(
        "ab_tests",
        sa.Column("send_id", _ID, sa.ForeignKey("sends.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("wait_seconds", sa.Integer(), nullable=False),
        sa.Column("metric", sa.String(10), nullable=False),
        sa.Column("tie", sa.String(10), nullable=False),
        sa.Column("variants", sa.Integer(), nullable=False),
        sa.Column("sample", sa.Integer(), nullable=False),
        sa.Column("tested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("winner_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("winner", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(10), nullable=True),
        sa.Column("conclusive", sa.Boolean(), nullable=True),
        sa.Column("p_value", sa.Float(), nullable=True),
        sa.Column("figures", sa.JSON(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("ab_tests")
    op.drop_table("send_variants")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("variant")
