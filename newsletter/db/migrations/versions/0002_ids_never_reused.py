"""Ids are never reused: on SQLite, lists, subscribers and sends get AUTOINCREMENT.

Their ids travel in signed links (unsubscribe, preferences, confirm), in the opaque recipient
tag and in the delivery ledger. Without AUTOINCREMENT, SQLite hands out max(id) + 1, so after the
newest subscriber is forgotten or removed, the next one got the same id and the old person's
links acted on the new person. AUTOINCREMENT keeps the largest id ever used (in
`sqlite_sequence`); each table is rebuilt with it (batch mode, the definition spelled out here)
and its counter starts above every id still referenced anywhere, so ids deleted before this
upgrade but still named by the ledger are not handed out again either.
PostgreSQL needs nothing: its sequences never go back.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

When = sa.DateTime(timezone=True)
Id = sa.Integer()  # SQLite only: INTEGER PRIMARY KEY is the rowid, which AUTOINCREMENT needs


def _lists(meta: sa.MetaData) -> sa.Table:
    return sa.Table(
        "lists",
        meta,
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("slug", sa.String(100), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("from_name", sa.String(200), nullable=False),
        sa.Column("from_address", sa.String(320), nullable=False),
        sa.Column("reply_to", sa.String(320), nullable=False),
        sa.Column("created_at", When, nullable=False),
    )


def _subscribers(meta: sa.MetaData) -> sa.Table:
    return sa.Table(
        "subscribers",
        meta,
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("email_key", sa.String(320), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("attributes", sa.JSON, nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("updated_at", When, nullable=False),
    )


def _sends(meta: sa.MetaData) -> sa.Table:
    return sa.Table(
        "sends",
        meta,
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("issue_id", sa.String(200), nullable=False),
        sa.Column("list_slugs", sa.JSON, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("backend", sa.String(20), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("html", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("source_hash", sa.String(64), nullable=False),
        sa.Column("options", sa.JSON, nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("started_at", When, nullable=True),
        sa.Column("finished_at", When, nullable=True),
        sa.Index("ix_sends_issue", "issue_id"),
    )


# table -> the columns elsewhere that may still name one of its ids (a deleted row's included)
_REFERENCES = {
    "lists": [("memberships", "list_id"), ("suppressions", "list_id")],
    "subscribers": [("deliveries", "subscriber_id"), ("subscriber_events", "subscriber_id")],
    "sends": [("deliveries", "send_id")],
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return  # PostgreSQL's sequences never hand out an id twice
    meta = sa.MetaData()
    for build in (_lists, _subscribers, _sends):
        table = build(meta)
        with op.batch_alter_table(
            table.name,
            recreate="always",
            copy_from=table,
            table_kwargs={"sqlite_autoincrement": True},
        ):
            pass
    for name, refs in _REFERENCES.items():
        _start_counter_above(name, refs)


def _start_counter_above(table: str, refs: list[tuple[str, str]]) -> None:
    """sqlite_sequence[table] = the largest id the table or any reference has ever shown."""
    highest = " ".join(f"UNION ALL SELECT max({col}) FROM {ref}" for ref, col in refs)
    op.execute(
        f"INSERT INTO sqlite_sequence (name, seq) SELECT '{table}', 0 "
        f"WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = '{table}')"
    )
    op.execute(
        f"UPDATE sqlite_sequence SET seq = max(seq, (SELECT coalesce(max(m), 0) FROM "
        f"(SELECT max(id) AS m FROM {table} {highest}))) WHERE name = '{table}'"
    )


def downgrade() -> None:
    pass  # AUTOINCREMENT is harmless to keep; dropping it would allow ids to be reused again
