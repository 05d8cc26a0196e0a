"""Notices given once: a line cron would otherwise mail on every run (`send-due`'s "too late
to send automatically") is recorded by name when first given, and not given again."""

from __future__ import annotations

from sqlalchemy import Engine

from newsletter.db import tables
from newsletter.db.clock import utcnow
from newsletter.db.dialect import insert_skipping


def first_time(engine: Engine, name: str) -> bool:
    """Record notice `name`; True when it was not given before (so give it now)."""
    with engine.begin() as conn:
        stmt = insert_skipping(conn, tables.notices, ("name",), returning=("name",))
        return conn.execute(stmt, {"name": name[:200], "given_at": utcnow()}).first() is not None
