"""Schema migrations: numbered steps, applied in order, each in its own transaction.

`schema_version` records every applied step. Run by `newsletter db upgrade` and automatically on
first use (`db.make_engine`). A released step never changes: when a later step alters a table
(ALTER TABLE ... ADD COLUMN etc.), freeze that table's earlier definition inside the earlier step
instead of taking it from `db.metadata`.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, Engine, inspect, select
from sqlalchemy.exc import SQLAlchemyError

from newsletter import db
from newsletter.errors import StoreError


def _create(conn: Connection, *names: str) -> None:
    for name in names:
        db.metadata.tables[name].create(conn, checkfirst=True)


def _v1_subscribers(conn: Connection) -> None:
    _create(conn, "lists", "subscribers", "memberships", "suppressions")


def _v2_history(conn: Connection) -> None:
    _create(conn, "subscriber_events")


def _v3_ledger(conn: Connection) -> None:
    _create(conn, "sends", "deliveries", "locks")


STEPS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "lists, subscribers, memberships, suppressions", _v1_subscribers),
    (2, "subscriber history", _v2_history),
    (3, "send ledger and locks", _v3_ledger),
]
HEAD = STEPS[-1][0]


def current_version(conn: Connection) -> int:
    if not inspect(conn).has_table("schema_version"):
        return 0
    versions = conn.execute(select(db.schema_version.c.version)).scalars().all()
    return max(versions, default=0)


def upgrade(engine: Engine, target: int = HEAD) -> list[str]:
    """Apply every missing step up to `target`; returns what was applied. Safe to run twice at
    once: the version table's primary key makes a racing second run fail its step and retry."""
    applied: list[str] = []
    try:
        with engine.connect() as conn:
            if current_version(conn) >= target:
                return applied
        for attempt in range(3):
            try:
                with engine.begin() as conn:
                    db.schema_version.create(conn, checkfirst=True)
                    version = current_version(conn)
                    for number, title, step in STEPS:
                        if version < number <= target:
                            step(conn)
                            conn.execute(
                                db.schema_version.insert().values(
                                    version=number, applied_at=db.now()
                                )
                            )
                            applied.append(f"{number}: {title}")
                return applied
            except SQLAlchemyError:
                if attempt == 2:
                    raise
                applied.clear()
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        raise StoreError(
            f"cannot open or upgrade the database (check DATABASE_URL and that its server is "
            f"running): {type(exc).__name__}: {cause}"
        ) from None
    return applied
