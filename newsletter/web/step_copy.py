"""GET /steps/<tag>: one reader's web copy of a sequence step they got (`sequences.web_copy`);
anything else is the neutral 404."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from newsletter.sequences.web_copy import reader_copy
from newsletter.web.context import context
from newsletter.web.security import NotFound

bp = Blueprint("step_copy", __name__)


@bp.get("/steps/<tag>")
def step_copy(tag: str) -> Any:
    ctx = context()
    page = reader_copy(ctx.engine, ctx.signer, tag[:64])
    if page is None:
        raise NotFound()
    return Response(page, mimetype="text/html")
