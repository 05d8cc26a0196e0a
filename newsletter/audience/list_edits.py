"""Changing a list after it was created: `lists update`, `lists rename`, `lists delete`.

Links already mailed carry list ids, never slugs, and sends are matched to their lists by id
(`sending.sends.find_send`), so a rename changes nothing that was sent. A delete is refused
while members remain (unless asked to remove them too), and within `LINKS_LIVE` of the
list's last send, since the unsubscribe links of that mail must keep working, unless the list
is kept as a tombstone: hidden everywhere, its slug freed, its id still answering those links.
Suppressions are never touched: an address that left stays left.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, delete, func, select, update

from newsletter.audience.lists import (
    address_field,
    check_slug,
    get_list,
    language_field,
    one_line_field,
    refuse_taken,
)
from newsletter.db import tables
from newsletter.db.clock import as_utc, utcnow
from newsletter.db.transaction import begin
from newsletter.errors import StoreError

LINKS_LIVE = timedelta(days=60)  # how long the links of a send must keep unsubscribing
MEMBERS = ("subscribed", "unconfirmed")  # who counts as a member still on the list


def update_list(engine: Engine, slug: str, **changes: str | bool | None) -> dict:
    """Set the given fields (name, from_name, from_address, reply_to, private, language);
    None: keep."""
    checks = {
        "name": lambda v: one_line_field("name", v) or slug,
        "from_name": lambda v: one_line_field("from name", v),
        "from_address": lambda v: address_field("from address", v),
        "reply_to": lambda v: address_field("reply-to address", v),
        "private": bool,
        "language": language_field,
    }
    values = {k: checks[k](v) for k, v in changes.items() if v is not None}
    if not values:
        raise StoreError(
            f"lists update {slug}: nothing to change (give --name, --from-name, "
            "--from-address, --reply-to, --language, --private or --public)"
        )
    with begin(engine) as conn:
        the_list = get_list(conn, slug)
        conn.execute(update(tables.lists).where(tables.lists.c.id == the_list["id"]).values(values))
    return get_list(engine, slug)


def rename_list(engine: Engine, old: str, new: str) -> dict:
    """Give a list a new slug; its id, members, sends and mailed links stay as they were."""
    check_slug(new)
    with begin(engine) as conn:
        the_list = get_list(conn, old)
        if new != old:
            refuse_taken(conn, new)
            lists = tables.lists
            conn.execute(update(lists).where(lists.c.id == the_list["id"]).values(slug=new))
    return get_list(engine, new)


@dataclass(frozen=True)
class Deleted:
    slug: str
    members_removed: int
    tombstone: bool


def delete_list(
    engine: Engine,
    slug: str,
    *,
    with_members: bool = False,
    tombstone: bool = False,
    now: datetime | None = None,
) -> Deleted:
    """Delete a list (see the module's rules); suppressions are kept."""
    now = now or utcnow()
    lists, m = tables.lists, tables.memberships
    with begin(engine) as conn:
        the_list = get_list(conn, slug)
        list_id = the_list["id"]
        members = conn.execute(
            select(func.count()).where(m.c.list_id == list_id, m.c.status.in_(MEMBERS))
        ).scalar_one()
        if members and not with_members:
            raise StoreError(
                f"list '{slug}' still has {members} member(s) (subscribed or unconfirmed); "
                "pass --with-members to remove them with the list"
            )
        last = last_send(conn, list_id)
        if last is not None and now - last < LINKS_LIVE and not tombstone:
            until = (last + LINKS_LIVE).date().isoformat()
            raise StoreError(
                f"list '{slug}' was last sent to on {last.date().isoformat()}: the unsubscribe "
                f"links of that mail must keep working until {until}; delete it then, or now "
                "with --tombstone (the list is hidden and its links keep working)"
            )
        removed = conn.execute(delete(m).where(m.c.list_id == list_id)).rowcount
        if tombstone:
            conn.execute(
                update(lists)
                .where(lists.c.id == list_id)
                .values(slug=f"~deleted-{list_id}", deleted_at=now, private=True)
            )
        else:
            conn.execute(delete(lists).where(lists.c.id == list_id))
    return Deleted(slug, int(removed or 0), tombstone)


def last_send(conn: Connection, list_id: int) -> datetime | None:
    """When the list was last sent to (a send's start), or None. Sends are few: one row per
    send of an issue, read whole rather than searched inside JSON the two databases differ on."""
    s = tables.sends
    found = [
        as_utc(r.started_at or r.created_at)
        for r in conn.execute(select(s.c.list_ids, s.c.started_at, s.c.created_at))
        if list_id in (r.list_ids or ())
    ]
    return max((f for f in found if f is not None), default=None)
