"""The app factory: settings, database, signer, page templates, security headers, blueprints.

Pages come from ``templates/pages/*.html.j2``; a project overrides one by putting a file of the
same name in its own ``<templates_dir>/pages/``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask
from jinja2 import ChoiceLoader, FileSystemLoader
from sqlalchemy import Engine

from newsletter import times, tokens
from newsletter.config import Settings, load_settings
from newsletter.db.connection import ping
from newsletter.db.engine import make_engine
from newsletter.web import (
    archive,
    preferences,
    proof,
    security,
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
    if engine is None:
        engine = make_engine(settings.effective_database_url)
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
    app.jinja_env.globals.update(lang=settings.language or "en", site_name=settings.sender_name)
    app.jinja_env.filters.update(times.FILTERS)
    app.extensions["newsletter"] = WebContext(settings, engine, signer)

    if settings.web_trusted_proxies > 0:  # behind a TLS proxy: the client is in X-Forwarded-*
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = settings.web_trusted_proxies
        # Flask documents wrapping its WSGI callable by assignment (mypy: a method).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    security.install(app)
    for module in (proof, unsubscribe, preferences, subscribe, webhook, archive, tracking):
        app.register_blueprint(module.bp)
    app.add_url_rule("/healthz", "healthz", _healthz)
    return app


def _healthz() -> Any:
    if not ping(context().engine):
        return {"status": "database unavailable"}, 503
    return {"status": "ok"}
