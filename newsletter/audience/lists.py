"""Mailing lists: create, look up, and count members by status."""

from __future__ import annotations

from sqlalchemy import Connection, Engine, func, select

from newsletter.audience.addresses import InvalidAddress, parse
from newsletter.audience.member_status import SHOWN_STATUSES, returned_reasons, shown_status
from newsletter.db import tables
from newsletter.db.clock import utcnow
from newsletter.db.connection import reading
from newsletter.db.transaction import begin, connect_to
from newsletter.errors import StoreError
from newsletter.safe_text import holds_controls, one_line


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
    if len(slug) > 100:
        raise StoreError(f"list slug '{slug[:20]}...' is {len(slug)} characters; at most 100")
    name = _one_line("name", name or slug)
    from_name = _one_line("from name", from_name)
    from_address = _address("from address", from_address)
    reply_to = _address("reply-to address", reply_to)
    with begin(engine) as conn:
        if conn.execute(select(tables.lists.c.id).where(tables.lists.c.slug == slug)).first():
            raise StoreError(f"list '{slug}' already exists (see `newsletter lists`)")
        conn.execute(
            tables.lists.insert().values(
                slug=slug,
                name=name,
                description=description,
                from_name=from_name,
                from_address=from_address,
                reply_to=reply_to,
                created_at=utcnow(),
            )
        )
    return get_list(engine, slug)


NAME_MAX = 200  # lists.name and lists.from_name


def _one_line(what: str, value: str) -> str:
    """`value` stripped; refused when it holds a line break or control, or is too long."""
    value = value.strip()
    if holds_controls(value):
        raise StoreError(f"list {what} must be one line of text (no line breaks or controls)")
    if len(value) > NAME_MAX:
        raise StoreError(f"list {what} is {len(value)} characters; at most {NAME_MAX}")
    return value


def _address(what: str, value: str) -> str:
    """A plain address (blanks trimmed), or '' for none; refused when not an address."""
    if not value.strip():
        return ""
    try:
        return parse(value).email
    except InvalidAddress as exc:
        shown = one_line(value, 80)
        raise StoreError(
            f"list {what} '{shown}' is not an email address: {exc} (give a plain address "
            "like editor@example.com)"
        ) from None


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
    """Every list with its member count per status (`member_status.SHOWN_STATUSES`: bounced
    and complained members apart from those who unsubscribed)."""
    m, s, lists = tables.memberships, tables.subscribers, tables.lists
    with reading(engine) as conn:
        out = {
            r.id: {"slug": r.slug, "name": r.name, "id": r.id, **dict.fromkeys(SHOWN_STATUSES, 0)}
            for r in conn.execute(select(lists).order_by(lists.c.slug))
        }
        q = select(m.c.list_id, m.c.status, func.count()).group_by(m.c.list_id, m.c.status)
        for list_id, status, n in conn.execute(q):
            out[list_id][status] = n
        reasons = returned_reasons(conn, list(out))
        if reasons:  # unsubscribed members whose address came back: counted by why
            left = select(m.c.list_id, s.c.email_key).join(s, s.c.id == m.c.subscriber_id)
            for list_id, key in conn.execute(left.where(m.c.status == "unsubscribed")):
                shown = shown_status("unsubscribed", key, list_id, reasons)
                if shown != "unsubscribed":
                    out[list_id]["unsubscribed"] -= 1
                    out[list_id][shown] += 1
    return list(out.values())


def all_lists(engine: Engine) -> list[dict]:
    """Every list, as `get_list` gives one, by slug."""
    lists = tables.lists
    with reading(engine) as conn:
        return [dict(r) for r in conn.execute(select(lists).order_by(lists.c.slug)).mappings()]
