"""A send's tracked links and tracked HTML: stored once when the send starts (or is re-rendered),
read by every worker that sends it and by the redirect.

Link ids are global and random (62 bits, never a counter: see `_unused_id`), so the redirect
finds a target from the id alone, with or without a valid token; a link never changes once
stored, so each server process keeps the ones it has read.
"""

from __future__ import annotations

import secrets
import threading
import weakref
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, bindparam, delete, func, select

from newsletter import tokens
from newsletter.authoring import tracked_links
from newsletter.config import Settings
from newsletter.db import tables
from newsletter.db.connection import reading
from newsletter.db.transaction import begin
from newsletter.models import Issue
from newsletter.tracking.judge import LINK, TRAP_LINK

L = tables.tracked_links
TS = tables.tracked_sends
MAX_ID = 2**63 - 1  # larger ids cannot be in the table (and would overflow a BIGINT bind)
_CACHE_SIZE = 50_000


@dataclass(frozen=True)
class Link:
    id: int
    send_id: int
    kind: str  # link | trap
    url: str


_cache: dict[int, Link] = {}
_cache_lock = threading.Lock()
_BY_ID = select(L.c.id, L.c.send_id, L.c.kind, L.c.url).where(L.c.id == bindparam("b_id"))


def link(engine: Engine, link_id: int) -> Link | None:
    """The stored link with this id, or None (an unknown id is never cached: it may be a link
    of a send that starts after this process read it)."""
    found = _cache.get(link_id)
    if found is not None or not 0 < link_id <= MAX_ID:
        return found
    with reading(engine) as conn:
        row = conn.execute(_BY_ID, {"b_id": link_id}).first()
    if row is None:
        return None
    found = Link(row.id, row.send_id, row.kind, row.url)
    with _cache_lock:
        if len(_cache) >= _CACHE_SIZE:
            _cache.clear()
        _cache[link_id] = found
    return found


def links_of(conn: Connection, send_id: int) -> list[Link]:
    """The send's links, trap included, in the order they appear in the issue."""
    rows = conn.execute(
        select(L.c.id, L.c.send_id, L.c.kind, L.c.url)
        .where(L.c.send_id == send_id)
        .order_by(L.c.position, L.c.id)
    )
    return [Link(r.id, r.send_id, r.kind, r.url) for r in rows]


def _store(conn: Connection, send_id: int, kind: str, urls: list[str]) -> dict[str, int]:
    """Ids of `urls` for this send: the stored ones kept (links already mailed keep working),
    new ones appended after them."""
    have = {
        r.url: r.id
        for r in conn.execute(
            select(L.c.id, L.c.url).where(L.c.send_id == send_id, L.c.kind == kind)
        )
    }
    position = conn.execute(
        select(func.coalesce(func.max(L.c.position), 0)).where(L.c.send_id == send_id)
    ).scalar_one()
    for url in urls:
        if url not in have:
            position += 1
            link_id = _unused_id(conn)
            values = {"id": link_id, "send_id": send_id, "position": position, "kind": kind}
            conn.execute(L.insert().values(**values, url=url))
            have[url] = link_id
    return have


def _unused_id(conn: Connection) -> int:
    """A random link id (62 bits): one id known from a copied link tells nothing of the others
    (the trap link's above all), where consecutive ids let a stranger walk to it."""
    while True:
        candidate = secrets.randbelow(2**62) + 1
        if conn.execute(select(L.c.id).where(L.c.id == candidate)).first() is None:
            return candidate


def track_send(conn: Connection, settings: Settings, issue: Issue, send_id: int, html: str) -> str:
    """Store the send's links and the HTML it goes out with (inside the transaction that
    creates or re-renders the send); returns that HTML. Rewriting happens here, once per send:
    per recipient only the token placeholder is filled in."""
    clicks, opens = tracked_links.switches(issue, settings)
    ids: dict[str, int] = {}
    trap = None
    if clicks:
        urls = tracked_links.trackable_urls(html, settings.site_url)
        ids = _store(conn, send_id, LINK, urls)
        # A person who somehow follows the trap lands on the issue's web copy.
        view = tokens.view_url(settings, issue.id)
        trap = _store(conn, send_id, TRAP_LINK, [view])[view]
    sent = tracked_links.rewrite(html, settings.site_url, ids, trap_id=trap, pixel=opens)
    conn.execute(delete(TS).where(TS.c.send_id == send_id))
    conn.execute(TS.insert().values(send_id=send_id, clicks=clicks, opens=opens, html=sent))
    return sent


def html_to_send(conn: Connection, send_id: int) -> str | None:
    """The tracked HTML of a send, or None for a send made before tracking existed."""
    return conn.execute(select(TS.c.html).where(TS.c.send_id == send_id)).scalar()


# Per database (engine), send id -> whether it went out with the open pixel.
_opens: weakref.WeakKeyDictionary[Engine, dict[int, bool]] = weakref.WeakKeyDictionary()


def opens_tracked(engine: Engine, send_id: int) -> bool:
    """Whether the send went out with the open pixel (False for a send made before tracking).
    Kept per process once known: a send's switches are set when it starts."""
    known = _opens.setdefault(engine, {})
    found = known.get(send_id)
    if found is None:
        with reading(engine) as conn:
            switches = switches_of(conn, send_id)
        if switches is None:
            return False  # maybe a send that starts after this lookup: never kept
        found = known[send_id] = switches[1]
        if len(known) > _CACHE_SIZE:
            known.clear()
    return found


def switches_of(conn: Connection, send_id: int) -> tuple[bool, bool] | None:
    """(clicks, opens) tracking of a send, or None if it predates tracking."""
    row = conn.execute(select(TS.c.clicks, TS.c.opens).where(TS.c.send_id == send_id)).first()
    return (bool(row.clicks), bool(row.opens)) if row else None


def link_for_url(engine: Engine, send_id: int, url: str) -> Link | None:
    """The send's link to `url` (SendGrid reports clicks by URL), stored if new; None for a send
    that does not exist."""
    with begin(engine) as conn:
        if conn.execute(select(tables.sends.c.id).where(tables.sends.c.id == send_id)).first():
            link_id = _store(conn, send_id, LINK, [url])[url]
            return Link(link_id, send_id, LINK, url)
    return None
