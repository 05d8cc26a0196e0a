"""Database engine and the current schema (SQLAlchemy Core).

SQLite file by default, PostgreSQL when DATABASE_URL names one. The tables here describe the
schema at the latest migration; `migrations.py` holds the frozen steps that build it.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.exc import DisconnectionError, OperationalError, SQLAlchemyError

from newsletter.errors import StoreError

metadata = MetaData()

# A BIGINT on PostgreSQL, INTEGER (and so the rowid alias) on SQLite.
Id = BigInteger().with_variant(Integer(), "sqlite")

lists = Table(
    "lists",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("slug", String(100), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("from_name", String(200), nullable=False, default=""),
    Column("from_address", String(320), nullable=False, default=""),
    Column("reply_to", String(320), nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False),  # as given
    Column("email_key", String(320), nullable=False, unique=True),  # normalised for lookups
    Column("name", String(200), nullable=False, default=""),
    Column("attributes", JSON, nullable=False, default=dict),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# status: subscribed | unconfirmed | unsubscribed
memberships = Table(
    "memberships",
    metadata,
    Column("subscriber_id", Id, ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True),
    Column("list_id", Id, ForeignKey("lists.id", ondelete="CASCADE"), primary_key=True),
    Column("status", String(20), nullable=False),
    Column("source", String(200), nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_memberships_list_status", "list_id", "status", "subscriber_id"),
)

# reason: unsubscribed | bounced | complained | manual. list_id 0 = every list (global).
# Matched on address_hash (sha256 of the normalised address) so `forget` can erase the address.
suppressions = Table(
    "suppressions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("address_hash", String(64), nullable=False),
    Column("email", String(320), nullable=True),  # NULL once forgotten
    Column("list_id", Id, nullable=False, default=0),
    Column("reason", String(20), nullable=False),
    Column("source", String(200), nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("address_hash", "list_id", name="uq_suppressions_address_list"),
)

# What happened to a subscriber, for `subscribers show` (erased by `forget`).
subscriber_events = Table(
    "subscriber_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("subscriber_id", Id, ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=False),
    Column("list_id", Id, nullable=True),
    Column("kind", String(40), nullable=False),
    Column("detail", Text, nullable=False, default=""),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_subscriber_events_subscriber", "subscriber_id", "id"),
)

# One row per send of an issue. The rendered content is stored so that a resumed send or a
# worker on another machine sends exactly the same bytes.
# status: running | paused | cancelled | done
sends = Table(
    "sends",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("issue_id", String(200), nullable=False),
    Column("list_slugs", JSON, nullable=False),
    Column("status", String(20), nullable=False),
    Column("backend", String(20), nullable=False),
    Column("subject", Text, nullable=False),
    Column("html", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("source_hash", String(64), nullable=False),
    Column("options", JSON, nullable=False, default=dict),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Index("ix_sends_issue", "issue_id"),
)

# The per-recipient ledger. status: queued | claimed | sent | failed | skipped | unknown
deliveries = Table(
    "deliveries",
    metadata,
    Column("send_id", Id, ForeignKey("sends.id", ondelete="CASCADE"), primary_key=True),
    Column("subscriber_id", Id, primary_key=True),
    Column("email", String(320), nullable=False),
    Column("status", String(20), nullable=False),
    Column("claimed_by", String(100), nullable=True),
    Column("claimed_at", DateTime(timezone=True), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("detail", Text, nullable=False, default=""),
    Column("provider_id", String(200), nullable=False, default=""),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_deliveries_send_status", "send_id", "status", "subscriber_id"),
)

# Named advisory locks that hold across processes and machines (send-due, a send's start).
locks = Table(
    "locks",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("owner", String(200), nullable=False),
    Column("acquired_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)


def now() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def normalise_url(url: str) -> str:
    """Accept the conventional URL forms whatever driver is installed."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, *, upgrade: bool = True) -> Engine:
    """Create the engine; by default also bring the schema up to date (first use = migrate)."""
    url = normalise_url(url)
    try:
        if url.startswith("sqlite"):
            path = url.split("///", 1)[1] if "///" in url else ""
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "begin", _sqlite_begin)
        else:
            engine = create_engine(url)
            event.listen(engine, "checkin", _mark_idle)
            event.listen(engine, "checkout", _ping_if_idle)
    except (SQLAlchemyError, ValueError) as exc:
        raise StoreError(f"DATABASE_URL: cannot use {_safe(url)}: {exc}") from None
    if upgrade:
        from newsletter.migrations import upgrade as run_upgrade

        run_upgrade(engine)
    return engine


BUSY_TIMEOUT_S = 30.0  # how long a transaction waits for another writer before giving up


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    # WAL lets readers work while a send writes; foreign keys are off by default in SQLite.
    # The driver's own implicit transactions are switched off: `_sqlite_begin` takes
    # the write lock at BEGIN, so two processes never deadlock upgrading a read to a write.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
    cur.close()


def reading(engine: Engine) -> Connection:
    """A connection for reads only. On SQLite its transaction is a plain (deferred) BEGIN, so a
    web page never waits for a long writer (WAL readers see the last commit); writing through
    it is a bug. Elsewhere it is an ordinary connection."""
    return engine.connect().execution_options(newsletter_read_only=True)


def _sqlite_begin(conn) -> None:  # type: ignore[no-untyped-def]
    """BEGIN IMMEDIATE, waiting for the write lock by polling every 0.1 to 1 ms ourselves; a
    `reading()` connection gets a plain deferred BEGIN instead (WAL readers never wait).

    SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25, 50, 100 ms between retries, so
    under many small concurrent writers (one-click unsubscribes from several server processes)
    a transaction of 0.3 ms could wait 100 ms. Polling keeps the wait close to the holder's
    actual transaction time; statements inside the transaction keep the normal busy timeout.
    """
    raw = conn.connection.dbapi_connection
    if conn.get_execution_options().get("newsletter_read_only"):
        raw.execute("BEGIN")
        return
    raw.execute("PRAGMA busy_timeout=0")
    try:
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        delay = 0.0001
        while True:
            try:
                raw.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise OperationalError("BEGIN IMMEDIATE", None, exc) from None
                if time.monotonic() > deadline:
                    raise OperationalError("BEGIN IMMEDIATE", None, exc) from None
            time.sleep(delay)
            delay = min(delay * 1.5, 0.001)
    finally:
        raw.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")


IDLE_PING_S = 5.0  # a pooled connection idle longer than this is checked before use


def _mark_idle(_dbapi_conn, record) -> None:  # type: ignore[no-untyped-def]
    record.info["idle_since"] = time.monotonic()


def _ping_if_idle(dbapi_conn, record, _proxy) -> None:  # type: ignore[no-untyped-def]
    """Like pool_pre_ping, but only for connections that sat idle (the server may have been
    restarted meanwhile). A busy web worker's connection is never idle, so the one-click path
    does not pay a round trip per request; a dead connection makes the pool open a new one."""
    since = record.info.get("idle_since")
    if since is None or time.monotonic() - since < IDLE_PING_S:
        return
    try:
        with dbapi_conn.cursor() as cur:
            cur.execute("SELECT 1")
        dbapi_conn.rollback()
    except Exception as exc:  # any failure here means: do not use this connection
        raise DisconnectionError(f"stale pooled connection: {exc}") from None


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _safe(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    return f"{scheme}{sep}{creds.split(':', 1)[0]}:****@{host}" if at and ":" in creds else url
