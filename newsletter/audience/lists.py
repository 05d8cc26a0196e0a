"""Mailing lists: create, look up, and count members by status. A deleted list kept as a
tombstone (`list_edits.delete_list`) is found by none of these: only an unsubscribe link that
carries its id still reaches it."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Engine, func, select

from newsletter.audience.addresses import InvalidAddress, parse
from newsletter.audience.member_status import SHOWN_STATUSES, returned_reasons, shown_status
from newsletter.db import tables
from newsletter.db.clock import utcnow
from newsletter.db.connection import reading
from newsletter.db.transaction import begin, connect_to
from newsletter.errors import StoreError
from newsletter.i18n import normalise
from newsletter.safe_text import holds_controls, one_line


def create_list(
    engine: Engine,
    slug: str,
    name: str,
    description: str = "",
    from_name: str = "",
    from_address: str = "",
    reply_to: str = "",
    *,
    private: bool = False,
    language: str = "",
) -> dict:
    check_slug(slug)
    language = language_field(language)
    name = one_line_field("name", name or slug)
    from_name = one_line_field("from name", from_name)
    from_address = address_field("from address", from_address)
    reply_to = address_field("reply-to address", reply_to)
    with begin(engine) as conn:
        refuse_taken(conn, slug)
        conn.execute(
            tables.lists.insert().values(
                slug=slug,
                name=name,
                description=description,
                from_name=from_name,
                from_address=from_address,
                reply_to=reply_to,
                private=private,
                language=language,
                created_at=utcnow(),
            )
        )
    return get_list(engine, slug)


NAME_MAX = 200  # lists.name and lists.from_name
LIVE = tables.lists.c.deleted_at.is_(None)  # not a tombstone


def check_slug(slug: str) -> None:
    """Refuse a slug that is not lower-case letters, digits, '-' or '_' (at most 100)."""
    if not slug or not slug.replace("-", "").replace("_", "").isalnum() or slug != slug.lower():
        raise StoreError(f"list slug '{slug}': use lower-case letters, digits, '-' or '_'")
    if len(slug) > 100:
        raise StoreError(f"list slug '{slug[:20]}...' is {len(slug)} characters; at most 100")


def refuse_taken(conn: Connection, slug: str) -> None:
    if conn.execute(select(tables.lists.c.id).where(tables.lists.c.slug == slug)).first():
        raise StoreError(f"list '{slug}' already exists (see `newsletter lists`)")


def one_line_field(what: str, value: str) -> str:
    """`value` stripped; refused when it holds a line break or control, or is too long."""
    value = value.strip()
    if holds_controls(value):
        raise StoreError(f"list {what} must be one line of text (no line breaks or controls)")
    if len(value) > NAME_MAX:
        raise StoreError(f"list {what} is {len(value)} characters; at most {NAME_MAX}")
    return value


def language_field(value: str) -> str:
    """A list's language as a code (`fr`, `pt-BR`), or '' for the `language` setting's."""
    if not value.strip():
        return ""
    code = normalise(value)
    if code is None:
        raise StoreError(
            f"list language '{one_line(value, 40)}' is not a language: give a code like fr, "
            "de or pt-BR ('' for the language setting's)"
        )
    return code


def address_field(what: str, value: str) -> str:
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
        row = conn.execute(select(lists).where(lists.c.slug == slug, LIVE)).mappings().first()
        if row is None:
            names = select(lists.c.slug).where(LIVE).order_by("slug")
            known = ", ".join(conn.execute(names).scalars())
            raise StoreError(
                f"unknown list '{slug}' (known: {known or 'none'}; "
                f"create it with `newsletter lists create {slug} --name ...`)"
            )
        return dict(row)


def get_list_by_id(engine: Engine | Connection, list_id: int) -> dict | None:
    lists = tables.lists
    with connect_to(engine) as conn:
        row = conn.execute(select(lists).where(lists.c.id == list_id, LIVE)).mappings().first()
        return dict(row) if row else None


def list_ids_for(conn: Connection, slugs: Sequence[str]) -> list[int] | None:
    """The ids of these lists, in order; None when one of them does not exist."""
    lists = tables.lists
    found = dict(conn.execute(select(lists.c.slug, lists.c.id).where(LIVE)).all())
    if any(s not in found for s in slugs):
        return None
    return [int(found[s]) for s in slugs]


def list_counts(engine: Engine) -> list[dict]:
    """Every list with its member count per status (`member_status.SHOWN_STATUSES`: bounced
    and complained members apart from those who unsubscribed)."""
    m, s, lists = tables.memberships, tables.subscribers, tables.lists
    with reading(engine) as conn:
        out = {
            r.id: {
                "slug": r.slug,
                "name": r.name,
                "id": r.id,
                "private": bool(r.private),
                "language": r.language,
                **dict.fromkeys(SHOWN_STATUSES, 0),
            }
            for r in conn.execute(select(lists).where(LIVE).order_by(lists.c.slug))
        }
        q = select(m.c.list_id, m.c.status, func.count()).group_by(m.c.list_id, m.c.status)
        for list_id, status, n in conn.execute(q):
            if list_id in out:  # a tombstone's members are gone; belt and braces
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
        q = select(lists).where(LIVE).order_by(lists.c.slug)
        return [dict(r) for r in conn.execute(q).mappings()]
