"""The archive of sent issues: an issue is published once a send of it has started (`running` or
`done`). Its page is the rendered "view in browser" HTML of the issue file (no personal data in
it); if the file is gone, the stored email HTML of the send with the placeholders blanked."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, func, select

from newsletter import tokens
from newsletter.authoring import placeholders
from newsletter.authoring.issue_file import read_issue
from newsletter.authoring.render import render_issue
from newsletter.config import Settings
from newsletter.db import tables
from newsletter.db.clock import as_utc
from newsletter.db.connection import reading
from newsletter.errors import NewsletterError

SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}\Z")
_cache: dict[tuple[str, float], str] = {}
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class Entry:
    issue_id: str
    subject: str
    sent_at: datetime
    url: str


def entries(engine: Engine, settings: Settings) -> list[Entry]:
    """Sent issues, newest first (one entry per issue: its first send)."""
    s = tables.sends
    first = (
        select(s.c.issue_id, func.min(s.c.id).label("id"))
        .where(s.c.status.in_(["running", "done"]))
        .group_by(s.c.issue_id)
        .subquery()
    )
    q = select(s.c.issue_id, s.c.subject, s.c.started_at, s.c.created_at).join(
        first, first.c.id == s.c.id
    )
    with reading(engine) as conn:
        rows = conn.execute(q).all()
    out = [
        Entry(
            r.issue_id,
            r.subject,
            as_utc(r.started_at or r.created_at) or datetime.now(UTC),
            tokens.view_url(settings, r.issue_id),
        )
        for r in rows
    ]
    return sorted(out, key=lambda e: (e.sent_at, e.issue_id), reverse=True)


def issue_html(engine: Engine, settings: Settings, issue_id: str) -> str | None:
    """The web page of a sent issue, or None if it was never sent."""
    if not SAFE_ID.match(issue_id) or ".." in issue_id:
        return None
    s = tables.sends
    with reading(engine) as conn:
        row = conn.execute(
            select(s.c.html)
            .where(s.c.issue_id == issue_id, s.c.status.in_(["running", "done"]))
            .order_by(s.c.id.desc())
            .limit(1)
        ).first()
    if row is None:
        return None
    path = Path(settings.issues_dir) / f"{issue_id}.md"
    try:
        key = (str(path.resolve()), path.stat().st_mtime)
    except OSError:
        return _blank_placeholders(row.html, settings)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    try:
        page = render_issue(read_issue(path), settings).web_html
    except NewsletterError:
        return _blank_placeholders(row.html, settings)
    with _cache_lock:
        _cache[key] = page
    return page


def _blank_placeholders(html: str, settings: Settings) -> str:
    """The stored email HTML with nobody's values in it: links point at the archive."""
    archive = tokens.site_link(settings.site_url, "/archive")
    values = {
        placeholders.NAME: "",
        placeholders.EMAIL: "",
        placeholders.UNSUBSCRIBE_URL: archive,
        placeholders.PREFERENCES_URL: archive,
        placeholders.VIEW_URL: archive,
    }
    return placeholders.fill(html, values)
