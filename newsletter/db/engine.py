"""The two ways to open the database for a DATABASE_URL:

- `make_engine`: the schema brought up to date (created on first use, migrated after an
  upgrade of newsletter): the commands that write and the web app;
- `open_for_reading`: never creates and never upgrades anything, and refuses in one line a
  database that is missing, empty or at another revision: the commands that only read
  (`status`, `report`, `lists`, `subscribers show` and `export`, `schedule`; a list lookup).
"""

from __future__ import annotations

from sqlalchemy import Engine

from newsletter.db import connection, migrate


def make_engine(url: str, *, upgrade: bool = True) -> Engine:
    """Create the engine; by default also bring the schema up to date (first use = migrate)."""
    engine = connection.create(url)
    if upgrade:
        migrate.upgrade(engine)
    return engine


def open_for_reading(url: str) -> Engine:
    """The engine of a database that exists at the newest revision; opening it changes nothing
    (no file, schema, migration lock or WAL switch). Writes through it still work: `report`
    folds expired hits into totals, on a schema that needs no upgrade for it."""
    engine = connection.create(url, existing=True)
    try:
        migrate.require_newest(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine
