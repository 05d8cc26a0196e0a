"""Connections: the engine for a DATABASE_URL (SQLite file by default, PostgreSQL when it names
one) and how its connections are set up: SQLite pragmas and write-lock polling, the deferred
`reading()` transaction for pure reads, PostgreSQL's idle-connection ping.
"""

from __future__ import annotations

import os
import select
import sqlite3
import stat
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError, OperationalError, SQLAlchemyError

from newsletter.config import mask_url
from newsletter.db.errors import raise_disk_full, store_error
from newsletter.errors import StoreError


def normalise_url(url: str) -> str:
    """Accept the conventional URL forms whatever driver is installed."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


# URL scheme -> database; the drivers are the ones this package installs.
SCHEMES = {
    "sqlite": "sqlite",
    "sqlite+pysqlite": "sqlite",
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "postgresql+psycopg": "postgresql",
}
_USE = (
    "use sqlite:///path/to/file.db (SQLite) or "
    "postgresql://user:password@host:5432/database (PostgreSQL)"
)


def check_url(url: str) -> str:
    """The database `url` names ('sqlite' or 'postgresql'), or a StoreError saying which URLs
    work. The error never repeats the URL beyond its scheme (it may hold a password)."""
    scheme, sep, _ = url.partition("://")
    if not sep:
        raise StoreError(f"DATABASE_URL is not a database URL: {_USE}")
    if scheme.lower() not in SCHEMES:
        raise StoreError(f"DATABASE_URL: unsupported database '{scheme}://': {_USE}")
    return SCHEMES[scheme.lower()]


def _sqlite_path(url: str, *, existing: bool) -> None:
    """Check the path of a SQLite file: not a folder, and there already when `existing`
    (nothing is created then); otherwise create its folder, or say why it cannot be created."""
    path = url.split("///", 1)[1] if "///" in url else ""
    path = path.partition("?")[0]
    if not path or path == ":memory:":
        return
    if Path(path).is_dir():
        raise StoreError(f"DATABASE_URL: {path} is a folder; name a database file in it")
    if existing:
        if not Path(path).is_file():
            raise StoreError(
                f"there is no database at {path} (DATABASE_URL) yet: run newsletter db upgrade, "
                "or any command that writes, to create it"
            )
        return
    folder = Path(path).parent
    try:
        _private_folders(folder)
    except OSError as exc:
        raise StoreError(
            f"DATABASE_URL: cannot create the folder {folder} for the SQLite database: "
            f"{exc.strerror or exc} (choose another path, or create the folder)"
        ) from None
    try:  # the file first, 0600: SQLite gives its -wal and -shm files the database's mode
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    except OSError as exc:
        raise StoreError(
            f"DATABASE_URL: cannot create the SQLite database {path}: {exc.strerror or exc} "
            "(check the folder's owner, or choose another path)"
        ) from None


def _private_folders(folder: Path) -> None:
    """Create `folder` and its missing parents, each 0700 (only the ones made here)."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for created in reversed(missing):
        created.mkdir(mode=0o700, exist_ok=True)
        created.chmod(0o700)  # whatever the umask


def exposed_database(url: str) -> str | None:
    """A warning when the SQLite file at `url` is readable or writable by other users."""
    path = normalise_url(url).split("///", 1)[1] if url.startswith("sqlite") else ""
    path = path.partition("?")[0]
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode) if path and path != ":memory:" else 0
    except OSError:
        return None
    if not mode & 0o066:
        return None
    return (
        f"the database {path} is readable by other users of this machine (mode {mode:04o}): "
        f"run chmod 600 {path}"
    )


def create(url: str, *, existing: bool = False, **options: Any) -> Engine:
    """The engine for `url`, its connections set up (no schema work: see `engine`), with
    SQLAlchemy's `options` (e.g. a pool size). With `existing`, the database must be there
    already and nothing about it changes on opening: no SQLite file, folder or WAL switch."""
    kind = check_url(url)
    url = normalise_url(url)
    try:
        if kind == "sqlite":
            _sqlite_path(url, existing=existing)
            engine = create_engine(url, connect_args={"timeout": 30}, **options)
            event.listen(engine, "connect", _sqlite_session if existing else _sqlite_pragmas)
            event.listen(engine, "begin", _sqlite_begin)
            event.listen(engine, "handle_error", raise_disk_full)  # DiskFull, naming the file
        else:
            engine = create_engine(url, **options)
            event.listen(engine, "connect", _postgresql_session)
            event.listen(engine, "checkin", _mark_idle)
            event.listen(engine, "checkout", _ping_if_idle)
    except (SQLAlchemyError, ValueError) as exc:
        raise store_error(f"DATABASE_URL: cannot use {mask_url(url)}", exc) from None
    return engine


BUSY_TIMEOUT_S = 30.0  # how long a transaction waits for another writer before giving up


def _sqlite_pragmas(dbapi_conn: Any, record: Any) -> None:
    # WAL lets readers work while a send writes (a setting stored in the file: once is enough,
    # and an open that must change nothing leaves it as found, `_sqlite_session` alone).
    _sqlite_session(dbapi_conn, record)
    dbapi_conn.execute("PRAGMA journal_mode=WAL")


def _sqlite_session(dbapi_conn: Any, _record: Any) -> None:
    # Foreign keys are off by default in SQLite. The driver's own implicit transactions are
    # switched off: `_sqlite_begin` takes the write lock at BEGIN, so two processes never
    # deadlock upgrading a read to a write. None of these settings is stored in the file;
    # secure_delete makes `forget` erase (with the WAL checkpoint that follows it).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA secure_delete=ON")  # deleted rows are zeroed, not left in free space
    cur.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
    cur.close()


def _postgresql_session(dbapi_conn: Any, _record: Any) -> None:
    # JIT compiling costs 0.2-0.3 s a statement whenever the planner's cost estimate passes
    # jit_above_cost, which a segment's JSON conditions (estimated at a default selectivity) do
    # on any large list; no statement of ours runs long enough to win it back.
    dbapi_conn.execute("SET SESSION jit = off")
    dbapi_conn.commit()


def reading(engine: Engine) -> Connection:
    """A connection for reads only. On SQLite its transaction is a plain (deferred) BEGIN, so a
    web page never waits for a long writer (WAL readers see the last commit); writing through
    it is a bug. Elsewhere it is an ordinary connection."""
    return engine.connect().execution_options(newsletter_read_only=True)


def _sqlite_begin(conn: Connection) -> None:
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


def _mark_idle(_dbapi_conn: Any, record: Any) -> None:
    record.info["idle_since"] = time.monotonic()


def _ping_if_idle(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
    """Like pool_pre_ping, but only for connections that sat idle (the server may have been
    restarted meanwhile). A busy web worker's connection is never idle, so the one-click path
    does not pay a round trip per request; a dead connection makes the pool open a new one.
    One the server has closed since (a restart ends every session with a last message) has a
    readable socket: that, seen without a round trip, earns the ping whatever the idle time."""
    since = record.info.get("idle_since")
    if since is None:
        return
    if time.monotonic() - since < IDLE_PING_S and not _has_input(dbapi_conn):
        return
    try:
        with dbapi_conn.cursor() as cur:
            cur.execute("SELECT 1")
        dbapi_conn.rollback()
    except Exception as exc:  # any failure here means: do not use this connection
        raise DisconnectionError(f"stale pooled connection: {exc}") from None


def _has_input(dbapi_conn: Any) -> bool:
    """Whether the server sent an idle session something: usually its last words before closing
    it (a restart), so the ping settles it. One poll, no I/O."""
    try:
        poller = select.poll()  # not select(): no limit on the descriptor's number
        poller.register(dbapi_conn.fileno(), select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError, AttributeError):  # closed already, or no socket to ask
        return True


def ping(engine: Engine) -> bool:
    """Whether the database answers a trivial read (for health checks)."""
    from sqlalchemy import text

    try:
        with reading(engine) as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return False
    return True
