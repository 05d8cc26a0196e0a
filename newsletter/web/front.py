"""GET /: the site's small front page: every public list with its subscribe form (posting to
`/subscribe/<list>`, the same handler as the list's own page), and a link to the archive.
Private lists (`lists create --private`) are never shown nor subscribable."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from newsletter.audience.lists import all_lists
from newsletter.tokens import site_link
from newsletter.web.context import context

bp = Blueprint("front", __name__)


@bp.get("/")
def index() -> Any:
    ctx = context()
    public = [lst for lst in all_lists(ctx.engine) if not lst["private"]]
    return render_template(
        "front.html.j2",
        lists=public,
        archive_url=site_link(ctx.settings.site_url, "/archive"),
        feed_url=site_link(ctx.settings.site_url, "/archive/feed.atom"),
    )
