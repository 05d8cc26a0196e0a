"""Languages (issue 27): a list may have its own language.

- `lists.language`: a language code (`fr`, `pt-BR`) its sends and pages use when the issue
  names none; '' (every list that exists) follows the `language` setting, as before.

A send's language is kept in `sends.options` (`language`), which needs no column.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# A batch ALTER rebuilds a SQLite table: keep AUTOINCREMENT (ids never reused, revision 0002).
NEVER_REUSED = {"sqlite_autoincrement": True}


def upgrade() -> None:
    with op.batch_alter_table("lists", table_kwargs=NEVER_REUSED) as batch:
        batch.add_column(sa.Column("language", sa.String(35), nullable=False, server_default=""))
