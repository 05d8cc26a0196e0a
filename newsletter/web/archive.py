"""GET /archive, /archive/<issue-id> and /archive/feed.atom: the web versions of sent issues.

An issue is in the archive once a send of it has started (sends in `running` or `done`). Its page
is the rendered "view in browser" HTML of the issue file (no personal data in it); if the file is
gone, the stored email HTML of the send is shown with the personal placeholders blanked.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from flask import Blueprint, Response, render_template
from sqlalchemy import Engine, func, select

from newsletter import db, models, tokens
from newsletter.config import Settings
from newsletter.errors import NewsletterError
from newsletter.web import context
from newsletter.web.security import NotFound

bp = Blueprint("archive", __name__)
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
    s = db.sends
    first = (
        select(s.c.issue_id, func.min(s.c.id).label("id"))
        .where(s.c.status.in_(["running", "done"]))
        .group_by(s.c.issue_id)
        .subquery()
    )
    q = select(s.c.issue_id, s.c.subject, s.c.started_at, s.c.created_at).join(
        first, first.c.id == s.c.id
    )
    with db.reading(engine) as conn:
        rows = conn.execute(q).all()
    out = [
        Entry(
            r.issue_id,
            r.subject,
            db.as_utc(r.started_at or r.created_at),  # type: ignore[arg-type]
            tokens.view_url(settings, r.issue_id),
        )
        for r in rows
    ]
    return sorted(out, key=lambda e: (e.sent_at, e.issue_id), reverse=True)


def issue_html(engine: Engine, settings: Settings, issue_id: str) -> str | None:
    """The web page of a sent issue, or None if it was never sent."""
    if not SAFE_ID.match(issue_id) or ".." in issue_id:
        return None
    s = db.sends
    with db.reading(engine) as conn:
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
        from newsletter.issues import read_issue
        from newsletter.render import render_issue

        page = render_issue(read_issue(path), settings).web_html
    except NewsletterError:
        return _blank_placeholders(row.html, settings)
    with _cache_lock:
        _cache[key] = page
    return page


def _blank_placeholders(html: str, settings: Settings) -> str:
    site = settings.site_url.rstrip("/")
    values = {
        models.NAME: "",
        models.EMAIL: "",
        models.UNSUBSCRIBE_URL: f"{site}/archive",
        models.PREFERENCES_URL: f"{site}/archive",
        models.VIEW_URL: f"{site}/archive",
    }
    for key, value in values.items():
        html = html.replace(key, value)
    return html


@bp.get("/archive")
@bp.get("/archive/")
def index():  # type: ignore[no-untyped-def]
    ctx = context()
    return render_template(
        "archive_index.html.j2",
        entries=entries(ctx.engine, ctx.settings),
        feed_url=f"{ctx.settings.site_url.rstrip('/')}/archive/feed.atom",
    )


@bp.get("/archive/feed.atom")
def feed():  # type: ignore[no-untyped-def]
    ctx = context()
    items = entries(ctx.engine, ctx.settings)
    site = ctx.settings.site_url.rstrip("/")
    xml = render_template(
        "feed.atom.j2",
        entries=items[:50],
        site=site,
        updated=items[0].sent_at if items else datetime(2000, 1, 1),
    )
    return Response(xml, mimetype="application/atom+xml")


@bp.get("/archive/<issue_id>")
def issue(issue_id: str):  # type: ignore[no-untyped-def]
    ctx = context()
    page = issue_html(ctx.engine, ctx.settings, issue_id)
    if page is None:
        raise NotFound()
    return Response(page, mimetype="text/html")
