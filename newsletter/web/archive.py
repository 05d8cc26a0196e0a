"""GET /archive, /archive/<issue-id> and /archive/feed.atom: the web versions of sent issues
(what is published, and how, is `sending.archive`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Response, render_template

from newsletter.sending.archive import entries, issue_html
from newsletter.tokens import site_link
from newsletter.web import language
from newsletter.web.context import context
from newsletter.web.security import NotFound

bp = Blueprint("archive", __name__)


@bp.get("/archive")
@bp.get("/archive/")
def index() -> Any:
    ctx = context()
    return render_template(
        "archive_index.html.j2",
        entries=entries(ctx.engine, ctx.settings),
        feed_url=site_link(ctx.settings.site_url, "/archive/feed.atom"),
        home_url=site_link(ctx.settings.site_url, "/"),
    )


@bp.get("/archive/feed.atom")
def feed() -> Any:
    ctx = context()
    language.use("")  # the site's language, whoever asks: issues of every language in it
    items = entries(ctx.engine, ctx.settings)
    xml = render_template(
        "feed.atom.j2",
        entries=items[:50],
        archive=site_link(ctx.settings.site_url, "/archive"),
        updated=items[0].sent_at if items else datetime(2000, 1, 1),
    )
    return Response(xml, mimetype="application/atom+xml")


@bp.get("/archive/<issue_id>")
def issue(issue_id: str) -> Any:
    ctx = context()
    page = issue_html(ctx.engine, ctx.settings, issue_id)
    if page is None:
        raise NotFound()
    return Response(page, mimetype="text/html")
