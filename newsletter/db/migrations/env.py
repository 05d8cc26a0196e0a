"""Alembic environment: always run by `newsletter.db.migrate` on a connection it already holds
(in a transaction, under the migration lock), never from an alembic.ini."""

from __future__ import annotations

from alembic import context

from newsletter.db.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,  # SQLite cannot ALTER most things: rebuild the table instead
    compare_type=True,
)
with context.begin_transaction():  # the caller's transaction: all revisions commit together
    context.run_migrations()
