"""The click redirect and the open pixel: `GET /c/<link>/<token>` and `GET /o/<token>.gif`.

Both answer at once and the same way whatever the token: a 302 to the stored target (never a
target from the URL: an unknown link id is the neutral 404) and a 1x1 transparent GIF, neither
cacheable. The hit is recorded before the answer, so every answered hit is stored; database
trouble is logged and the reader still gets where they wanted.
"""

from __future__ import annotations

import logging

from flask import Blueprint, request
from flask.typing import ResponseReturnValue

from newsletter.errors import StoreError
from newsletter.tracking.arrival import count_click, count_open
from newsletter.tracking.links import link
from newsletter.web.context import context
from newsletter.web.security import NotFound

bp = Blueprint("tracking", __name__)
log = logging.getLogger(__name__)

# The smallest transparent GIF: 1x1, one transparent colour.
PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
_PIXEL_HEADERS = {"Content-Type": "image/gif", "Cache-Control": "no-store"}


def _header(name: str) -> str | None:
    """A request header straight from the WSGI environ: the judge asks for several that are
    usually absent, and werkzeug's Headers raises (and catches) an exception for each."""
    return request.environ.get("HTTP_" + name.upper().replace("-", "_"))


@bp.get("/c/<int:link_id>/<token>")
def click(link_id: int, token: str) -> ResponseReturnValue:
    ctx = context()
    target = link(ctx.engine, link_id)
    if target is None:
        raise NotFound()
    try:
        count_click(ctx.engine, ctx.settings, ctx.signer, target, token, request.method, _header)
    except StoreError as exc:
        log.error("click on link %s not recorded: %s", link_id, exc)
    # werkzeug writes the Location header as a URI (an IRI target is percent-encoded there).
    return "", 302, {"Location": target.url, "Cache-Control": "no-store"}


@bp.get("/o/<token>.gif")
def pixel(token: str) -> ResponseReturnValue:
    ctx = context()
    try:
        count_open(ctx.engine, ctx.settings, ctx.signer, token, request.method, _header)
    except StoreError as exc:
        log.error("open not recorded: %s", exc)
    return PIXEL, 200, _PIXEL_HEADERS
