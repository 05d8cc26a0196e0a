"""`make_engine`: the engine for a DATABASE_URL with its schema brought up to date (the
automatic upgrade on first use); every command and the web app open the database here."""

from __future__ import annotations

from sqlalchemy import Engine

from newsletter.db import connection, migrate


def make_engine(url: str, *, upgrade: bool = True) -> Engine:
    """Create the engine; by default also bring the schema up to date (first use = migrate)."""
    engine = connection.create(url)
    if upgrade:
        migrate.upgrade(engine)
    return engine
