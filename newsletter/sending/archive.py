"""The archive of sent issues, and what is published in it.

An issue is published once a *public* send of it has started (`running` or `done`): a send
is public when the issue did not say `archive: false` and at least one of its lists is not
private (lists as they are now; a send whose lists are all gone keeps what was known when it
started). `test-send` writes no send, so it never publishes. One entry per issue: its first
public send, whose web page was stored with it (`sends.web_html`), exactly as sent. Sends
older than that column have their page rendered from the issue file, or, if the file is gone,
the stored email HTML with the placeholders blanked."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime
from html import escape
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, select

from newsletter import tokens
from newsletter.authoring import placeholders, readers
from newsletter.authoring.issue_file import read_issue
from newsletter.authoring.render import render_issue
from newsletter.config import Settings
from newsletter.db import tables
from newsletter.db.clock import as_utc
from newsletter.db.connection import reading
from newsletter.errors import NewsletterError
from newsletter.models import Issue

SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}\Z")
_cache: dict[tuple[str, float], str] = {}
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class Entry:
    issue_id: str
    subject: str
    sent_at: datetime
    url: str
    issue_date: date | None = None  # the issue's `date:` (None: an older send, or none given)
    summary: str = ""

    @property
    def shown_date(self) -> date:
        """The date an entry shows: the issue's own, else the day it was sent."""
        return self.issue_date or self.sent_at.date()


def archive_options(issue: Issue, lists: list[dict[str, Any]]) -> dict[str, Any]:
    """What a send records for the archive when it starts (kept in `sends.options`)."""
    return {
        "archive": issue.archive,
        "public": any(not lst.get("private") for lst in lists),
        "date": issue.date.isoformat() if issue.date else None,
        "summary": issue.preheader,
    }


def _first_public_sends(conn: Connection, issue_id: str | None = None) -> dict[str, Any]:
    """{issue_id: the first public send of it} (rows without their HTML)."""
    s, lists = tables.sends, tables.lists
    public = {i: not private for i, private in conn.execute(select(lists.c.id, lists.c.private))}
    q = (
        select(s.c.id, s.c.issue_id, s.c.subject, s.c.list_ids, s.c.options)
        .add_columns(s.c.started_at, s.c.created_at)
        .where(s.c.status.in_(["running", "done"]))
        .order_by(s.c.id)
    )
    if issue_id is not None:
        q = q.where(s.c.issue_id == issue_id)
    first: dict[str, Any] = {}
    for row in conn.execute(q):
        if row.issue_id not in first and _is_public(row, public):
            first[row.issue_id] = row
    return first


def _is_public(row: Any, public: dict[int, bool]) -> bool:
    options = row.options or {}
    if options.get("archive") is False:
        return False
    known = [public[i] for i in row.list_ids or () if i in public]
    return any(known) if known else bool(options.get("public", True))


def entries(engine: Engine, settings: Settings) -> list[Entry]:
    """Published issues, newest first by the issue's date (else the day it was sent)."""
    with reading(engine) as conn:
        rows = _first_public_sends(conn).values()
    out = [_entry(r, settings) for r in rows]
    return sorted(out, key=lambda e: (e.shown_date, e.sent_at, e.issue_id), reverse=True)


def _entry(r: Any, settings: Settings) -> Entry:
    options = r.options or {}
    issue_date = options.get("date")
    return Entry(
        r.issue_id,
        readers.with_fallbacks(r.subject, str),
        as_utc(r.started_at or r.created_at) or datetime.now(UTC),
        tokens.view_url(settings, r.issue_id),
        date.fromisoformat(issue_date) if issue_date else None,
        options.get("summary") or readers.with_fallbacks(r.subject, str),
    )


def issue_html(engine: Engine, settings: Settings, issue_id: str) -> str | None:
    """The web page of a published issue, or None if it was never published."""
    if not SAFE_ID.match(issue_id) or ".." in issue_id:
        return None
    s = tables.sends
    with reading(engine) as conn:
        first = _first_public_sends(conn, issue_id).get(issue_id)
        if first is None:
            return None
        row = conn.execute(select(s.c.html, s.c.web_html).where(s.c.id == first.id)).one()
    if row.web_html is not None:
        return str(row.web_html)
    return _rendered_now(row.html, settings, issue_id)


def _rendered_now(html: str, settings: Settings, issue_id: str) -> str:
    """An older send's page (no web HTML stored): the issue file rendered now, cached by its
    modification time; if the file is gone, the email HTML blanked."""
    path = Path(settings.issues_dir) / f"{issue_id}.md"
    try:
        key = (str(path.resolve()), path.stat().st_mtime)
    except OSError:
        return _blank_placeholders(html, settings)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    try:
        page = render_issue(read_issue(path), settings).web_html
    except NewsletterError:
        return _blank_placeholders(html, settings)
    with _cache_lock:
        _cache[key] = page
    return page


def _blank_placeholders(html: str, settings: Settings) -> str:
    """The stored email HTML with nobody's values in it: links point at the archive."""
    archive = tokens.site_link(settings.site_url, "/archive")
    html = readers.with_fallbacks(html, escape)
    values = {
        placeholders.NAME: "",
        placeholders.EMAIL: "",
        placeholders.UNSUBSCRIBE_URL: archive,
        placeholders.PREFERENCES_URL: archive,
        placeholders.VIEW_URL: archive,
    }
    return placeholders.fill(html, values)
