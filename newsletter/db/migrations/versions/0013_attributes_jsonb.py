"""Subscribers' attributes as `jsonb` on PostgreSQL (issue 24, speed): a segment reads them
once a row, and `jsonb` is parsed once when written rather than at every read (`json` is kept
as text). SQLite stores JSON as text either way: nothing changes there.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE subscribers ALTER COLUMN attributes TYPE jsonb USING attributes::jsonb"
        )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE subscribers ALTER COLUMN attributes TYPE json USING attributes::json"
        )
