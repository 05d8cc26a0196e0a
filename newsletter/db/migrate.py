"""Schema migrations with Alembic, run from the code: `newsletter db upgrade`, and automatically
on first use (`engine.make_engine`). Users never need an alembic.ini of their own.

Every pending revision runs in ONE transaction, under a migration lock: an advisory transaction
lock on PostgreSQL, the write lock (BEGIN IMMEDIATE) on SQLite. So two processes upgrading at
once end with one correct schema, and a failed upgrade leaves the database as it was.

On SQLite, foreign keys are off while migrations run: a batch ALTER rebuilds a table by copying
it, dropping the original and renaming the copy, and with foreign keys on, dropping a parent
table would cascade to its children (memberships, events, deliveries). The pragma cannot change
inside a transaction, so it is switched on the connection before BEGIN and back after, and
`PRAGMA foreign_key_check` must find nothing before the commit.

A database written by release 0.1.0 (its hand-made `schema_version` table at 3) is recognised,
stamped at revision 0001, its old version table dropped, and its data left as it was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, inspect, text

from newsletter.db.connection import reading
from newsletter.db.dialect import is_sqlite, lock_for_transaction
from newsletter.db.errors import translated
from newsletter.errors import StoreError

_REVISION = re.compile(r"^revision = [\"']([^\"']+)[\"']", re.M)
HEAD = "0012"  # the newest revision (a test checks it against migrations/versions)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
LOCK_NAME = "newsletter:schema-migration"
LEGACY_TABLE = "schema_version"  # release 0.1.0's own version table
LEGACY_HEAD = 3  # ... and the version that release reached
LEGACY_REVISION = "0001"  # the revision that froze that release's schema
_UNAVAILABLE = (
    "cannot open or upgrade the database (check DATABASE_URL and that its server is running)"
)


@dataclass(frozen=True)
class Upgrade:
    before: str | None  # None: an empty database
    after: str | None

    @property
    def changed(self) -> bool:
        return self.before != self.after


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty one, `legacy-N` for 0.1.0's)."""
    with translated(_UNAVAILABLE), reading(engine) as conn:
        return _revision(conn)


def upgrade(engine: Engine, target: str = "head", *, location: Path = MIGRATIONS) -> Upgrade:
    """Bring the schema to `target`; returns the revisions before and after."""
    now = current_revision(engine)
    if target == "head" and location == MIGRATIONS and now == HEAD:
        return Upgrade(now, now)  # the common case: one cheap read, no lock, no Alembic import
    _refuse_unknown(now, location)
    with translated(_UNAVAILABLE):
        if is_sqlite(engine):
            return _upgrade_sqlite(engine, target, location)
        with engine.begin() as conn:
            lock_for_transaction(conn, LOCK_NAME)
            return _run(conn, target, location)


def require_newest(engine: Engine) -> None:
    """Refuse, in one line that says what to do, a database that is not at the newest revision
    (for the opens that never change the schema: `engine.open_for_reading`)."""
    now = current_revision(engine)
    if now == HEAD:
        return
    if now is None:
        raise StoreError(
            "the database named by DATABASE_URL is empty (no newsletter tables): there is no "
            "newsletter database there yet; run newsletter db upgrade to create one"
        )
    _refuse_unknown(now)
    raise StoreError(
        f"the database is at schema revision {now}, older than this version's {HEAD}: "
        "run newsletter db upgrade"
    )


def _refuse_unknown(now: str | None, location: Path = MIGRATIONS) -> None:
    """A revision this code does not know: a newer release wrote the database."""
    if now is not None and not now.startswith("legacy-") and now not in known_revisions(location):
        raise StoreError(
            f"the database is at schema revision {now}, which this version of newsletter does "
            f"not know (its newest is {HEAD}): a newer release wrote it; upgrade newsletter"
        )


def known_revisions(location: Path = MIGRATIONS) -> set[str]:
    """The revision ids of the scripts in `location` (read as text: no Alembic import)."""
    found = set()
    for script in (location / "versions").glob("*.py"):
        match = _REVISION.search(script.read_text(encoding="utf-8"))
        if match:
            found.add(match.group(1))
    return found


def _upgrade_sqlite(engine: Engine, target: str, location: Path) -> Upgrade:
    with engine.connect() as conn:
        raw: Any = conn.connection.dbapi_connection
        raw.execute("PRAGMA foreign_keys=OFF")  # before BEGIN: no effect inside a transaction
        try:
            with (
                conn.begin()
            ):  # BEGIN IMMEDIATE (connection.py): the write lock is the migration lock
                result = _run(conn, target, location)
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    table, rowid, parent, _ = broken[0]
                    raise StoreError(
                        f"schema upgrade stopped: {len(broken)} row(s) would lose their parent "
                        f"(first: {table} row {rowid} -> {parent}); nothing was changed"
                    )
        finally:
            raw.execute("PRAGMA foreign_keys=ON")
    return result


def _run(conn: Connection, target: str, location: Path) -> Upgrade:
    from alembic import command

    before = _revision(conn)
    config = _config(conn, location)
    if before is not None and before.startswith("legacy-"):
        if before != f"legacy-{LEGACY_HEAD}":
            raise StoreError(
                f"this database was left half-migrated by an early release ({before}); "
                "restore it from a backup taken before the upgrade"
            )
        command.stamp(config, LEGACY_REVISION)
        conn.execute(text(f"DROP TABLE {LEGACY_TABLE}"))
    command.upgrade(config, target)
    return Upgrade(before, _revision(conn))


def _config(conn: Connection, location: Path) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(location))
    config.attributes["connection"] = conn
    return config


def _revision(conn: Connection) -> str | None:
    tables = set(inspect(conn).get_table_names())
    if "alembic_version" in tables:
        found = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        return found[0] if found else None
    if LEGACY_TABLE in tables:
        versions = conn.execute(text(f"SELECT version FROM {LEGACY_TABLE}")).scalars().all()
        return f"legacy-{max(versions, default=0)}"
    return None
