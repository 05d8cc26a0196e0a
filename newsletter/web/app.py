"""The app factory: settings, database, signer, page templates, security headers, blueprints.

Pages come from ``templates/pages/*.html.j2``; a project overrides one by putting a file of the
same name in its own ``<templates_dir>/pages/``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask
from jinja2 import ChoiceLoader, FileSystemLoader
from sqlalchemy import Engine

from newsletter import times, tokens
from newsletter.config import Settings, load_settings
from newsletter.db import connection, migrate
from newsletter.db.connection import ping
from newsletter.errors import DatabaseUnavailable
from newsletter.web import (
    archive,
    front,
    language,
    preferences,
    proof,
    security,
    step_copy,
    subscribe,
    tracking,
    unsubscribe,
    webhook,
)
from newsletter.web.context import WebContext, context

log = logging.getLogger(__name__)
BUILTIN_PAGES = Path(__file__).resolve().parent.parent / "default_templates" / "pages"
MAX_BODY_BYTES = 5 * 1024 * 1024  # room for large webhook batches; forms are far smaller


def create_app(
    settings: Settings | None = None,
    engine: Engine | None = None,
    *,
    signer: tokens.Signer | None = None,
) -> Flask:
    """Build the app. Without arguments, settings and database come from the environment.
    `signer`: one made by the caller (the static archive, which signs nothing, passes a
    throwaway one so that it needs no key)."""
    if settings is None:
        settings = load_settings()
    for warning in settings.warnings:  # e.g. a typo in a NEWSLETTER_* variable, in the server log
        log.warning("%s", warning)
    schema = _Schema(engine)
    if engine is None:
        engine = schema.open(settings.effective_database_url)
    # Same rule as `send`: the outbox (development) may use the generated key, so links in
    # outbox mail verify here; smtp and sendgrid need NEWSLETTER_SECRET_KEY.
    signer = signer or tokens.signer_for(settings, allow_generated=settings.backend == "outbox")

    app = Flask("newsletter.web", static_folder=None, template_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.jinja_env.autoescape = True  # our templates end in .j2, which Flask would not escape
    app.jinja_loader = ChoiceLoader(
        [
            FileSystemLoader(str(Path(settings.templates_dir).resolve() / "pages")),
            FileSystemLoader(str(BUILTIN_PAGES)),
        ]
    )
    app.jinja_env.globals.update(site_name=settings.sender_name)
    language.install(app)  # each page's language: `web.language`
    app.jinja_env.filters.update(times.FILTERS)
    web = app.extensions["newsletter"] = WebContext(settings, engine, signer)
    schema.reached = lambda: subscribe.remember_lists(web)

    if settings.web_trusted_proxies > 0:  # behind a TLS proxy: the client is in X-Forwarded-*
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = settings.web_trusted_proxies
        # Flask documents wrapping its WSGI callable by assignment (mypy: a method).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    security.install(app)
    app.before_request(schema.when_back)
    if schema.done:
        schema.reached()
    pages = (front, proof, unsubscribe, preferences, subscribe, webhook, archive, tracking)
    for module in (*pages, step_copy):
        app.register_blueprint(module.bp)
    app.add_url_rule("/healthz", "healthz", _healthz)
    return app


def _healthz() -> Any:
    if not ping(context().engine):  # `status` for what reads it today, `database` for balancers
        return {"status": "database unavailable", "database": "unavailable"}, 503
    return {"status": "ok"}


class _Schema:
    """The schema brought up to date when the app opens its database. A worker that starts while
    the database is away (gunicorn replaces a worker at any time) must not fail: gunicorn stops
    altogether when a worker cannot boot. So the app starts anyway, its pages answer 503, and
    each request tries the upgrade again, at most once a second, until it is done."""

    RETRY_S = 1.0

    def __init__(self, given: Engine | None):
        self.engine, self.done, self.tried = given, given is not None, 0.0
        self.lock = threading.Lock()
        self.reached: Callable[[], None] = lambda: None  # then, once: what the app reads first

    def open(self, url: str) -> Engine:
        self.engine = connection.create(url)
        self.when_back()
        return self.engine

    def when_back(self) -> None:
        """Upgrade the schema if that is still to do (and due); never raises for the database."""
        if self.done or time.monotonic() - self.tried < self.RETRY_S:
            return
        if not self.lock.acquire(blocking=False):  # another thread is trying right now
            return
        try:
            self.tried = time.monotonic()
            assert self.engine is not None
            migrate.upgrade(self.engine)
            self.done = True
            self.reached()
        except DatabaseUnavailable as exc:
            log.warning("database unavailable (%s): answering 503 until it is back",
                        security.describe_failure(exc))  # fmt: skip
        finally:
            self.lock.release()
