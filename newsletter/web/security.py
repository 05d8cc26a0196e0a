"""Security headers on every response and the one neutral "not found" answer.

Unknown routes, unknown or tampered tokens and vanished subscribers all get the same 404 page,
so a probe learns nothing about which tokens or addresses exist.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, render_template
from sqlalchemy.exc import SQLAlchemyError

from newsletter.errors import StoreError

log = logging.getLogger(__name__)

# No scripts anywhere; inline styles only (pages and archived issues carry their CSS inline).
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    # Tokens live in URLs: never leak them to the sites an archived issue links to.
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class NotFound(Exception):
    """Raised by a view for anything that must look like a missing page."""


def not_found() -> tuple[str, int]:
    return render_template("not_found.html.j2"), 404


def add_headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if response.mimetype == "text/html":
        # Pages carry tokens and personal data: no shared caches.
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def _unavailable(exc: Exception) -> tuple[str, int, dict[str, str]]:
    """Database trouble: 503 + Retry-After, so mail providers and people try again later."""
    log.error("request failed: %s: %s", exc.__class__.__name__, exc)
    page = render_template(
        "error.html.j2",
        status=503,
        message="We cannot handle this right now; please try again shortly.",
    )
    return page, 503, {"Retry-After": "60"}


def install(app: Flask) -> None:
    app.after_request(add_headers)
    app.register_error_handler(NotFound, lambda _exc: not_found())
    app.register_error_handler(404, lambda _exc: not_found())
    app.register_error_handler(
        405, lambda _exc: (render_template("error.html.j2", status=405), 405)
    )
    app.register_error_handler(StoreError, _unavailable)
    app.register_error_handler(SQLAlchemyError, _unavailable)
    app.register_error_handler(
        413, lambda _exc: (render_template("error.html.j2", status=413), 413)
    )
