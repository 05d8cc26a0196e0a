"""Security headers on every response and the one neutral "not found" answer.

Unknown routes, unknown or tampered tokens and vanished subscribers all get the same 404 page,
so a probe learns nothing about which tokens or addresses exist. Every other error (405, 413,
500...) is the same small page with the same headers. Logs name what failed by its kind and the
database's error code only: messages of database drivers and of our own errors may quote an
address or a name, and logs never carry those.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, render_template, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from newsletter.errors import StoreError
from newsletter.web import language

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
    language.neutral()  # the reader's Accept-Language, never the token's: it reveals nothing
    return render_template("not_found.html.j2"), 404


def add_headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if response.mimetype == "text/html":
        # Pages carry tokens and personal data: no shared caches.
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def describe_failure(exc: BaseException) -> str:
    """What failed, for a log line, without any data: the kinds of the errors in the chain and,
    for the database, the driver's error code (``StoreError <- OperationalError (SQLITE_BUSY)``)."""
    parts: list[str] = []
    current: BaseException | None = exc
    while current is not None and len(parts) < 5:
        parts.append(type(current).__name__)
        if isinstance(current, SQLAlchemyError):  # its cause is the driver's error
            orig = getattr(current, "orig", None)
            if orig is not None:
                code = getattr(orig, "sqlstate", None) or getattr(orig, "sqlite_errorname", None)
                driver = type(orig).__module__.split(".")[0]
                parts.append(f"{driver}.{type(orig).__name__}" + (f" ({code})" if code else ""))
            break
        current = current.__cause__ or current.__context__
    return " <- ".join(parts)


def _unavailable(exc: Exception) -> tuple[str, int, dict[str, str]]:
    """Database trouble: 503 + Retry-After, so mail providers and people try again later."""
    log.error("%s %s failed: %s", request.method, request.endpoint, describe_failure(exc))
    page = render_template(
        "error.html.j2",
        status=503,
        message=language._("We cannot handle this right now; please try again shortly."),
    )
    return page, 503, {"Retry-After": "60"}


def _http_error(exc: HTTPException) -> tuple[str, int]:
    status = exc.code or 500
    if status == 404:
        return not_found()
    language.neutral()
    return render_template("error.html.j2", status=status), status


def install(app: Flask) -> None:
    app.after_request(add_headers)
    app.register_error_handler(NotFound, lambda _exc: not_found())
    app.register_error_handler(HTTPException, _http_error)  # 404, 405, 413, 500...
    app.register_error_handler(StoreError, _unavailable)
    app.register_error_handler(SQLAlchemyError, _unavailable)
