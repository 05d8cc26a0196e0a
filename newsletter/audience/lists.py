"""Mailing lists: create, look up, and count members by status."""

from __future__ import annotations

from sqlalchemy import Connection, Engine, func, select

from newsletter.audience.addresses import require_valid
from newsletter.audience.memberships import STATUSES
from newsletter.db import tables
from newsletter.db.clock import utcnow
from newsletter.db.connection import reading
from newsletter.db.transaction import begin, connect_to
from newsletter.errors import StoreError


def create_list(
    engine: Engine,
    slug: str,
    name: str,
    description: str = "",
    from_name: str = "",
    from_address: str = "",
    reply_to: str = "",
) -> dict:
    if not slug or not slug.replace("-", "").replace("_", "").isalnum() or slug != slug.lower():
        raise StoreError(f"list slug '{slug}': use lower-case letters, digits, '-' or '_'")
    if from_address:
        require_valid(from_address)
    with begin(engine) as conn:
        if conn.execute(select(tables.lists.c.id).where(tables.lists.c.slug == slug)).first():
            raise StoreError(f"list '{slug}' already exists (see `newsletter lists`)")
        conn.execute(
            tables.lists.insert().values(
                slug=slug,
                name=name or slug,
                description=description,
                from_name=from_name,
                from_address=from_address,
                reply_to=reply_to,
                created_at=utcnow(),
            )
        )
    return get_list(engine, slug)


def get_list(engine: Engine | Connection, slug: str) -> dict:
    lists = tables.lists
    with connect_to(engine) as conn:
        row = conn.execute(select(lists).where(lists.c.slug == slug)).mappings().first()
        if row is None:
            known = ", ".join(conn.execute(select(lists.c.slug).order_by("slug")).scalars())
            raise StoreError(
                f"unknown list '{slug}' (known: {known or 'none'}; "
                f"create it with `newsletter lists create {slug} --name ...`)"
            )
        return dict(row)


def get_list_by_id(engine: Engine | Connection, list_id: int) -> dict | None:
    lists = tables.lists
    with connect_to(engine) as conn:
        row = conn.execute(select(lists).where(lists.c.id == list_id)).mappings().first()
        return dict(row) if row else None


def list_counts(engine: Engine) -> list[dict]:
    """Every list with its member count per status."""
    m, lists = tables.memberships, tables.lists
    with reading(engine) as conn:
        out = {
            r.id: {"slug": r.slug, "name": r.name, "id": r.id, **dict.fromkeys(STATUSES, 0)}
            for r in conn.execute(select(lists).order_by(lists.c.slug))
        }
        q = select(m.c.list_id, m.c.status, func.count()).group_by(m.c.list_id, m.c.status)
        for list_id, status, n in conn.execute(q):
            out[list_id][status] = n
    return list(out.values())
