"""The delivery stage a provider reported (SendGrid's `deferred`, `delivered`) in a column of the
ledger, `deliveries.stage`, instead of words at the start of the free-text `detail`: counts
read the column. Rows that a SendGrid bounce turned `failed` before the ledger had the statuses
`bounced` and `complained` become `bounced`, so `status` and `report` count them alike. And
`notices`: what `send-due` said once and does not repeat on every run.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("stage", sa.String(20), nullable=False, server_default=""))
    for stage in ("deferred", "delivered"):
        op.execute(
            sa.text(
                "UPDATE deliveries SET stage = :stage WHERE status IN ('sent', 'unknown') "
                "AND detail LIKE :prefix"
            ).bindparams(stage=stage, prefix=f"sendgrid: {stage}%")
        )
    op.execute(
        "UPDATE deliveries SET status = 'bounced' "
        "WHERE status = 'failed' AND detail LIKE 'sendgrid: bounce%'"
    )
    op.create_table(
        "notices",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("given_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("notices")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("stage")
