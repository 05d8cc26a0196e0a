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
- The name placeholder no longer falls back to "there" in code: templates say it
  (`reader("name", "there")`). Stored sends, which a resume sends on, get the same placeholder
  in place of the old one, so their readers without a name are still greeted "Hi there,".

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
        batch.alter_column(
            "list_ids", existing_type=sa.JSON, nullable=False, server_default=sa.text("'[]'")
        )
    _swap_name_placeholder(OLD_NAME, NAME_OR_THERE)


OLD_NAME = "__NL_NAME__"  # revision 0007's name placeholder, "there" when blank
NAME_OR_THERE = "__NL_R_name__" + b"there".hex() + "__"  # authoring.readers spelling


def _swap_name_placeholder(old: str, new: str) -> None:
    for table, columns in (("sends", ("subject", "html", "text")), ("tracked_sends", ("html",))):
        sets = ", ".join(f"{c} = REPLACE({c}, :old, :new)" for c in columns)
        op.execute(sa.text(f"UPDATE {table} SET {sets}").bindparams(old=old, new=new))


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
    _swap_name_placeholder(NAME_OR_THERE, OLD_NAME)
    with op.batch_alter_table("sends", table_kwargs=NEVER_REUSED) as batch:
        batch.drop_column("web_html")
        batch.drop_column("list_ids")
    with op.batch_alter_table("lists", table_kwargs=NEVER_REUSED) as batch:
        batch.drop_column("deleted_at")
        batch.drop_column("private")
