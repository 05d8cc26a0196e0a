"""What every table module shares: the one MetaData, the id type, and the never-reused option."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Integer, MetaData
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

# A BIGINT on PostgreSQL, INTEGER (and so the rowid alias) on SQLite.
Id = BigInteger().with_variant(Integer(), "sqlite")
# A subscriber's attributes: `jsonb` on PostgreSQL (parsed once when written; revision 0013).
Attributes = JSON().with_variant(JSONB(), "postgresql")
# Tables whose ids travel in signed links, recipient tags or the ledger never hand an id out twice:
# AUTOINCREMENT on SQLite (revision 0002); PostgreSQL's sequences never go back anyway.
NEVER_REUSED = {"sqlite_autoincrement": True}
