"""`newsletter serve`: Werkzeug's development server, with the pages' security headers on the
answers the server writes itself.

Some requests never reach the app: a request line over 64 KB (414), a malformed request (400),
too many headers (431), or a crash inside the app (Werkzeug's own 500). The stock handler
answers those with a bare HTML page; this one adds the same headers every page carries, so no
answer from this server can be framed, sniffed or leak a referrer.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.serving import WSGIRequestHandler, run_simple

from newsletter.web.security import HEADERS


class SecureRequestHandler(WSGIRequestHandler):
    """Adds every security header the response has not set, to every final response."""

    # A request too broken to name its HTTP version is answered as HTTP/1.0, with a status line
    # and headers; the stock fallback, HTTP/0.9, has no headers at all.
    default_request_version = "HTTP/1.0"
    _sent: set[str]
    _final = False

    def send_response(self, code: int, message: str | None = None) -> None:
        self._sent = set()
        self._final = code >= 200  # not a "100 Continue"
        super().send_response(code, message)

    def send_header(self, keyword: str, value: str) -> None:
        if self._final:
            self._sent.add(keyword.lower())
        super().send_header(keyword, value)

    def end_headers(self) -> None:
        if self._final:
            for name, value in HEADERS.items():
                if name.lower() not in self._sent:
                    super().send_header(name, value)
            self._final = False
        super().end_headers()


def serve(app: Flask, host: str, port: int) -> None:
    """Serve `app` until interrupted (threaded, no reloader)."""
    run_simple(
        host, port, app, threaded=True, use_reloader=False, request_handler=SecureRequestHandler
    )
