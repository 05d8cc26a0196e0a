"""Segments (issue 24): each subscriber's address hash and domain as indexed columns, so
suppression is an anti-join in SQL and `domain` a plain comparison; when each membership became
`subscribed` (backfilled from `updated_at` for those subscribed now); and the attribute names
imports have written, so a segment can warn about an unknown one without reading every
subscriber's attributes (filled once here from the stored attributes).

Revision ID: 0009
Revises: 0007
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_BATCH = 10_000


def upgrade() -> None:
    with op.batch_alter_table("subscribers") as batch:
        batch.add_column(sa.Column("address_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("domain", sa.String(255), nullable=True))
    conn = op.get_bind()
    _fill_derived(conn)
    counter = _sqlite_counter(conn)
    with op.batch_alter_table("subscribers", table_kwargs=_KEEP_AUTOINCREMENT) as batch:
        batch.alter_column("address_hash", existing_type=sa.String(64), nullable=False)
        batch.alter_column("domain", existing_type=sa.String(255), nullable=False)
        batch.create_index("ix_subscribers_address_hash", ["address_hash"])
        batch.create_index("ix_subscribers_domain", ["domain"])
    _restore_counter(conn, counter)
    with op.batch_alter_table("memberships") as batch:
        batch.add_column(sa.Column("subscribed_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE memberships SET subscribed_at = updated_at WHERE status = 'subscribed'")
    op.create_table(
        "attribute_names",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    _fill_names(op.get_bind())


# SQLite rebuilds the table for the NOT NULL change: it keeps AUTOINCREMENT (revision 0002), and
# its counter goes back to where it was, so an erased subscriber's id is still never reused.
_KEEP_AUTOINCREMENT = {"sqlite_autoincrement": True}
_COUNTER = "SELECT seq FROM sqlite_sequence WHERE name = 'subscribers'"


def _sqlite_counter(conn: sa.Connection) -> int | None:
    if conn.dialect.name != "sqlite":
        return None
    return conn.execute(sa.text(_COUNTER)).scalar()


def _restore_counter(conn: sa.Connection, counter: int | None) -> None:
    if counter is None:
        return
    now = conn.execute(sa.text(_COUNTER)).scalar()
    if now is None:
        conn.execute(
            sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES ('subscribers', :n)"),
            {"n": counter},
        )
    elif now < counter:
        conn.execute(
            sa.text("UPDATE sqlite_sequence SET seq = :n WHERE name = 'subscribers'"),
            {"n": counter},
        )


def _fill_derived(conn: sa.Connection) -> None:
    """address_hash = sha256(email_key), domain = what follows its last `@`: one UPDATE on
    PostgreSQL, batches computed in Python on SQLite (which has no sha256)."""
    if conn.dialect.name != "sqlite":
        conn.execute(
            sa.text(
                "UPDATE subscribers SET address_hash = "
                "encode(sha256(convert_to(email_key, 'UTF8')), 'hex'), "
                "domain = regexp_replace(email_key, '^.*@', '')"
            )
        )
        return
    last = 0
    while True:
        rows = conn.execute(
            sa.text("SELECT id, email_key FROM subscribers WHERE id > :last ORDER BY id LIMIT :n"),
            {"last": last, "n": _BATCH},
        ).all()
        if not rows:
            return
        conn.execute(
            sa.text("UPDATE subscribers SET address_hash = :h, domain = :d WHERE id = :i"),
            [
                {
                    "h": hashlib.sha256(key.encode("utf-8")).hexdigest(),
                    "d": key.rpartition("@")[2],
                    "i": i,
                }
                for i, key in rows
            ],
        )
        last = rows[-1][0]


def _fill_names(conn: sa.Connection) -> None:
    """The attribute names already stored, read once (from here on, imports add theirs)."""
    if conn.dialect.name == "sqlite":
        query = (
            "SELECT DISTINCT j.key FROM subscribers, json_each(subscribers.attributes) AS j "
            "WHERE j.key IS NOT NULL"
        )
    else:
        query = (
            "SELECT DISTINCT json_object_keys(attributes) FROM subscribers "
            "WHERE json_typeof(attributes) = 'object'"
        )
    names = sorted({str(n) for (n,) in conn.execute(sa.text(query))})
    if names:
        table = sa.table(
            "attribute_names", sa.column("name"), sa.column("created_at", sa.DateTime(True))
        )
        now = datetime.now(UTC)
        conn.execute(table.insert(), [{"name": n[:200], "created_at": now} for n in names])


def downgrade() -> None:
    op.drop_table("attribute_names")
    with op.batch_alter_table("memberships") as batch:
        batch.drop_column("subscribed_at")
    with op.batch_alter_table("subscribers", table_kwargs=_KEEP_AUTOINCREMENT) as batch:
        batch.drop_index("ix_subscribers_domain")
        batch.drop_index("ix_subscribers_address_hash")
        batch.drop_column("domain")
        batch.drop_column("address_hash")
