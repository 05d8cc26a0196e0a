"""Fixtures for the subscriber store: a migrated database with two lists."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select

from newsletter.db import tables


@pytest.fixture
def store(engine: Engine) -> Engine:
    """`engine` with lists 'weekly' and 'daily'."""
    from newsletter.audience.lists import create_list

    create_list(engine, "weekly", "Weekly")
    create_list(engine, "daily", "Daily")
    return engine


def count(engine: Engine, table: str, **where: object) -> int:
    t = tables.metadata.tables[table]
    q = select(func.count()).select_from(t)
    for column, value in where.items():
        q = q.where(t.c[column] == value)
    with engine.connect() as conn:
        return conn.execute(q).scalar_one()


def snapshot(engine: Engine) -> dict[str, list[tuple]]:
    """Every store row (timestamps included), to prove that something changed nothing."""
    out = {}
    with engine.connect() as conn:
        for name in ("subscribers", "memberships", "suppressions", "subscriber_events"):
            t = tables.metadata.tables[name]
            rows = conn.execute(select(t).order_by(*t.primary_key.columns)).all()
            out[name] = [tuple(r) for r in rows]
    return out
