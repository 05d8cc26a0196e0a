"""The IMAP folders `newsletter mailbox` has read since it marks processed mail with a keyword
of its own: on a folder's first run, `\\Seen` mail without the keyword (processed by a release
that used `\\Seen` to mean processed) counts as processed once; after that only the keyword does.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mailbox_folders",
        sa.Column("name", sa.String(600), primary_key=True),
        sa.Column("keyword_since", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("mailbox_folders")
