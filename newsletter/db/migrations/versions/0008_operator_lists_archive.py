"""An operator's first week: lists that can be private, renamed and deleted, and sends matched
to their lists by id.

- `lists.private`: never subscribable on the web, never in the archive (false for every list
  that exists: nothing published today disappears).
- `lists.deleted_at`: a deleted list kept as a tombstone, so links already mailed keep
  unsubscribing (NULL: a live list).
- `sends.list_ids`: the ids of the lists a send went to, backfilled from `list_slugs` through
  the lists as they are now; a send is found by these, so `lists rename` cannot make `send`
  mail a list again. A slug no list has any more backfills no id.
- `sends.web_html`: the archive page of the issue exactly as sent (NULL for older sends: the
  archive renders those as before).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# A batch ALTER rebuilds a SQLite table: keep AUTOINCREMENT (ids never reused, revision 0002).
NEVER_REUSED = {"sqlite_autoincrement": True}


def upgrade() -> None:
    with op.batch_alter_table("lists", table_kwargs=NEVER_REUSED) as batch:
        batch.add_column(
            sa.Column("private", sa.Boolean, nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("sends", table_kwargs=NEVER_REUSED) as batch:
        batch.add_column(sa.Column("list_ids", sa.JSON, nullable=True))
        batch.add_column(sa.Column("web_html", sa.Text, nullable=True))
    _backfill_list_ids()
    with op.batch_alter_table("sends", table_kwargs=NEVER_REUSED) as batch:
        batch.alter_column("list_ids", existing_type=sa.JSON, nullable=False)


def _backfill_list_ids() -> None:
    """Each send's slugs mapped to ids (sends are few: one row per send of an issue)."""
    conn = op.get_bind()
    lists = sa.table("lists", sa.column("id", sa.Integer), sa.column("slug", sa.String))
    sends = sa.table(
        "sends",
        sa.column("id", sa.Integer),
        sa.column("list_slugs", sa.JSON),
        sa.column("list_ids", sa.JSON),
    )
    ids = {slug: i for i, slug in conn.execute(sa.select(lists.c.id, lists.c.slug))}
    for send_id, slugs in conn.execute(sa.select(sends.c.id, sends.c.list_slugs)).all():
        found = [ids[s] for s in slugs or [] if s in ids]
        conn.execute(sends.update().where(sends.c.id == send_id).values(list_ids=found))


def downgrade() -> None:
    with op.batch_alter_table("sends", table_kwargs=NEVER_REUSED) as batch:
        batch.drop_column("web_html")
        batch.drop_column("list_ids")
    with op.batch_alter_table("lists", table_kwargs=NEVER_REUSED) as batch:
        batch.drop_column("deleted_at")
        batch.drop_column("private")
